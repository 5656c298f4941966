import { encode, read } from '../codec.js'
import { signingBytes, taggedHash, u64, verifySignature, type Signer } from '../crypto.js'

/** SPEC 5.3: what an executor signs when it has answered a task. */
export interface Receipt {
  taskId: Uint8Array
  modelId: string
  /** Hash of the request as the executor received it (canonical CBOR). */
  inputHash: Uint8Array
  /** Hash of the output tokens. */
  outputHash: Uint8Array
  promptTokens: number
  completionTokens: number
  /**
   * An int8 model's task only (SPEC 6.2, issue 13): the root of the executor's commitment to every
   * integer product it computed, signed here before any verifier's challenge exists.
   */
  auditRoot?: Uint8Array
}

/** A task's id: fixed by its client's TaskOpen (sender and nonce), so no gateway can pick it. */
export function taskIdOf(client: string, nonce: number): Uint8Array {
  return taggedHash('cordex/task', new TextEncoder().encode(client), u64(nonce))
}

/** The hash of an output: its token ids, in order. */
export function outputHash(tokens: readonly number[]): Uint8Array {
  return taggedHash('cordex/output', encode(tokens))
}

/** Six fields, and a seventh, the audit root, when there is one (so older receipts encode as before). */
export function encodeReceipt(r: Receipt): unknown {
  const fields: unknown[] = [
    r.taskId,
    r.modelId,
    r.inputHash,
    r.outputHash,
    r.promptTokens,
    r.completionTokens,
  ]
  if (r.auditRoot !== undefined) fields.push(r.auditRoot)
  return fields
}

export function decodeReceipt(v: unknown): Receipt {
  const [t, m, i, o, p, c, a] = read.array(v, Array.isArray(v) && v.length === 7 ? 7 : 6, 'receipt')
  return {
    taskId: read.bytes(t, 'taskId', 32),
    modelId: read.string(m, 128, 'modelId'),
    inputHash: read.bytes(i, 'inputHash', 32),
    outputHash: read.bytes(o, 'outputHash', 32),
    promptTokens: read.uint(p, 'promptTokens'),
    completionTokens: read.uint(c, 'completionTokens'),
    ...(a === undefined ? {} : { auditRoot: read.bytes(a, 'auditRoot', 32) }),
  }
}

function receiptMessage(chainId: string, r: Receipt): Uint8Array {
  return signingBytes('receipt', encode([chainId, encodeReceipt(r)]))
}

/** What a settled task keeps of its receipt: verifiers compare the record they fetch against it. */
export function receiptDigest(r: Receipt, executor: string, sig: Uint8Array): Uint8Array {
  return taggedHash('cordex/receipt', encode([encodeReceipt(r), executor, sig]))
}

export function signReceipt(chainId: string, signer: Signer, r: Receipt): Uint8Array {
  return signer.sign(receiptMessage(chainId, r))
}

export function verifyReceipt(chainId: string, executor: string, r: Receipt, sig: Uint8Array): boolean {
  return verifySignature(executor, receiptMessage(chainId, r), sig)
}

/** SPEC 5.3: tokens × unit price × units per token, at most `maxCost`. */
export function taskFee(tokens: number, unitsPerToken: number, unitPrice: bigint, maxCost: bigint): bigint {
  const fee = BigInt(tokens) * BigInt(unitsPerToken) * unitPrice
  return fee < maxCost ? fee : maxCost
}

/** The most tokens (prompt and output together) that `maxCost` pays for. */
export function tokensAffordable(maxCost: bigint, unitsPerToken: number, unitPrice: bigint): number {
  const perToken = BigInt(unitsPerToken) * unitPrice
  if (perToken === 0n) return Number.MAX_SAFE_INTEGER
  const n = maxCost / perToken
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n)
}

/**
 * SPEC 7, `max_cost` as a gas limit: the output tokens a task may generate when every token
 * (prompt and output alike) costs `tokenPrice` base units, the most `n` with
 * `(promptTokens + n) × tokenPrice ≤ maxCost`, so that one more token would exceed `maxCost`.
 * Below 1 when the escrow does not pay for the prompt and one token.
 */
export function tokenBudget(maxCost: bigint, tokenPrice: bigint, promptTokens: number): number {
  return tokensAffordable(maxCost, 1, tokenPrice) - promptTokens
}
