import { tokenBudget } from '../../ledger/task/receipt.js'
import type { Receipt } from '../../ledger/task/receipt.js'
import type { InferRequest, TaskFinish } from './codec.js'

/** How much a task may generate under `max_cost` as a gas limit (SPEC 7). */
export interface TokenLimit {
  /** Output tokens to generate at most: the request's `maxTokens`, or fewer when the escrow runs out first. */
  maxTokens: number
  /** Output tokens the escrow pays for after the prompt, at the request's token price (below 1: not one). */
  budget: number
}

/**
 * SPEC 7: the output tokens a task may generate: what it asks for, but never a token whose fee
 * would take the total (prompt included) beyond `maxCost`, the TaskOpen's escrow. A pure function
 * of the request frame and the prompt's token count, so the executor, the gateway checking its
 * receipt and a verifier replaying it all find the same limit.
 */
export function tokenLimit(
  req: Pick<InferRequest, 'maxTokens' | 'tokenPrice'>,
  maxCost: bigint,
  promptTokens: number,
): TokenLimit {
  const budget = tokenBudget(maxCost, req.tokenPrice, promptTokens)
  return { budget, maxTokens: Math.min(req.maxTokens, budget) }
}

/**
 * Why a generation run under `limit` ended, from why the engine stopped (`stop`: end of sequence
 * or a stop string; `length`: it ran out of tokens to generate). `budget` when the budget alone
 * ended it: the output reached the budget while `maxTokens` and the context had room for another
 * token. When the budget and `maxTokens` (or the context) end it at once, the client's own limit
 * is named: `length`.
 */
export function taskFinish(
  engine: 'stop' | 'length',
  out: { completionTokens: number; promptTokens: number },
  limit: TokenLimit,
  req: Pick<InferRequest, 'maxTokens'>,
  contextLength: number,
): TaskFinish {
  if (engine === 'stop') return 'stop'
  const { completionTokens, promptTokens } = out
  const budgetAlone =
    completionTokens >= limit.budget &&
    limit.budget < req.maxTokens &&
    promptTokens + completionTokens < contextLength
  return budgetAlone ? 'budget' : 'length'
}

/**
 * Whether an executor's answer keeps within its task's gas limit (SPEC 7), as the gateway checks
 * it before settling: the receipt counts the prompt as `promptTokens` (the gateway's own count),
 * claims no more output than `maxTokens` and the budget allow, so that it never bills beyond
 * `maxCost`, and says `budget` only where the budget ran out.
 */
export function withinBudget(
  r: Pick<Receipt, 'promptTokens' | 'completionTokens'>,
  finish: TaskFinish,
  req: Pick<InferRequest, 'maxTokens' | 'tokenPrice'>,
  maxCost: bigint,
  promptTokens: number,
  contextLength: number,
): boolean {
  const limit = tokenLimit(req, maxCost, promptTokens)
  if (r.promptTokens !== promptTokens || r.completionTokens > limit.maxTokens) return false
  return (
    finish !== 'budget' ||
    (r.completionTokens === limit.budget && taskFinish('length', r, limit, req, contextLength) === 'budget')
  )
}
