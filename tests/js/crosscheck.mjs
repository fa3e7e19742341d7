// Computes, with the reference JavaScript implementations, what wharf computes in Rust, and
// prints one JSON object per input line. Input lines (stdin), one job each:
//   cid <profile: kubo|v1-2025> <file>    UnixFS root CID (ipfs-unixfs-importer)
//   commp <file>                           piece CIDs v1 and v2 (@web3-storage/data-segment)
//   car <file.car>                         roots, blocks, and whether every block hash checks (@ipld/car)
//   dir <profile> <name=file>...           root CID of a directory of files
import { readFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { Piece } from '@web3-storage/data-segment'
import { CarBlockIterator } from '@ipld/car/iterator'
import { sha256 } from 'multiformats/hashes/sha2'
import { identity } from 'multiformats/hashes/identity'
import { equals } from 'multiformats/bytes'

const PROFILES = {
  kubo: { chunkSize: 262144, width: 174 },
  'v1-2025': { chunkSize: 1048576, width: 1024 },
}

function options (profile) {
  const p = PROFILES[profile]
  if (!p) throw new Error(`unknown profile ${profile}`)
  return {
    cidVersion: 1,
    rawLeaves: true,
    reduceSingleLeafToSelf: true,
    chunker: fixedSize({ chunkSize: p.chunkSize }),
    layout: balanced({ maxChildrenPerNode: p.width })
  }
}

async function cid (profile, file) {
  const content = await readFile(file)
  let root
  for await (const entry of importer([{ content }], new MemoryBlockstore(), options(profile))) {
    root = entry.cid
  }
  return { cid: root.toString() }
}

async function dir (profile, entries) {
  const files = await Promise.all(entries.map(async (e) => {
    const i = e.indexOf('=')
    return { path: e.slice(0, i), content: await readFile(e.slice(i + 1)) }
  }))
  let root
  for await (const entry of importer(files, new MemoryBlockstore(), { ...options(profile), wrapWithDirectory: true })) {
    root = entry.cid
  }
  return { cid: root.toString() }
}

async function commp (file) {
  const piece = Piece.fromPayload(await readFile(file))
  return { v1: Piece.toInfo(piece).link.toString(), v2: Piece.toLink(piece).toString(), padded: Number(piece.size) }
}

async function car (file) {
  const bytes = await readFile(file)
  const iterator = await CarBlockIterator.fromBytes(bytes)
  const roots = (await iterator.getRoots()).map(String)
  let blocks = 0
  let verified = true
  for await (const { cid, bytes: data } of iterator) {
    blocks++
    const hasher = cid.multihash.code === sha256.code ? sha256 : identity
    const digest = await hasher.digest(data)
    if (!equals(digest.digest, cid.multihash.digest)) verified = false
  }
  return { roots, blocks, verified }
}

const lines = createInterface({ input: process.stdin })
for await (const line of lines) {
  const [job, ...args] = line.trim().split(/\s+/)
  if (!job) continue
  try {
    let result
    if (job === 'cid') result = await cid(args[0], args[1])
    else if (job === 'commp') result = await commp(args[0])
    else if (job === 'car') result = await car(args[0])
    else if (job === 'dir') result = await dir(args[0], args.slice(1))
    else throw new Error(`unknown job ${job}`)
    console.log(JSON.stringify({ job: line.trim(), ...result }))
  } catch (e) {
    console.log(JSON.stringify({ job: line.trim(), error: String(e && e.message || e) }))
  }
}
