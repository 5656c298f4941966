import { getEpoch } from '../ledger/epoch/access.js'
import {
  auditTaskIds,
  getAudit,
  getChecked,
  getVerifyParams,
  isSelected,
  toHex,
  selectionValue,
  weightIn,
  type StateReader,
} from '../ledger/index.js'

/** Why a peer should check a task: its key selected it, or the task is disputed (escalation). */
export type CheckDuty = 'sample' | 'escalation'

/**
 * docs/verification.md, "Who checks what": whether `me` should check the task `idHex` now, given
 * its selection key for the task's epoch. A sampled check is due while the task is open, its audit
 * is open and the key is not revealed yet (afterwards the chain takes no sampled vote from it); a
 * disputed task is every weighted peer's to vote on. Never the executor's own task, never twice.
 */
export function checkDue(
  state: StateReader,
  me: string,
  taskId: Uint8Array,
  idHex: string,
  keyFor: (epoch: number) => Uint8Array,
): CheckDuty | null {
  const task = getChecked(state, idHex)
  if (task === undefined || task.executor === me) return null
  if (task.votes.some((v) => v.verifier === me)) return null
  const audit = getAudit(state, task.epoch)
  if (audit === undefined) return null
  const weight = weightIn(audit, me)
  if (weight === 0) return null
  if (task.status === 'disputed') return 'escalation'
  if (task.status !== 'open' || audit.closed || audit.duties.some(([p]) => p === me)) return null
  return isSelected(selectionValue(keyFor(task.epoch), taskId), task.rateBps, weight, task.others)
    ? 'sample'
    : null
}

/** A check `me` owes (checksDue). */
export interface DueCheck {
  taskId: Uint8Array
  idHex: string
  /** The task's epoch. */
  epoch: number
  duty: CheckDuty
}

/**
 * The epochs whose audits may still hold a check due: the open ones (this epoch's and the last),
 * and the closed ones not yet dropped, whose disputes still take votes (`disputeEpochs` of them).
 */
export function keptAudits(state: StateReader): { from: number; to: number } {
  const current = getEpoch(state)?.number ?? 0
  return { from: Math.max(0, current - 1 - (getVerifyParams(state)?.disputeEpochs ?? 0)), to: current }
}

/**
 * Every check `me` owes now (checkDue over the tasks of keptAudits), oldest epoch first. `skip`
 * leaves out a task before its duty is worked out (one already queued).
 */
export function checksDue(
  state: StateReader,
  me: string,
  keyFor: (epoch: number) => Uint8Array,
  skip: (idHex: string) => boolean = () => false,
): DueCheck[] {
  const { from, to } = keptAudits(state)
  const out: DueCheck[] = []
  for (let epoch = from; epoch <= to; epoch++) {
    const audit = getAudit(state, epoch)
    if (audit === undefined) continue
    for (const taskId of auditTaskIds(state, audit)) {
      const idHex = toHex(taskId)
      if (skip(idHex)) continue
      const duty = checkDue(state, me, taskId, idHex, keyFor)
      if (duty !== null) out.push({ taskId, idHex, epoch, duty })
    }
  }
  return out
}

/**
 * Whether `me` should reveal its key for `epoch` now: the epoch is over, its audit is open, `me`
 * had weight in it and has not revealed, and no check of that epoch is still running here.
 */
export function revealDue(
  state: StateReader,
  me: string,
  epoch: number,
  current: number,
  busy: boolean,
): boolean {
  if (epoch >= current || busy) return false
  const audit = getAudit(state, epoch)
  return (
    audit !== undefined && !audit.closed && weightIn(audit, me) > 0 && !audit.duties.some(([p]) => p === me)
  )
}
