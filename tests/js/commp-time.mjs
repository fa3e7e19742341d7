// Prints the piece CID of a file computed by @web3-storage/data-segment, for timing next to
// `wharf commp`. Usage: node commp-time.mjs FILE
import { readFile } from 'node:fs/promises'
import { Piece } from '@web3-storage/data-segment'

const piece = Piece.fromPayload(await readFile(process.argv[2]))
console.log(Piece.toInfo(piece).link.toString())
