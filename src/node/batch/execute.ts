import type { Clock } from '../../util/clock.js'
import { HttpError } from '../api/errors.js'
import { parseCompletionRequest } from '../api/openaiRequest.js'
import { completionBody } from '../api/openaiResponse.js'
import type { InferenceService } from '../infer/service.js'
import type { CheckRequest } from './jsonl.js'
import type { ExecuteLine } from './runner.js'

/** A line's body checked as `POST <url>` checks its body (throws with the route's message). */
export const checkLine: CheckRequest = (body, url) => {
  parseCompletionRequest(body, url === '/v1/chat/completions')
}

/**
 * Run batch lines as ordinary tasks, exactly as `POST /v1/chat/completions` and
 * `POST /v1/completions` run a request that does not stream (src/node/api/routes/openai.ts): the
 * same parsing, the gateway's `prepare` and `run` (escrow, weighted draw, receipt, settlement, the
 * task record verifiers fetch), the same answer body. A refusal becomes the status and error the
 * route would have answered.
 */
export function gatewayExecutor(c: {
  gateway: Pick<InferenceService, 'prepare' | 'run'>
  clock: Clock
  /** The chain checks tasks (an answer's verification starts `pending`, else `unchecked`). */
  verifying: () => boolean
}): ExecuteLine {
  return async (line, signal) => {
    const chat = line.url === '/v1/chat/completions'
    try {
      const { request } = parseCompletionRequest(line.body, chat)
      const task = await c.gateway.prepare(request, signal)
      const created = Math.floor(c.clock.now() / 1000)
      const verification = c.verifying() ? 'pending' : 'unchecked'
      const r = await c.gateway.run(task, () => {}, signal)
      return {
        ok: true,
        status: 200,
        body: completionBody(r, { chat, created, model: task.model.name, verification }),
        taskId: r.taskId,
      }
    } catch (err) {
      if (err instanceof HttpError)
        return { ok: false, status: err.status, code: err.code, message: err.message }
      throw err
    }
  }
}
