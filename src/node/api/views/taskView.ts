import { getAudit, toHex, type CheckedTask, type CheckStatus } from '../../../ledger/index.js'
import type { StateReader } from '../../../ledger/index.js'

/**
 * What a user is told of a task's verification (docs/verification.md), in one word:
 * - `pending`: no verdict yet: the task is settling, or settled and its audit is still open, or a
 *   dispute is being decided;
 * - `verified`: a valid check passed it (its audit closed with one), or the majority cleared it;
 * - `fraud`: the majority convicted its executor;
 * - `unchecked`: its audit closed and nobody was drawn to check it (or the chain checks no tasks),
 *   or a dispute closed unproven: a failed check or a report that the majority never decided.
 *   Either way the chain vouches for nothing, so it is not `verified`, and nothing more will
 *   happen, so it is not `pending`;
 * - `unknown`: the chain dropped the task's record (`disputeEpochs` audits after its own closed)
 *   before this gateway read its final status.
 */
export type Verification = 'pending' | 'verified' | 'fraud' | 'unchecked' | 'unknown'

/** The verification a chain status means (see Verification). */
export function verificationOf(status: CheckStatus): Exclude<Verification, 'unknown'> {
  switch (status) {
    case 'open':
    case 'disputed':
      return 'pending'
    case 'verified':
    case 'cleared':
      return 'verified'
    case 'fraud':
      return 'fraud'
    case 'unchecked':
    case 'unproven':
      return 'unchecked'
  }
}

/** Whether a chain status can still change: open and disputed tasks may; the others are final. */
export function isFinal(status: CheckStatus): boolean {
  return status !== 'open' && status !== 'disputed'
}

/** The final verification a gateway keeps in its task record once it has read it. */
export type FinalVerification = 'verified' | 'fraud' | 'unchecked'

/** What `GET /tasks/:id` shows of the chain's record: amounts as decimal strings of base units. */
export interface ChainTaskView {
  status: CheckStatus
  /** The epoch it settled in: its audit's. */
  epoch: number
  /** Height of its settlement. */
  height: number
  executor: string
  client: string
  model: string
  fee: string
  /** Check rate fixed at settlement from the executor's reputation, basis points. */
  rateBps: number
  /** Hash of the settled receipt and its signature, hex. */
  receipt: string
  votes: Array<{
    verifier: string
    ok: boolean
    reason: string
    position: number
    expected: number
    /** The executor's token at `position`; -1: none (its output ended there). */
    actual: number
    escalation: boolean
  }>
  penalty: {
    refunded: string
    forfeited: string
    slashed: string
    bounty: string
    reporterReward: string
  } | null
  /** The client reported the task (escrowing `reportDeposit`). */
  reported: boolean
  reportDeposit: string
  /** Its audit closed (a report is no longer possible; an open task became verified or unchecked). */
  auditClosed: boolean
}

export function chainTaskView(state: StateReader, t: CheckedTask): ChainTaskView {
  return {
    status: t.status,
    epoch: t.epoch,
    height: t.height,
    executor: t.executor,
    client: t.client,
    model: t.model,
    fee: t.fee.toString(),
    rateBps: t.rateBps,
    receipt: toHex(t.receipt),
    votes: t.votes.map((v) => ({
      verifier: v.verifier,
      ok: v.ok,
      reason: v.reason,
      position: v.position,
      expected: v.expected,
      actual: v.actual,
      escalation: v.escalation,
    })),
    penalty:
      t.penalty === null
        ? null
        : {
            refunded: t.penalty.refunded.toString(),
            forfeited: t.penalty.forfeited.toString(),
            slashed: t.penalty.slashed.toString(),
            bounty: t.penalty.bounty.toString(),
            reporterReward: t.penalty.reporterReward.toString(),
          },
    reported: t.reportDeposit > 0n,
    reportDeposit: t.reportDeposit.toString(),
    // An audit no longer in state closed long ago.
    auditClosed: getAudit(state, t.epoch)?.closed ?? true,
  }
}

/** What is known of a task, for `taskVerification`. */
export interface TaskFacts {
  /** The chain's status, when it holds the task's record. */
  status: CheckStatus | undefined
  /** The chain checks tasks (its genesis has verification params). */
  verifying: boolean
  /** The gateway keeps a record of the task. */
  recorded: boolean
  /** The final verification the gateway saved in its record, if it saw one. */
  saved: FinalVerification | undefined
  /** The epoch the gateway's record was written in (absent in records of older versions). */
  recordEpoch: number | undefined
  /** The current epoch. */
  epoch: number
  /** Audits a dispute stays open after its own audit closed (the chain keeps a record this long). */
  disputeEpochs: number
}

/**
 * A task's verification from what the chain and the gateway know. The chain's status wins; without
 * one, a chain that checks nothing leaves every task unchecked; the gateway's saved verdict comes
 * next; a gateway record the chain cannot have dropped yet is still settling (its receipt is not
 * in a block); past that, the record was dropped unseen. Undefined: nobody knows the task.
 */
export function taskVerification(f: TaskFacts): Verification | undefined {
  if (f.status !== undefined) return verificationOf(f.status)
  if (!f.recorded) return undefined
  if (!f.verifying) return 'unchecked'
  if (f.saved !== undefined) return f.saved
  // A task settled in epoch E keeps its chain record until audit E + disputeEpochs closes, at the
  // end of epoch E + disputeEpochs + 1 (its receipt may land an epoch after the record was written).
  if (f.recordEpoch !== undefined && f.epoch <= f.recordEpoch + f.disputeEpochs + 2) return 'pending'
  return 'unknown'
}
