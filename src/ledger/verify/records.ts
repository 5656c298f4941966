import { read, amount } from '../codec.js'
import { CodecError } from '../errors.js'

/** Verification constants from genesis (docs/verification.md). Without them no task is checked. */
export interface VerifyParams {
  /** Check rate of a host at full reputation, basis points (a new host's is 10,000: every task). */
  minCheckRateBps: number
  /** Epochs of reputation at which the check rate reaches its floor. */
  reputationCap: number
  /** Share of a convicted executor's stake slashed, basis points. */
  fraudSlashBps: number
  /** Epochs a convicted executor is drawn for no task, after the one it was convicted in. */
  fraudJailEpochs: number
  /** Share of its assigned checks a peer may skip and keep its rewards, basis points. */
  dutyToleranceBps: number
  /** What a client escrows to report a task, base units. */
  reportDeposit: bigint
  /** Share of the forfeited rewards an upheld reporter receives, basis points. */
  reportRewardBps: number
  /** Audits a dispute stays open after its own audit closed; then it closes unproven. */
  disputeEpochs: number
}

/** A host's record of trust: SPEC 6.3. */
export interface Standing {
  /** Epochs without confirmed fraud, up to the cap; sets the check rate. */
  reputation: number
  /** Drawn for no task while the epoch is below this. */
  jailedUntilEpoch: number
  /** Epochs of its confirmed frauds, oldest first (the last 16). */
  frauds: number[]
  /** Accusations of its that the majority rejected. */
  falseAccusations: number
}

export const FRESH_STANDING: Standing = Object.freeze({
  reputation: 0,
  jailedUntilEpoch: 0,
  frauds: [],
  falseAccusations: 0,
}) as Standing

/**
 * Why a verdict failed: `token`, `end` (the replay rule, or an int8 audit's check of the output
 * against the committed logits), `record` (no record or openings that hold together), `product`
 * (an int8 audit: an opening or a product is wrong), `chain` (an int8 audit: the float glue
 * between committed products does not hold).
 */
export type VerifyReason = 'ok' | 'token' | 'end' | 'record' | 'product' | 'chain'
export const VERIFY_REASONS: readonly VerifyReason[] = ['ok', 'token', 'end', 'record', 'product', 'chain']

/** One verifier's verdict on a task, with its evidence. */
export interface CheckVote {
  verifier: string
  ok: boolean
  reason: VerifyReason
  /** The first output position that broke the rule (the output's length for an end), else 0. */
  position: number
  /** The token the rule picks there, and the executor's (-1: none), else 0. */
  expected: number
  actual: number
  /** Cast while the task was disputed (every weighted peer may vote), not as a sampled check. */
  escalation: boolean
}

/**
 * - `open`: settled, within its audit, no failed check;
 * - `disputed`: a failed check or a report started escalation, not decided yet;
 * - `fraud` / `cleared`: the weighted majority decided;
 * - `verified` / `unchecked`: its audit closed with / without a valid passing check;
 * - `unproven`: a dispute nobody decided within `disputeEpochs` audits.
 */
export type CheckStatus = 'open' | 'disputed' | 'fraud' | 'cleared' | 'verified' | 'unchecked' | 'unproven'
const STATUSES: readonly CheckStatus[] = [
  'open',
  'disputed',
  'fraud',
  'cleared',
  'verified',
  'unchecked',
  'unproven',
]

/** What a conviction moved, for people reading the task. */
export interface Penalty {
  /** Fee returned to the client. */
  refunded: bigint
  /** Held rewards the executor lost (all its unpaid ones). */
  forfeited: bigint
  slashed: bigint
  /** Paid to each verifier who voted fraud. */
  bounty: bigint
  /** Paid to an upheld reporter from the forfeit (its deposit comes back besides). */
  reporterReward: bigint
}

/** A settled task under verification: SPEC 3.1 "tasks: ... verification records, disputes". */
export interface CheckedTask {
  /** Epoch whose audit it belongs to: the one it settled in. */
  epoch: number
  executor: string
  client: string
  model: string
  fee: bigint
  /** Check rate fixed at settlement from the executor's reputation, basis points. */
  rateBps: number
  /** Weight of the epoch's peers but the executor: the denominator of selection and of decisions. */
  others: number
  /** Hash of the settled receipt and its signature (`receiptDigest`): the record must match it. */
  receipt: Uint8Array
  height: number
  status: CheckStatus
  votes: CheckVote[]
  /** The client's report deposit, 0 when it did not report. */
  reportDeposit: bigint
  /** The fee waits in this record (its audit closed while it was disputed). */
  parked: boolean
  penalty: Penalty | null
}

