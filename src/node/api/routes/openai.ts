import type { ApiRoute } from '../server.js'
import { EventStream } from '../server.js'
import type { ApiContext } from '../context.js'
import { HttpError } from '../errors.js'
import type { InferenceService } from '../../infer/service.js'
import { getVerifyParams } from '../../../ledger/index.js'
import { parseCompletionRequest } from '../openaiRequest.js'
import { completionBody, cordexField, finishReason, usage } from '../openaiResponse.js'

// The OpenAI-compatible API (SPEC 5.2): /v1/models, /v1/completions, /v1/chat/completions, with
// `stream: true` as server-sent events. Extensions: `max_cost` in (base units), `cordex` out.

function service(ctx: ApiContext): InferenceService {
  if (ctx.inference === null) throw new HttpError(503, 'inference_off', 'this chain takes no inference tasks')
  return ctx.inference
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
  const { request, stream } = parseCompletionRequest(raw, chat)
  const svc = service(ctx)
  const task = await svc.prepare(request, signal)
  const created = Math.floor(ctx.clock.now() / 1000)
  const verification = getVerifyParams(ctx.chain.replica.state) === undefined ? 'unchecked' : 'pending'
  const model = task.model.name
  if (!stream) {
    return svc
      .run(task, () => {}, signal)
      .then((r) => completionBody(r, { chat, created, model, verification }))
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
