import type { Overlay, StateReader } from '../state/state.js'
import { getAccount, putAccount, getSupply, putSupply, getValidatorEntries } from '../state/access.js'
import { toHex } from '../crypto.js'
import type { EpochState } from '../epoch/records.js'
import { getEpoch } from '../epoch/access.js'
import {
  addHeld,
  auditTaskIds,
  dropAuditPages,
  getAudit,
  getHeld,
  getChecked,
  getStanding,
  getVerifyParams,
  putAudit,
  putChecked,
  putStanding,
  takeEpochHeld,
  takeHeld,
  weightIn,
} from './access.js'
import { isSelected, selectionValue, BPS } from './select.js'
import { splitFee } from './decide.js'
import type { Audit, CheckedTask } from './records.js'
import { payEpoch } from '../economics/rewards.js'

/**
 * The weights that route tasks and choose verifiers in an epoch: the Race's weights in force, or
 * the validators' power while no Race has finished. Sorted by peer.
 */
export function epochWeights(s: StateReader, epoch: EpochState | undefined): Array<[string, number]> {
  const race = epoch?.weights ?? []
  const w: Array<[string, number]> =
    race.length > 0 ? race.map(([p, n]) => [p, n]) : getValidatorEntries(s).map((v) => [v.id, v.power])
  return w.filter(([, n]) => n > 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

/** Open the audit of an epoch as it begins, with the weights in force for it. */
export function openAudit(s: Overlay, epoch: number, weights: Array<[string, number]>): void {
  if (getVerifyParams(s) === undefined) return
  putAudit(s, { epoch, weights, tasks: 0, duties: [], skipped: [], closed: false })
}

/** Whether a verifier's (not yet voided) sampled vote on a task stands under its revealed key. */
function selectedFor(
  key: Uint8Array,
  taskId: Uint8Array,
  task: CheckedTask,
  audit: Audit,
  verifier: string,
): boolean {
  return isSelected(selectionValue(key, taskId), task.rateBps, weightIn(audit, verifier), task.others)
}

/**
 * A verifier reveals its key for an epoch (one transaction: docs/verification.md, "Who checks
 * what"): every task of the epoch is tested against it. The tasks it was selected for are its
 * duty; a sampled vote on a task it was not selected for is void (so nobody takes a checker's
 * pay by voting where it was not drawn). Returns the counts recorded.
 */
export function revealKey(s: Overlay, audit: Audit, verifier: string, key: Uint8Array): [number, number] {
  let assigned = 0
  let done = 0
  for (const id of auditTaskIds(s, audit)) {
    const idHex = toHex(id)
    const task = getChecked(s, idHex)
    if (task === undefined || task.executor === verifier) continue
    const selected = selectedFor(key, id, task, audit, verifier)
    const vote = task.votes.find((v) => v.verifier === verifier)
    if (selected) {
      assigned++
      if (vote !== undefined) done++
    } else if (vote !== undefined && vote.ok && !vote.escalation) {
      putChecked(s, idHex, { ...task, votes: task.votes.filter((v) => v !== vote) })
    }
  }
  putAudit(s, {
    ...audit,
    duties: [...audit.duties, [verifier, assigned, done] as [string, number, number]].sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    ),
  })
  return [assigned, done]
}

function credit(s: Overlay, peer: string, amount: bigint): void {
  const a = getAccount(s, peer)
  putAccount(s, peer, { ...a, balance: a.balance + amount })
}

function burn(s: Overlay, amount: bigint): void {
  if (amount === 0n) return
  const supply = getSupply(s)
  putSupply(s, { ...supply, total: supply.total - amount, burned: supply.burned + amount })
}

/**
 * Close an epoch's audit (at the end of the next epoch, docs/verification.md "When"):
 * 1. each task is final: passed by at least one valid check → verified, its fee split between the
 *    executor and its checkers; no check → unchecked; still disputed → its fee is parked in the
 *    record, held until the dispute is decided; sampled votes of verifiers that never revealed
 *    their key are void. A fee that a forfeit (a conviction, a withheld reveal) took from the
 *    executor's held rewards since is not there to split or park: nothing of it moves;
 * 2. duty: a peer of the epoch that skipped more than `dutyToleranceBps` of its assigned checks
 *    (or revealed no key while there were others' tasks to check) forfeits the epoch's rewards;
 *    so does a peer convicted in the epoch or the next (its checkers' pay, credited in step 1);
 * 3. reputation grows by one for each peer of the epoch not convicted in it and not jailed now, up to
 *    the cap;
 * 4. the epoch's held rewards are paid, with the subsidy (src/ledger/economics/rewards.ts);
 * 5. audits `disputeEpochs` older are dropped: their undecided disputes close unproven (the
 *    executor is paid, a reporter gets its deposit back) and their records are pruned.
 */
export function closeAudit(s: Overlay, epoch: number, time: number): void {
  const params = getVerifyParams(s)
  const audit = getAudit(s, epoch)
  if (params === undefined || audit === undefined || audit.closed) return
  const revealed = new Set(audit.duties.map(([p]) => p))
  const executors = new Set<string>()
  // A forfeit takes everything an executor holds, so what it holds of the epoch now is the fees
  // of its tasks settled after its last forfeit: counted from the latest task back, a fee is
  // still held while this lasts (counted before any checker's pay is added below).
  const unspent = new Map(getHeld(s).flatMap(([p, e, a]) => (e === epoch ? [[p, a] as const] : [])))
  const stillHeld = (task: CheckedTask): bigint => {
    const left = unspent.get(task.executor) ?? 0n
    const kept = left < task.fee ? left : task.fee
    unspent.set(task.executor, left - kept)
    return kept
  }
  for (const id of [...auditTaskIds(s, audit)].reverse()) {
    const idHex = toHex(id)
    const task = getChecked(s, idHex)
    if (task === undefined) continue
    executors.add(task.executor)
    const votes = task.votes.filter((v) => v.escalation || revealed.has(v.verifier))
    let next: CheckedTask = { ...task, votes }
    if (task.status === 'open' || task.status === 'cleared') {
      const checkers = votes.filter((v) => v.ok).map((v) => v.verifier)
      for (const [peer, amount] of splitFee(stillHeld(task), task.executor, checkers)) {
        if (peer === task.executor || amount === 0n) continue
        addHeld(s, task.executor, epoch, -amount)
        addHeld(s, peer, epoch, amount)
      }
      if (task.status === 'open') next = { ...next, status: checkers.length > 0 ? 'verified' : 'unchecked' }
    } else if (task.status === 'disputed' && stillHeld(task) === task.fee) {
      addHeld(s, task.executor, epoch, -task.fee)
      next = { ...next, parked: true }
    }
    putChecked(s, idHex, next)
  }

  const skipped: string[] = []
  for (const [peer] of audit.weights) {
    const duty = audit.duties.find(([p]) => p === peer)
    const othersTasks = [...executors].some((e) => e !== peer)
    const failed =
      duty === undefined ? othersTasks : (duty[1] - duty[2]) * BPS > params.dutyToleranceBps * duty[1]
    if (failed) {
      skipped.push(peer)
      burn(s, takeHeld(s, peer, epoch))
    }
    const st = getStanding(s, peer)
    const jailed = st.jailedUntilEpoch > (getEpoch(s)?.number ?? 0)
    if (!jailed && !st.frauds.includes(epoch) && st.reputation < params.reputationCap)
      putStanding(s, peer, { ...st, reputation: st.reputation + 1 })
  }
  // A peer convicted in this epoch or the next forfeited what it held of this epoch when it was
  // convicted; its checkers' pay for the epoch, credited since (above), goes the same way: a
  // cheat loses all its rewards of the epoch (seed 004, "Reputation").
  for (const [peer, e] of getHeld(s)) {
    if (e !== epoch) continue
    const { frauds } = getStanding(s, peer)
    if (frauds.includes(epoch) || frauds.includes(epoch + 1)) burn(s, takeHeld(s, peer, epoch))
  }
  payEpoch(s, epoch, takeEpochHeld(s, epoch), audit.weights, time)
  putAudit(s, { ...audit, skipped, closed: true })
  dropOld(s, epoch - params.disputeEpochs)
}

/** Drop an old audit: close its undecided disputes as unproven and prune its records. */
function dropOld(s: Overlay, epoch: number): void {
  if (epoch < 0) return
  const audit = getAudit(s, epoch)
  if (audit === undefined) return
  for (const id of auditTaskIds(s, audit)) {
    const idHex = toHex(id)
    const task = getChecked(s, idHex)
    if (task === undefined) continue
    if (task.status === 'disputed') {
      // Nobody decided: the executor is paid the parked fee, a reporter gets its deposit back.
      if (task.parked) credit(s, task.executor, task.fee)
      if (task.reportDeposit > 0n) credit(s, task.client, task.reportDeposit)
    }
    putChecked(s, idHex, null)
  }
  dropAuditPages(s, audit)
  putAudit(s, null, epoch)
}

/** Pay held rewards of every epoch up to `epoch` (a chain without verification pays at once). */
export function payHeld(s: Overlay, upTo: number): void {
  for (const [peer, amount] of takeEpochHeld(s, upTo)) credit(s, peer, amount)
}
