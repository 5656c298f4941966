import type { Overlay } from '../state/state.js'
import { getAccount, putAccount, getSupply, putSupply } from '../state/access.js'
import { getEpoch } from '../epoch/access.js'
import { getAudit, getStanding, putChecked, putStanding, takeHeld, weightIn } from './access.js'
import { BPS } from './select.js'
import type { Audit, CheckedTask, Penalty, VerifyParams } from './records.js'

/** Where a dispute stands: decided one way, or still open. */
export type Outcome = 'fraud' | 'cleared' | 'open'

/**
 * SPEC 6.3, seed 004 "Majority Verification": a dispute is decided by the weight of the votes,
 * counted with the epoch's weights. Fraud needs more than half the weight of every peer but the
 * executor; the dispute is cleared once the passing votes hold at least half, because fraud can
 * then no longer get a majority. In between it stays open (a false conviction costs more than a
 * late one).
 */
export function tally(task: CheckedTask, audit: Audit): Outcome {
  let fraud = 0
  let pass = 0
  for (const v of task.votes) {
    const w = weightIn(audit, v.verifier)
    if (v.ok) pass += w
    else fraud += w
  }
  if (task.others <= 0) return 'open'
  if (2 * fraud > task.others) return 'fraud'
  if (2 * pass >= task.others) return 'cleared'
  return 'open'
}

/** Decide a disputed task if its votes now suffice, applying what follows. */
export function settleDispute(s: Overlay, idHex: string, task: CheckedTask, params: VerifyParams): void {
  const audit = getAudit(s, task.epoch)
  if (audit === undefined || task.status !== 'disputed') return
  const outcome = tally(task, audit)
  if (outcome === 'fraud') convict(s, idHex, task, params)
  else if (outcome === 'cleared') clear(s, idHex, task, audit)
}

function credit(s: Overlay, peer: string, amount: bigint): void {
  if (amount === 0n) return
  const a = getAccount(s, peer)
  putAccount(s, peer, { ...a, balance: a.balance + amount })
}

function burn(s: Overlay, amount: bigint): void {
  if (amount === 0n) return
  const supply = getSupply(s)
  putSupply(s, { ...supply, total: supply.total - amount, burned: supply.burned + amount })
}

/**
 * Confirmed fraud (docs/verification.md, "Penalties"): the client gets the task's fee back; the
 * executor forfeits every reward it holds, its reputation goes to 0, `fraudSlashBps` of its stake
 * is slashed and it is jailed; each verifier that voted fraud gets a bounty from the slash of at
 * most its share of the check's pay (half the fee); an upheld reporter gets its deposit back and
 * `reportRewardBps` of the forfeit. Everything else forfeited or slashed is burned.
 */
function convict(s: Overlay, idHex: string, task: CheckedTask, params: VerifyParams): void {
  const epoch = getEpoch(s)?.number ?? task.epoch
  // The fee is parked in the record, or among the executor's held rewards, which are all forfeited:
  // the client is refunded first from them, and from the executor's stake when an earlier
  // conviction took them already.
  const pool = takeHeld(s, task.executor)
  const fromHeld = task.parked ? 0n : pool < task.fee ? pool : task.fee
  const forfeited = pool - fromHeld
  let acct = getAccount(s, task.executor)
  const owed = task.fee - (task.parked ? task.fee : fromHeld)
  const fromStake = owed < acct.stake ? owed : acct.stake
  const refunded = task.fee - owed + fromStake
  acct = { ...acct, stake: acct.stake - fromStake }
  credit(s, task.client, refunded)
  const reporterReward =
    task.reportDeposit > 0n ? (forfeited * BigInt(params.reportRewardBps)) / BigInt(BPS) : 0n
  credit(s, task.client, task.reportDeposit + reporterReward)
  burn(s, forfeited - reporterReward)

  const slashed = (acct.stake * BigInt(params.fraudSlashBps)) / BigInt(BPS)
  // Read again: an executor that was its own client was credited above.
  putAccount(s, task.executor, { ...getAccount(s, task.executor), stake: acct.stake - slashed })
  const accusers = task.votes.filter((v) => !v.ok).map((v) => v.verifier)
  const n = BigInt(Math.max(1, accusers.length))
  const capBySlash = slashed / n
  const capByPay = task.fee / 2n / n
  const bounty = capBySlash < capByPay ? capBySlash : capByPay
  for (const a of accusers) credit(s, a, bounty)
  burn(s, slashed - bounty * BigInt(accusers.length))

  // A verifier that passed a task the majority convicts vouched for a wrong answer: it loses its
  // reputation as a false accuser does (it is paid nothing for the check: there is no fee left).
  for (const v of task.votes) {
    if (!v.ok) continue
    const vs = getStanding(s, v.verifier)
    putStanding(s, v.verifier, { ...vs, reputation: 0 })
  }
  const st = getStanding(s, task.executor)
  putStanding(s, task.executor, {
    ...st,
    reputation: 0,
    jailedUntilEpoch: Math.max(st.jailedUntilEpoch, epoch + 1 + params.fraudJailEpochs),
    frauds: [...st.frauds, epoch].slice(-16),
  })
  const penalty: Penalty = { refunded, forfeited, slashed, bounty, reporterReward }
  putChecked(s, idHex, { ...task, status: 'fraud', parked: false, penalty })
}

/**
 * A rejected accusation: every verifier that voted fraud loses its reputation (and is not paid
 * for the check); a reporter's deposit goes to the verifiers who passed the task. The fee is paid
 * as for a verified task: at the audit's close, or now when the audit already closed.
 */
function clear(s: Overlay, idHex: string, task: CheckedTask, audit: Audit): void {
  for (const v of task.votes) {
    if (v.ok) continue
    const st = getStanding(s, v.verifier)
    putStanding(s, v.verifier, { ...st, reputation: 0, falseAccusations: st.falseAccusations + 1 })
  }
  const passers = task.votes.filter((v) => v.ok).map((v) => v.verifier)
  if (task.reportDeposit > 0n && passers.length > 0) {
    const each = task.reportDeposit / BigInt(passers.length)
    for (const p of passers) credit(s, p, each)
    burn(s, task.reportDeposit - each * BigInt(passers.length))
  }
  if (audit.closed && task.parked) {
    for (const [peer, amount] of splitFee(task.fee, task.executor, passers)) credit(s, peer, amount)
  }
  putChecked(s, idHex, { ...task, status: 'cleared', parked: false })
}

/**
 * Seed 004, "a host checked on every task earns half": a verified task's fee goes half to the
 * verifiers who passed it, in equal shares, and the rest (with the rounding) to the executor.
 */
export function splitFee(
  fee: bigint,
  executor: string,
  checkers: readonly string[],
): Array<[string, bigint]> {
  if (checkers.length === 0) return [[executor, fee]]
  const each = fee / 2n / BigInt(checkers.length)
  const out: Array<[string, bigint]> = checkers.map((c) => [c, each])
  out.push([executor, fee - each * BigInt(checkers.length)])
  return out
}
