import { CodecError } from '../../ledger/errors.js'
import { amount, decode, encode, read } from '../../ledger/codec.js'
import { taggedHash } from '../../ledger/crypto.js'
import { decodeReceipt, encodeReceipt, type Receipt } from '../../ledger/task/receipt.js'
import type { SamplingParams } from '../../engine/llm/sampler.js'
import { MAX_STOP_LENGTH, MAX_STOP_SEQUENCES } from '../../engine/llm/generate.js'

/** What a gateway asks an executor to run (SPEC 5.3 step 4). The prompt is already templated. */
export interface InferRequest {
  taskId: Uint8Array
  model: string
  prompt: string
  /** Output tokens asked for at most (the client's `max_tokens`, within the context). */
  maxTokens: number
  /**
   * Base units each token costs, prompt and output alike (units of compute per token × the unit
   * price, as the gateway priced the task): with the TaskOpen's `maxCost`, the task's gas limit.
   * The executor stops generating when one more token would make the fee exceed `maxCost`
   * (`tokenBudget`), so the output is still a pure function of this frame, which verifiers replay.
   */
  tokenPrice: bigint
  sampling: SamplingParams
  stop: string[]
  /**
   * The gateway's signed TaskOpen transaction for `taskId`, as it went to the ledger: the executor
   * checks the escrow with it, and admits it to its own mempool when gossip has not brought it
   * yet, so it never waits for gossip and never serves a task nobody paid for.
   */
  open: Uint8Array
}

/**
 * Why an executor stopped: an end-of-sequence token or a stop string; `maxTokens` or the context's
 * end; or `budget`, when one more token would have made the fee exceed the escrow (SPEC 7).
 */
export type TaskFinish = 'stop' | 'length' | 'budget'

export type InferFrame =
  | { kind: 'chunk'; tokens: number[]; text: string }
  | { kind: 'done'; receipt: Receipt; sig: Uint8Array; finishReason: TaskFinish }
  | { kind: 'error'; code: string; message: string }

export const MAX_PROMPT_CHARS = 256 * 1024

/**
 * The request frame's version: 3 carries the token price (2 did not), 2 the TaskOpen (1 did not);
 * older ones are refused.
 */
export const REQUEST_VERSION = 3

/** Largest TaskOpen transaction a request carries (one is about 250 bytes). */
export const MAX_TASK_OPEN_BYTES = 1024

const MAX_MODEL_CHARS = 128

/**
 * The largest request frame that can hold a prompt of `promptChars` characters, in bytes: a UTF-16
 * code unit is at most 3 bytes of UTF-8, plus the TaskOpen, the model id, the stop strings and
 * CBOR's headers. An executor reads no more than this for a request, which is far below the
 * response frames' limit (kjv-small: about 13 KiB).
 */
export function maxRequestBytes(promptChars: number = MAX_PROMPT_CHARS): number {
  const chars = Math.min(promptChars, MAX_PROMPT_CHARS)
  return 3 * chars + MAX_TASK_OPEN_BYTES + 3 * (MAX_MODEL_CHARS + MAX_STOP_SEQUENCES * MAX_STOP_LENGTH) + 512
}

const num = (v: unknown, what: string): number => {
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new CodecError('BAD_SHAPE', `${what}: expected a finite number`, { what })
  return v
}

export function encodeRequest(r: InferRequest): Uint8Array {
  const s = r.sampling
  return encode([
    REQUEST_VERSION,
    r.taskId,
    r.model,
    r.prompt,
    r.maxTokens,
    [s.temperature, s.topP, s.topK, s.repetitionPenalty, s.frequencyPenalty, s.presencePenalty],
    r.stop,
    r.open,
    amount(r.tokenPrice),
  ])
}

