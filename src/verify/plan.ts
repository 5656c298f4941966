import {
  getAudit,
  getChecked,
  isSelected,
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
