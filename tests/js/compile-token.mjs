// Compiles tests/contracts/TestToken.sol with solc from npm and writes
// tests/contracts/TestToken.json ({abi, bytecode}). Run: node tests/js/compile-token.mjs
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import solc from 'solc'

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'contracts')
const input = {
  language: 'Solidity',
  sources: { 'TestToken.sol': { content: readFileSync(join(dir, 'TestToken.sol'), 'utf8') } },
  settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: 'london', outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } }
}
const output = JSON.parse(solc.compile(JSON.stringify(input)))
const errors = (output.errors || []).filter((e) => e.severity === 'error')
if (errors.length) {
  console.error(errors.map((e) => e.formattedMessage).join('\n'))
  process.exit(1)
}
const contract = output.contracts['TestToken.sol'].TestToken
writeFileSync(join(dir, 'TestToken.json'), JSON.stringify({ compiler: `solc ${solc.version()}`, abi: contract.abi, bytecode: '0x' + contract.evm.bytecode.object }, null, 2) + '\n')
console.log(`wrote TestToken.json (${contract.evm.bytecode.object.length / 2} bytes)`)
