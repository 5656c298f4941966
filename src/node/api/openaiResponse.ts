import type { TaskResult } from '../infer/service.js'

// The answer side of the OpenAI-compatible API (SPEC 5.2): what `POST /v1/completions` and
// `POST /v1/chat/completions` answer for a task, shared with batch jobs, whose output lines carry
// the same body.

/** What a fresh answer says of its verification (see cordexField). */
export type AnswerVerification = 'pending' | 'unchecked'

/**
 * The OpenAI `finish_reason`: an output that ended because one more token would have cost more
 * than `max_cost` (SPEC 7) is `length`, as OpenAI names an output cut short by a limit (clients
 * with a closed set of reasons keep working); `cordex.budget_exhausted` says which limit it was.
 */
export function finishReason(r: TaskResult): 'stop' | 'length' {
  return r.finishReason === 'budget' ? 'length' : r.finishReason
}

/**
 * The `cordex` object of an answer. Its `verification` is `pending` (the task has just settled or
 * is settling: `GET /tasks/:id` follows it), or `unchecked` on a chain that checks no tasks.
 */
export function cordexField(r: TaskResult, verification: AnswerVerification): Record<string, unknown> {
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

export function usage(r: TaskResult): Record<string, number> {
  const { promptTokens: p, completionTokens: c } = r.usage
  return { prompt_tokens: p, completion_tokens: c, total_tokens: p + c }
}

/** The whole (not streamed) answer to a completion (`chat` false) or chat completion. */
export function completionBody(
  r: TaskResult,
  a: { chat: boolean; created: number; model: string; verification: AnswerVerification },
): Record<string, unknown> {
  const { chat } = a
  return {
    id: `${chat ? 'chatcmpl' : 'cmpl'}-${r.taskId}`,
    object: chat ? 'chat.completion' : 'text_completion',
    created: a.created,
    model: a.model,
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
    cordex: cordexField(r, a.verification),
  }
}
