import { decode, encode, read } from '../../ledger/codec.js'
import { taggedHash } from '../../ledger/crypto.js'
import { decodeReceipt, encodeReceipt, type Receipt } from '../../ledger/task/receipt.js'
import type { SamplingParams } from '../../engine/llm/sampler.js'
import { MAX_STOP_LENGTH, MAX_STOP_SEQUENCES } from '../../engine/llm/generate.js'

/** What a gateway asks an executor to run (SPEC 5.3 step 4). The prompt is already templated. */
export interface InferRequest {
  taskId: Uint8Array
  model: string
  prompt: string
  maxTokens: number
  sampling: SamplingParams
  stop: string[]
}

export type InferFrame =
  | { kind: 'chunk'; tokens: number[]; text: string }
  | { kind: 'done'; receipt: Receipt; sig: Uint8Array; finishReason: 'stop' | 'length' }
  | { kind: 'error'; code: string; message: string }

export const MAX_PROMPT_CHARS = 256 * 1024

const num = (v: unknown, what: string): number => {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${what}: expected a finite number`)
  return v
}

export function encodeRequest(r: InferRequest): Uint8Array {
  const s = r.sampling
  return encode([
    1,
    r.taskId,
    r.model,
    r.prompt,
    r.maxTokens,
    [s.temperature, s.topP, s.topK, s.repetitionPenalty, s.frequencyPenalty, s.presencePenalty],
    r.stop,
  ])
}

/** Decode a request frame; throws on anything malformed (the caller answers BAD_REQUEST). */
export function decodeRequest(bytes: Uint8Array, maxBytes: number): InferRequest {
  const [version, taskId, model, prompt, maxTokens, sampling, stop] = read.array(
    decode(bytes, maxBytes, 'infer request'),
    7,
    'infer request',
  )
  if (version !== 1) throw new Error(`infer request: unknown version ${String(version)}`)
  const [t, p, k, rep, freq, pres] = read.array(sampling, 6, 'sampling')
  return {
    taskId: read.bytes(taskId, 'taskId', 32),
    model: read.string(model, 128, 'model'),
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
  }
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
  if (!Array.isArray(v)) throw new Error('infer frame: expected an array')
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
      if (reason !== 'stop' && reason !== 'length') throw new Error('done: unknown finish reason')
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
      throw new Error(`infer frame: unknown kind ${String(v[0])}`)
  }
}
