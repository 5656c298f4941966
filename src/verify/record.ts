import { equalBytes, outputHash, receiptDigest, toHex, verifyReceipt, type Receipt } from '../ledger/index.js'

/** A task record as a verifier fetched it (the `task` protocol's `TaskRecordData` has this shape). */
export interface TaskRecordLike {
  /** The infer request frame exactly as the gateway sent it. */
  request: Uint8Array
  tokens: readonly number[]
  receipt: Receipt
  sig: Uint8Array
  executor: string
}

/**
 * What the settled task says the record must be: the digest a settled task keeps of its receipt
 * (`receiptDigest`), or the receipt, executor and signature themselves (the TaskReceipt's body).
 */
export type SettledReceipt = { digest: Uint8Array } | { receipt: Receipt; executor: string; sig: Uint8Array }

/**
 * How request frames are hashed and read. Injected, so that this module stays free of the wire
 * format (STYLE 2: src/verify imports the ledger only); the `task` protocol exports the infer
 * protocol's (`inferRequestReader`).
 */
export interface RequestReader {
  /** The receipt's input hash of a frame. */
  hash(frame: Uint8Array): Uint8Array
  /** The task and model a frame names; throws when it is not a request. */
  decode(frame: Uint8Array): { taskId: Uint8Array; model: string }
}

/** Which check a record failed, in the order they run. */
export type RecordFailure =
  /** The record's receipt, executor or signature is not the one the task was settled with. */
  | 'NOT_SETTLED_RECEIPT'
  /** The receipt's signature does not verify under the executor's key. */
  | 'BAD_SIGNATURE'
  /** The request frame does not hash to the receipt's input hash. */
  | 'INPUT_HASH'
  /** The tokens do not hash to the receipt's output hash. */
  | 'OUTPUT_HASH'
  /** The receipt's completion tokens are not the number of tokens. */
  | 'TOKEN_COUNT'
  /** The request frame is not a request. */
  | 'BAD_REQUEST'
  /** The request names another task than the receipt. */
  | 'TASK_ID'
  /** The request names another model than the receipt. */
  | 'MODEL'

export type RecordCheck = { ok: true } | { ok: false; failure: RecordFailure; detail: string }

/**
 * SPEC 6.1: before replaying a task, a verifier checks that the record it fetched is the settled
 * one and holds together: the receipt is the settled receipt and verifies under the executor's
 * key; the request frame and the tokens hash to the receipt's input and output hashes; the token
 * count is the receipt's; the request names the receipt's task and model. Pure; the first
 * failure is returned. A record that fails does not by itself show the executor cheated: the
 * peer that served it may have kept or sent the wrong one; the caller decides what it shows.
 */
export function checkTaskRecord(
  record: TaskRecordLike,
  settled: SettledReceipt,
  chainId: string,
  reader: RequestReader,
): RecordCheck {
  const { receipt, executor, sig } = record
  const expected =
    'digest' in settled ? settled.digest : receiptDigest(settled.receipt, settled.executor, settled.sig)
  if (!equalBytes(receiptDigest(receipt, executor, sig), expected))
    return fail('NOT_SETTLED_RECEIPT', 'the record’s receipt is not the one the task was settled with')
  if (!verifyReceipt(chainId, executor, receipt, sig))
    return fail('BAD_SIGNATURE', `the receipt is not signed by ${executor}`)
  if (!equalBytes(reader.hash(record.request), receipt.inputHash))
    return fail('INPUT_HASH', 'the request frame does not hash to the receipt’s input hash')
  if (!equalBytes(outputHash(record.tokens), receipt.outputHash))
    return fail('OUTPUT_HASH', 'the tokens do not hash to the receipt’s output hash')
  if (receipt.completionTokens !== record.tokens.length)
    return fail(
      'TOKEN_COUNT',
      `the receipt counts ${receipt.completionTokens} completion tokens, the record holds ${record.tokens.length}`,
    )
  let request: { taskId: Uint8Array; model: string }
  try {
    request = reader.decode(record.request)
  } catch (err) {
    return fail('BAD_REQUEST', `the request frame is not a request: ${(err as Error).message}`)
  }
  if (!equalBytes(request.taskId, receipt.taskId))
    return fail(
      'TASK_ID',
      `the request is for task ${toHex(request.taskId)}, the receipt ${toHex(receipt.taskId)}`,
    )
  if (request.model !== receipt.modelId)
    return fail('MODEL', `the request is for model ${request.model}, the receipt ${receipt.modelId}`)
  return { ok: true }
}

function fail(failure: RecordFailure, detail: string): RecordCheck {
  return { ok: false, failure, detail }
}
