import { CodecError } from '../../ledger/errors.js'
import { decode, encode, read } from '../../ledger/codec.js'
import { decodeReceipt, encodeReceipt, type Receipt } from '../../ledger/task/receipt.js'
import { maxRequestBytes } from '../infer/codec.js'

/**
 * What a verifier fetches over `task` (SPEC 6.1): everything it needs to check a receipt and
 * replay the task. The caller judges the meaning (`checkTaskRecord` in src/verify).
 */
export interface TaskRecordData {
  /** The infer request frame exactly as the gateway sent it: its hash is `receipt.inputHash`. */
  request: Uint8Array
  /** The output token ids, in order: their hash is `receipt.outputHash`. */
  tokens: number[]
  receipt: Receipt
  /** The executor's signature over the receipt. */
  sig: Uint8Array
  /** The executor's peer id (its account address). */
  executor: string
}

/** The answer to one request: the record, or "this peer keeps none for that task". */
export type TaskResponse = { found: true; record: TaskRecordData } | { found: false }

/**
 * Output tokens a record holds at most: above any context length we serve, so every task fits,
 * and what bounds a response frame together with the infer request limit.
 */
export const MAX_RECORD_TOKENS = 65_536

/** A request frame: a CBOR byte string of the 32-byte task id (34 bytes). */
export const MAX_TASK_REQUEST_BYTES = 64

/** A peer id string, at most (an Ed25519 one is 52 characters). */
const MAX_EXECUTOR_CHARS = 128

/**
 * Room for everything in a response besides the request frame and the tokens: the receipt (at
 * most about 520 bytes with a 128-character model id), the signature, the executor and CBOR's
 * headers.
 */
const RESPONSE_OVERHEAD_BYTES = 2048

/** Bytes a CBOR unsigned integer takes at most (a safe integer: head byte and 8 bytes). */
const MAX_UINT_BYTES = 9

const NOT_FOUND = 0
const FOUND = 1

/**
 * The largest response payload, bytes, for records whose request frames are at most
 * `requestBytes` (default: what the longest prompt needs, `maxRequestBytes()`, about 790 KB):
 * the frame, 65,536 token ids and the rest. About 1.4 MB by default.
 */
export function maxTaskResponseBytes(requestBytes: number = maxRequestBytes()): number {
  return requestBytes + MAX_UINT_BYTES * MAX_RECORD_TOKENS + RESPONSE_OVERHEAD_BYTES
}

export function encodeTaskRequest(taskId: Uint8Array): Uint8Array {
  if (taskId.length !== 32)
    throw new CodecError('BAD_SHAPE', 'task request: a task id is 32 bytes', { what: 'task request' })
  return encode(taskId)
}

/** The task id a request names; throws CodecError on anything else. */
export function decodeTaskRequest(bytes: Uint8Array): Uint8Array {
  return read.bytes(decode(bytes, MAX_TASK_REQUEST_BYTES, 'task request'), 'taskId', 32)
}

/**
 * Encode an answer; throws CodecError when the record breaks a bound a peer would refuse it for
 * (more tokens than a record holds, or a frame over `maxBytes`), so a server never sends one.
 */
export function encodeTaskResponse(r: TaskResponse, maxBytes: number = maxTaskResponseBytes()): Uint8Array {
  if (!r.found) return encode([NOT_FOUND])
  const { request, tokens, receipt, sig, executor } = r.record
  if (tokens.length > MAX_RECORD_TOKENS)
    throw new CodecError('TOO_LARGE', `task record: ${tokens.length} tokens, over ${MAX_RECORD_TOKENS}`, {
      what: 'task record',
    })
  const bytes = encode([FOUND, request, tokens, encodeReceipt(receipt), sig, executor])
  if (bytes.length > maxBytes)
    throw new CodecError('TOO_LARGE', `task record: ${bytes.length} bytes, over ${maxBytes}`, {
      what: 'task record',
    })
  return bytes
}

/**
 * Decode an answer of at most `maxBytes`: shapes and sizes only (a request frame no larger than
 * an infer request may be, at most 65,536 tokens); throws CodecError.
 */
export function decodeTaskResponse(
  bytes: Uint8Array,
  maxBytes: number = maxTaskResponseBytes(),
): TaskResponse {
  // Decoded byte strings are views of the input: of a plain view, so that a Buffer (LevelDB's,
  // the stream's) does not come back as the record's fields.
  const v = decode(
    new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    maxBytes,
    'task response',
  )
  if (!Array.isArray(v) || v.length === 0)
    throw new CodecError('BAD_SHAPE', 'task response: expected a non-empty array', { what: 'task response' })
  if (v[0] === NOT_FOUND) {
    read.array(v, 1, 'task response')
    return { found: false }
  }
  if (v[0] !== FOUND)
    throw new CodecError('BAD_SHAPE', 'task response: unknown kind', { what: 'task response' })
  const [, request, tokens, receipt, sig, executor] = read.array(v, 6, 'task record')
  const frame = read.bytes(request, 'request')
  if (frame.length > maxRequestBytes())
    throw new CodecError('TOO_LARGE', `task record: a request frame over ${maxRequestBytes()} bytes`, {
      what: 'task record',
    })
  return {
    found: true,
    record: {
      request: frame,
      tokens: read.uints(tokens, MAX_RECORD_TOKENS, 'tokens'),
      receipt: decodeReceipt(receipt),
      sig: read.bytes(sig, 'sig', 64),
      executor: read.string(executor, MAX_EXECUTOR_CHARS, 'executor'),
    },
  }
}

/** A record as the stores keep it: the bytes of its `found` answer. */
export function encodeTaskRecord(record: TaskRecordData, maxBytes?: number): Uint8Array {
  return encodeTaskResponse({ found: true, record }, maxBytes)
}

/** A stored record back; throws CodecError when the bytes are not one. */
export function decodeTaskRecord(bytes: Uint8Array, maxBytes?: number): TaskRecordData {
  const r = decodeTaskResponse(bytes, maxBytes)
  if (!r.found) throw new CodecError('BAD_SHAPE', 'task record: a not-found answer', { what: 'task record' })
  return r.record
}