/** An epoch's audit: weights fixed when the epoch began, tasks, and each verifier's duty. */
export interface Audit {
  epoch: number
  /** (peer, weight), sorted by peer: who verifies, and how much each vote counts. */
  weights: Array<[string, number]>
  /** Tasks settled in the epoch (their ids are in pages of `AUDIT_PAGE`). */
  tasks: number
  /** Revealed keys' outcome: (peer, checks assigned, checks done). */
  duties: Array<[string, number, number]>
  /** Peers that lost the epoch's rewards for skipping checks (filled at close). */
  skipped: string[]
  closed: boolean
}

/** Task ids per index page: 4,096 × 33 bytes stays far below the state entry limit. */
export const AUDIT_PAGE = 4096

/** Rewards earned and not yet paid (SPEC 7): (peer, epoch earned, amount), sorted. */
export type HeldRewards = Array<[string, number, bigint]>

const pad = (n: number): string => String(n).padStart(12, '0')

export const VerifyKeys = {
  verifyParams: 'verifyParams',
  standing: (peer: string): string => `standing:${peer}`,
  checked: (idHex: string): string => `checked:${idHex}`,
  audit: (epoch: number): string => `audit:${pad(epoch)}`,
  auditPage: (epoch: number, page: number): string => `auditpage:${pad(epoch)}:${pad(page)}`,
} as const

const id = (v: unknown, what: string): string => read.string(v, 64, what)
const uint = (v: unknown, what: string): number => read.uint(v, what)

export const verifyParamsCodec = {
  encode: (p: VerifyParams): unknown => [
    p.minCheckRateBps,
    p.reputationCap,
    p.fraudSlashBps,
    p.fraudJailEpochs,
    p.dutyToleranceBps,
    amount(p.reportDeposit),
    p.reportRewardBps,
    p.disputeEpochs,
  ],
  decode: (v: unknown): VerifyParams => {
    const f = read.array(v, 8, 'verifyParams')
    const bps = (i: number, what: string): number => {
      const n = uint(f[i], what)
      if (n > 10_000) throw new CodecError('BAD_SHAPE', `${what}: at most 10000`, { what })
      return n
    }
    return {
      minCheckRateBps: bps(0, 'minCheckRateBps'),
      reputationCap: uint(f[1], 'reputationCap'),
      fraudSlashBps: bps(2, 'fraudSlashBps'),
      fraudJailEpochs: uint(f[3], 'fraudJailEpochs'),
      dutyToleranceBps: bps(4, 'dutyToleranceBps'),
      reportDeposit: read.amount(f[5], 'reportDeposit'),
      reportRewardBps: bps(6, 'reportRewardBps'),
      disputeEpochs: uint(f[7], 'disputeEpochs'),
    }
  },
}

export const standingCodec = {
  encode: (s: Standing): unknown => [s.reputation, s.jailedUntilEpoch, s.frauds, s.falseAccusations],
  decode: (v: unknown): Standing => {
    const [r, j, f, a] = read.array(v, 4, 'standing')
    return {
      reputation: uint(r, 'reputation'),
      jailedUntilEpoch: uint(j, 'jailedUntilEpoch'),
      frauds: read.uints(f, 16, 'frauds'),
      falseAccusations: uint(a, 'falseAccusations'),
    }
  },
}

const voteCodec = {
  encode: (x: CheckVote): unknown => [
    x.verifier,
    x.ok,
    x.reason,
    x.position,
    x.expected,
    x.actual + 1,
    x.escalation,
  ],
  decode: (v: unknown): CheckVote => {
    const [who, ok, reason, pos, exp, act, esc] = read.array(v, 7, 'vote')
    return {
      verifier: id(who, 'verifier'),
      ok: read.bool(ok, 'ok'),
      reason: readReason(reason),
      position: uint(pos, 'position'),
      expected: uint(exp, 'expected'),
      actual: uint(act, 'actual') - 1,
      escalation: read.bool(esc, 'escalation'),
    }
  },
}

