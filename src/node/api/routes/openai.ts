import type { ApiRoute } from '../server.js'
import { EventStream } from '../server.js'
import type { ApiContext } from '../context.js'
import { HttpError } from '../errors.js'
import {
  checkSampling,
  MAX_STOP_LENGTH,
  MAX_STOP_SEQUENCES,
  type ChatMessage,
  type SamplingParams,
} from '../../../engine/index.js'
import type { InferenceService, TaskRequest, TaskResult } from '../../infer/service.js'
import { getVerifyParams } from '../../../ledger/index.js'

// The OpenAI-compatible API (SPEC 5.2): /v1/models, /v1/completions, /v1/chat/completions, with
// `stream: true` as server-sent events. Extensions: `max_cost` in (base units), `cordex` out.

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

function service(ctx: ApiContext): InferenceService {
  if (ctx.inference === null) throw new HttpError(503, 'inference_off', 'this chain takes no inference tasks')
  return ctx.inference
}

/**
 * The OpenAI `finish_reason`: an output that ended because one more token would have cost more
 * than `max_cost` (SPEC 7) is `length`, as OpenAI names an output cut short by a limit (clients
 * with a closed set of reasons keep working); `cordex.budget_exhausted` says which limit it was.
 */
function finishReason(r: TaskResult): 'stop' | 'length' {
  return r.finishReason === 'budget' ? 'length' : r.finishReason
}

/**
 * The `cordex` object of an answer. Its `verification` is `pending` (the task has just settled or
 * is settling: `GET /tasks/:id` follows it), or `unchecked` on a chain that checks no tasks.
 */
function cordexField(r: TaskResult, verification: 'pending' | 'unchecked'): Record<string, unknown> {
  return {
    task_id: r.taskId,
    executor: r.executor,
    model_id: r.model,
    cost: r.cost.toString(),
    max_cost: r.maxCost.toString(),
    budget_exhausted: r.finishReason === 'budget',
    receipt: r.receipt,
    attempts: r.attempts,
    verification,
  }
}

function usage(r: TaskResult): Record<string, number> {
  const { promptTokens: p, completionTokens: c } = r.usage
  return { prompt_tokens: p, completion_tokens: c, total_tokens: p + c }
}

/** A push-fed async iterable: the task's chunks become events as they arrive. */
function channel<T>(): { push(v: T): void; end(): void; fail(e: Error): void; items: AsyncIterable<T> } {
  const queue: T[] = []
  let done = false
  let error: Error | undefined
  let wake: (() => void) | undefined
  const notify = (): void => {
    wake?.()
    wake = undefined
  }
  return {
    push: (v) => {
      queue.push(v)
      notify()
    },
    end: () => {
      done = true
      notify()
    },
    fail: (e) => {
      error = e
      notify()
    },
    items: {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          while (queue.length > 0) yield queue.shift()!
          if (error !== undefined) throw error
          if (done) return
          await new Promise<void>((r) => (wake = r))
        }
      },
    },
  }
}

async function handle(ctx: ApiContext, raw: unknown, signal: AbortSignal, chat: boolean): Promise<unknown> {
  const b = body(raw)
  let input: TaskRequest['input']
  if (chat) input = { messages: messages(b.messages) }
  else {
    const p = Array.isArray(b.prompt) && b.prompt.length === 1 ? b.prompt[0] : b.prompt
    if (typeof p !== 'string') throw bad('prompt must be a string')
    input = { prompt: p }
  }
  const svc = service(ctx)
  const task = await svc.prepare(
    {
      model: b.model as string,
      input,
      maxTokens: maxTokens(b),
      sampling: sampling(b),
      stop: stopList(b),
      maxCost: maxCost(b),
    },
    signal,
  )
  const created = Math.floor(ctx.clock.now() / 1000)
  const verification = getVerifyParams(ctx.chain.replica.state) === undefined ? 'unchecked' : 'pending'
  const model = task.model.name
  if (b.stream !== true) {
    return svc
      .run(task, () => {}, signal)
      .then((r) => ({
        id: `${chat ? 'chatcmpl' : 'cmpl'}-${r.taskId}`,
        object: chat ? 'chat.completion' : 'text_completion',
        created,
        model,
        choices: [
          chat
            ? {
                index: 0,
                message: { role: 'assistant', content: r.text },
                finish_reason: finishReason(r),
                logprobs: null,
              }
            : { index: 0, text: r.text, finish_reason: finishReason(r), logprobs: null },
        ],
        usage: usage(r),
        cordex: cordexField(r, verification),
      }))
  }
  const ch = channel<unknown>()
  let id = `${chat ? 'chatcmpl' : 'cmpl'}-pending`
  const object = chat ? 'chat.completion.chunk' : 'text_completion'
  const piece = (text: string, finish: string | null): unknown =>
    chat
      ? {
          id,
          object,
          created,
          model,
          choices: [
            {
              index: 0,
              delta:
                text === '' && finish === null
                  ? { role: 'assistant', content: '' }
                  : finish === null
                    ? { content: text }
                    : {},
              finish_reason: finish,
              logprobs: null,
            },
          ],
        }
      : { id, object, created, model, choices: [{ index: 0, text, finish_reason: finish, logprobs: null }] }
  if (chat) ch.push(piece('', null))
  let first = true
  // The stream's 200 goes out with its first text, not before: a task refused or failed before
  // then (the gateway is saturated, no executor answered) is a plain HTTP error with its status.
  await new Promise<void>((started, failedEarly) => {
    svc
      .run(
        task,
        (text, executor) => {
          // The first piece of text names its executor, so a client can follow a task as it streams.
          ch.push(first ? { ...(piece(text, null) as object), cordex: { executor } } : piece(text, null))
          first = false
          started()
        },
        signal,
      )
      .then((r) => {
        id = `${chat ? 'chatcmpl' : 'cmpl'}-${r.taskId}`
        ch.push({
          ...(piece('', finishReason(r)) as object),
          usage: usage(r),
          cordex: cordexField(r, verification),
        })
        ch.end()
        started()
      })
      .catch((err: Error) => {
        ch.fail(err)
        failedEarly(err) // nothing once started
      })
  })
  return new EventStream(ch.items)
}

/** `GET /v1/models`: approved models this gateway can serve, with how many hosts announce each. */
export function modelsRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/v1/models',
    handler: async () => ({
      object: 'list',
      data: (ctx.inference?.available() ?? []).map(({ model, hosts }) => ({
        id: model.name,
        object: 'model',
        created: 0,
        owned_by: 'cordex',
        cordex: {
          model_id: model.id,
          hosts,
          context_length: model.spec.contextLength,
          units_per_token: model.manifest.unitsPerToken,
        },
      })),
    }),
  }
}

export function completionsRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'POST',
    path: '/v1/completions',
    handler: async (req) => handle(ctx, req.body, req.signal, false),
  }
}

export function chatCompletionsRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'POST',
    path: '/v1/chat/completions',
    handler: async (req) => handle(ctx, req.body, req.signal, true),
  }
}
