import { taggedHash } from '../../ledger/crypto.js'

/** The sampling PRNG's key for a task: `H("cordex/sample", taskId)`. Executor and verifier derive the same. */
export function samplingSeed(taskId: Uint8Array): Uint8Array {
  return taggedHash('cordex/sample', taskId)
}