/** Decode a request frame; throws on anything malformed (the caller answers BAD_REQUEST). */
export function decodeRequest(bytes: Uint8Array, maxBytes: number): InferRequest {
  const v = decode(bytes, maxBytes, 'infer request')
  if (Array.isArray(v) && v[0] !== REQUEST_VERSION)
    throw new CodecError(
      'BAD_SHAPE',
      `infer request: unknown version ${describe(v[0])} (this host speaks ${REQUEST_VERSION})`,
      { what: 'infer request' },
    )
  const [, taskId, model, prompt, maxTokens, sampling, stop, open, tokenPrice] = read.array(
    v,
    9,
    'infer request',
  )
  const [t, p, k, rep, freq, pres] = read.array(sampling, 6, 'sampling')
  return {
    taskId: read.bytes(taskId, 'taskId', 32),
    model: read.string(model, MAX_MODEL_CHARS, 'model'),
    prompt: read.string(prompt, MAX_PROMPT_CHARS, 'prompt'),
    maxTokens: read.uint(maxTokens, 'maxTokens'),
    sampling: {
      temperature: num(t, 'temperature'),
      topP: num(p, 'top_p'),
      topK: read.uint(k, 'top_k'),
      repetitionPenalty: num(rep, 'repetition_penalty'),
      frequencyPenalty: num(freq, 'frequency_penalty'),
      presencePenalty: num(pres, 'presence_penalty'),
    },
    stop: read.list(stop, MAX_STOP_SEQUENCES, 'stop').map((x) => read.string(x, MAX_STOP_LENGTH, 'stop')),
    open: taskOpenBytes(open),
    tokenPrice: read.amount(tokenPrice, 'tokenPrice'),
  }
}

function taskOpenBytes(v: unknown): Uint8Array {
  const b = read.bytes(v, 'open')
  if (b.length > MAX_TASK_OPEN_BYTES)
    throw new CodecError('TOO_LARGE', `open: over ${MAX_TASK_OPEN_BYTES} bytes`, { what: 'open' })
  return b
}

/** SPEC 5.3: the receipt's input hash, over the request frame exactly as sent. */
export function inputHash(requestBytes: Uint8Array): Uint8Array {
  return taggedHash('cordex/infer-request', requestBytes)
}

export function encodeFrame(f: InferFrame): Uint8Array {
  switch (f.kind) {
    case 'chunk':
      return encode([0, f.tokens, f.text])
    case 'done':
      return encode([1, encodeReceipt(f.receipt), f.sig, f.finishReason])
    case 'error':
      return encode([2, f.code, f.message])
  }
}

export function decodeFrame(bytes: Uint8Array, maxBytes: number): InferFrame {
  const v = decode(bytes, maxBytes, 'infer frame')
  if (!Array.isArray(v))
    throw new CodecError('BAD_SHAPE', 'infer frame: expected an array', { what: 'infer frame' })
  switch (v[0]) {
    case 0: {
      const [, tokens, text] = read.array(v, 3, 'chunk')
      return {
        kind: 'chunk',
        tokens: read.uints(tokens, 4096, 'tokens'),
        text: read.string(text, 1 << 20, 'text'),
      }
    }
    case 1: {
      const [, receipt, sig, reason] = read.array(v, 4, 'done')
      if (reason !== 'stop' && reason !== 'length' && reason !== 'budget')
        throw new CodecError('BAD_SHAPE', 'infer frame: unknown finish reason', { what: 'infer frame' })
      return {
        kind: 'done',
        receipt: decodeReceipt(receipt),
        sig: read.bytes(sig, 'sig', 64),
        finishReason: reason,
      }
    }
    case 2: {
      const [, code, message] = read.array(v, 3, 'error')
      return {
        kind: 'error',
        code: read.string(code, 64, 'code'),
        message: read.string(message, 1024, 'message'),
      }
    }
    default:
      throw new CodecError('BAD_SHAPE', `infer frame: unknown kind ${describe(v[0])}`, {
        what: 'infer frame',
      })
  }
}

/** A decoded value named in an error message: a number as itself, anything else by its type. */
function describe(v: unknown): string {
  return typeof v === 'number' ? String(v) : Array.isArray(v) ? 'array' : typeof v
}
