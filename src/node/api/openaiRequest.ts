import { HttpError } from './errors.js'
import {
  checkSampling,
  MAX_STOP_LENGTH,
  MAX_STOP_SEQUENCES,
  type ChatMessage,
  type SamplingParams,
} from '../../engine/index.js'
import type { TaskRequest } from '../infer/service.js'

// The request side of the OpenAI-compatible API (SPEC 5.2): a JSON body of `POST /v1/completions`
// or `POST /v1/chat/completions` as the gateway's TaskRequest. Shared by those routes and by batch
// jobs (src/node/batch), whose lines are the same bodies: a line is checked at upload exactly as the
// route would check it.

const bad = (message: string, code = 'invalid_value'): HttpError => new HttpError(400, code, message)

type Body = Record<string, unknown>

function num(b: Body, key: string, dflt: number): number {
  const v = b[key]
  if (v === undefined || v === null) return dflt
  if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`${key} must be a number`)
  return v
}

function sampling(b: Body): SamplingParams {
  const p = {
    temperature: num(b, 'temperature', 1),
    topP: num(b, 'top_p', 1),
    topK: num(b, 'top_k', 0),
    repetitionPenalty: num(b, 'repetition_penalty', 1),
    frequencyPenalty: num(b, 'frequency_penalty', 0),
    presencePenalty: num(b, 'presence_penalty', 0),
  }
  // The engine's own check, so that the API refuses at once what the executor would refuse.
  try {
    checkSampling(p)
  } catch (err) {
    throw bad((err as Error).message)
  }
  return p
}

function stopList(b: Body): string[] {
  const v = b.stop
  if (v === undefined || v === null) return []
  const list = typeof v === 'string' ? [v] : v
  if (
    !Array.isArray(list) ||
    list.length > MAX_STOP_SEQUENCES ||
    list.some((s) => typeof s !== 'string' || s.length === 0 || s.length > MAX_STOP_LENGTH)
  )
    throw bad(
      `stop must be a string or up to ${MAX_STOP_SEQUENCES} strings of 1 to ${MAX_STOP_LENGTH} characters`,
    )
  return list as string[]
}

function maxCost(b: Body): bigint | undefined {
  const v = b.max_cost
  if (v === undefined || v === null) return undefined
  if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) return BigInt(v)
  if (typeof v === 'string' && /^[1-9]\d{0,19}$/.test(v) && BigInt(v) < 1n << 64n) return BigInt(v)
  throw bad('max_cost must be a positive whole number of base units (a number or a decimal string)')
}

function maxTokens(b: Body): number | undefined {
  const v = b.max_completion_tokens ?? b.max_tokens
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v)) throw bad('max_tokens must be an integer')
  return v
}

function body(v: unknown): Body {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw bad('the request body must be a JSON object')
  const b = v as Body
  if (typeof b.model !== 'string' || b.model.length === 0) throw bad('model is required')
  if (b.n !== undefined && b.n !== null && b.n !== 1) throw bad('only n = 1 is supported')
  if (b.stream !== undefined && typeof b.stream !== 'boolean') throw bad('stream must be a boolean')
  return b
}

function messages(v: unknown): ChatMessage[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > 256)
    throw bad('messages must be a list of 1 to 256 messages')
  return v.map((m, i) => {
    if (typeof m !== 'object' || m === null) throw bad(`messages[${i}] must be an object`)
    const { role, content } = m as Body
    if (typeof role !== 'string' || !['system', 'user', 'assistant', 'developer'].includes(role))
      throw bad(`messages[${i}].role must be system, user, assistant or developer`)
    let text: string
    if (typeof content === 'string') text = content
    else if (Array.isArray(content))
      text = content
        .map((part: unknown) => {
          const p = part as Body
          if (p?.type !== 'text' || typeof p.text !== 'string')
            throw bad(`messages[${i}].content: only text parts`)
          return p.text
        })
        .join('')
    else throw bad(`messages[${i}].content must be a string`)
    return { role: role === 'developer' ? 'system' : role, content: text }
  })
}

/** A checked completion request: what the gateway runs, and whether the client asked to stream it. */
export interface CompletionRequest {
  request: TaskRequest
  stream: boolean
}

/**
 * Check a completion (`chat` false) or chat completion body and turn it into a TaskRequest;
 * throws HttpError 400 (`invalid_value`) naming the field at fault. Nothing here needs the chain or
 * the models: the gateway's `prepare` checks the rest.
 */
export function parseCompletionRequest(raw: unknown, chat: boolean): CompletionRequest {
  const b = body(raw)
  let input: TaskRequest['input']
  if (chat) input = { messages: messages(b.messages) }
  else {
    const p = Array.isArray(b.prompt) && b.prompt.length === 1 ? b.prompt[0] : b.prompt
    if (typeof p !== 'string') throw bad('prompt must be a string')
    input = { prompt: p }
  }
  return {
    request: {
      model: b.model as string,
      input,
      maxTokens: maxTokens(b),
      sampling: sampling(b),
      stop: stopList(b),
      maxCost: maxCost(b),
    },
    stream: b.stream === true,
  }
}
