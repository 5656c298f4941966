import type { ChainTaskView, Verification } from '../../../node/index.js'
import { callDaemon } from '../../client.js'
import { printJson, table } from '../../output.js'
import type { GlobalArgs } from '../../options.js'
import { CliError } from '../../errors.js'
import { ExitCode } from '../../exitCodes.js'

export interface TaskArgs extends GlobalArgs {
  id: string
}

/** What `GET /tasks/:id` answers: the gateway's record (when it has one) and the verification. */
interface TaskView {
  taskId: string
  model?: string
  executor?: string
  cost?: string
  request?: { maxCost?: string }
  receipt?: {
    promptTokens?: number
    completionTokens?: number
    inputHash?: string
    outputHash?: string
  }
  verification: Verification
  chain: ChainTaskView | null
}

/** Check a task id before asking the daemon: 64 lower-case hex digits. */
export function checkTaskId(id: string): string {
  const t = id.toLowerCase()
  if (!/^[0-9a-f]{64}$/.test(t))
    throw new CliError(ExitCode.USAGE, 'BAD_TASK_ID', 'a task id is 64 hex digits')
  return t
}

export async function taskHandler(args: TaskArgs): Promise<void> {
  const id = checkTaskId(args.id)
  const t = await callDaemon<TaskView>(args.dataDir, `/tasks/${id}`)
  if (args.json) return printJson(t)
  const c = t.chain
  const lines = [`task          ${t.taskId}`, `verification  ${t.verification}  (${explain(t)})`]
  const model = c?.model ?? t.model
  if (model !== undefined) lines.push(`model         ${model}`)
  const executor = c?.executor ?? t.executor
  if (executor !== undefined) lines.push(`executor      ${executor}`)
  if (c !== null) lines.push(`client        ${c.client}`)
  const fee = c?.fee ?? t.cost
  if (fee !== undefined)
    lines.push(
      `fee           ${fee}${t.request?.maxCost !== undefined ? ` (max_cost ${t.request.maxCost})` : ''}`,
    )
  const r = t.receipt
  if (r !== undefined)
    lines.push(
      `receipt       ${r.promptTokens ?? '?'} prompt + ${r.completionTokens ?? '?'} output tokens`,
      `              input ${r.inputHash ?? '?'}`,
      `              output ${r.outputHash ?? '?'}`,
    )
  if (c !== null) {
    lines.push(
      `settled       epoch ${c.epoch}, block ${c.height} (receipt digest ${c.receipt})`,
      `check rate    ${(c.rateBps / 100).toFixed(2)}% (${c.rateBps} bps)`,
      `reported      ${c.reported ? `yes (deposit ${c.reportDeposit})` : 'no'}`,
    )
    if (c.penalty !== null) {
      const p = c.penalty
      lines.push(
        `penalty       fee refunded ${p.refunded}, rewards forfeited ${p.forfeited}, stake slashed ${p.slashed},`,
        `              bounty ${p.bounty} to each accuser, reporter reward ${p.reporterReward}`,
      )
    }
  }
  console.log(lines.join('\n'))
  if (c === null) return
  if (c.votes.length === 0) {
    console.log('checks        none yet')
    return
  }
  console.log(
    `checks\n${table(
      ['VERIFIER', 'VERDICT', 'EVIDENCE'],
      c.votes.map((v) => [
        v.verifier,
        `${v.ok ? 'pass' : 'FAIL'}${v.escalation ? ' (dispute vote)' : ''}`,
        evidence(v),
      ]),
    )}`,
  )
}

/** One sentence on where the task stands. */
function explain(t: TaskView): string {
  const c = t.chain
  if (c === null) {
    if (t.verification === 'pending') return 'settling: its receipt is not on the chain yet'
    if (t.verification === 'unknown')
      return 'the chain dropped its record before this gateway read its verdict'
    if (t.verification === 'unchecked') return 'the chain checks no tasks, or nobody was drawn to check it'
    return `as this gateway last read it; the chain no longer holds the record`
  }
  switch (c.status) {
    case 'open':
      return `settled in epoch ${c.epoch}; its audit closes at the end of epoch ${c.epoch + 1}`
    case 'disputed':
      return 'disputed: a check failed or it was reported; the weighted majority decides'
    case 'verified':
      return 'a check passed it'
    case 'cleared':
      return 'disputed, and the majority cleared it'
    case 'fraud':
      return 'the majority convicted its executor'
    case 'unchecked':
      return 'its audit closed and nobody was drawn to check it'
    case 'unproven':
      return 'disputed, and the majority never decided'
  }
}

/** A verdict's evidence for people: where the output broke the rule. */
export function evidence(v: ChainTaskView['votes'][number]): string {
  switch (v.reason) {
    case 'ok':
      return '-'
    case 'token':
      return `output token ${v.position}: the rule picks ${v.expected}, the executor sent ${v.actual}`
    case 'end':
      return v.actual === -1
        ? `the output stops at token ${v.position} where the rule picks ${v.expected}`
        : `the output goes on at token ${v.position} (${v.actual}) where the rule ends`
    case 'record':
      return 'the task record is missing or does not match the settled receipt'
    default:
      return v.reason
  }
}