export function readReason(v: unknown): VerifyReason {
  const r = read.string(v, 16, 'reason')
  if (!(VERIFY_REASONS as readonly string[]).includes(r))
    throw new CodecError('BAD_SHAPE', `reason: unknown ${r}`, { what: 'reason' })
  return r as VerifyReason
}

export const checkedTaskCodec = {
  encode: (t: CheckedTask): unknown => [
    t.epoch,
    t.executor,
    t.client,
    t.model,
    amount(t.fee),
    t.rateBps,
    t.others,
    t.receipt,
    t.height,
    t.status,
    t.votes.map(voteCodec.encode),
    amount(t.reportDeposit),
    t.parked,
    t.penalty === null
      ? null
      : [
          amount(t.penalty.refunded),
          amount(t.penalty.forfeited),
          amount(t.penalty.slashed),
          amount(t.penalty.bounty),
          amount(t.penalty.reporterReward),
        ],
  ],
  decode: (v: unknown): CheckedTask => {
    const f = read.array(v, 14, 'checked task')
    const status = read.string(f[9], 16, 'status')
    if (!(STATUSES as readonly string[]).includes(status))
      throw new CodecError('BAD_SHAPE', `status: unknown ${status}`, { what: 'status' })
    let penalty: Penalty | null = null
    if (f[13] !== null) {
      const [r, fo, s, b, rr] = read.array(f[13], 5, 'penalty')
      penalty = {
        refunded: read.amount(r, 'refunded'),
        forfeited: read.amount(fo, 'forfeited'),
        slashed: read.amount(s, 'slashed'),
        bounty: read.amount(b, 'bounty'),
        reporterReward: read.amount(rr, 'reporterReward'),
      }
    }
    return {
      epoch: uint(f[0], 'epoch'),
      executor: id(f[1], 'executor'),
      client: id(f[2], 'client'),
      model: read.string(f[3], 128, 'model'),
      fee: read.amount(f[4], 'fee'),
      rateBps: uint(f[5], 'rateBps'),
      others: uint(f[6], 'others'),
      receipt: read.bytes(f[7], 'receipt', 32),
      height: uint(f[8], 'height'),
      status: status as CheckStatus,
      votes: read.list(f[10], 100_000, 'votes').map(voteCodec.decode),
      reportDeposit: read.amount(f[11], 'reportDeposit'),
      parked: read.bool(f[12], 'parked'),
      penalty,
    }
  },
}

export const auditCodec = {
  encode: (a: Audit): unknown => [a.epoch, a.weights, a.tasks, a.duties, a.skipped, a.closed],
  decode: (v: unknown): Audit => {
    const [e, w, t, d, s, c] = read.array(v, 6, 'audit')
    return {
      epoch: uint(e, 'epoch'),
      weights: read.list(w, 100_000, 'weights').map((x) => {
        const [p, n] = read.array(x, 2, 'weight')
        return [id(p, 'peer'), uint(n, 'weight')] as [string, number]
      }),
      tasks: uint(t, 'tasks'),
      duties: read.list(d, 100_000, 'duties').map((x) => {
        const [p, a, n] = read.array(x, 3, 'duty')
        return [id(p, 'peer'), uint(a, 'assigned'), uint(n, 'done')] as [string, number, number]
      }),
      skipped: read.list(s, 100_000, 'skipped').map((x) => id(x, 'peer')),
      closed: read.bool(c, 'closed'),
    }
  },
}

export const auditPageCodec = {
  encode: (ids: Uint8Array[]): unknown => ids,
  decode: (v: unknown): Uint8Array[] =>
    read.list(v, AUDIT_PAGE, 'audit page').map((x) => read.bytes(x, 'task id', 32)),
}

export const heldCodec = {
  encode: (h: HeldRewards): unknown => h.map(([p, e, a]) => [p, e, amount(a)]),
  decode: (v: unknown): HeldRewards =>
    read.list(v, 1_000_000, 'held').map((x) => {
      const [p, e, a] = read.array(x, 3, 'held')
      return [id(p, 'peer'), uint(e, 'epoch'), read.amount(a, 'amount')] as [string, number, bigint]
    }),
}
