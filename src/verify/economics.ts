import { BPS, checkRateBps, selectionChance } from '../ledger/verify/select.js'

/**
 * The expected profit of each way a host can cheat verification (SPEC 6, 7), against the same host
 * playing honestly, per epoch. Pure arithmetic over the verification rules; the test
 * `test/sim/verifyEconomics.test.ts` checks the probabilities it rests on against a simulation
 * that runs the real selection (`src/ledger/verify/select.ts`), and `npm run econ:verify` prints
 * the table.
 *
 * The rules modelled (the ledger's verification issue):
 * - a task's check rate is `checkRateBps(reputation, reputationCap, minCheckRateBps)`; each other
 *   weighted peer is selected independently, so a task gets `p` verifiers on average and at least
 *   one with probability `1 − Π(1 − qᵢ)`, which is `1 − e^(−p)` with many peers (see
 *   `checkedChance`: at p = 1 that is 63%, not 100%);
 * - a task checked by `n` honest verdicts pays `F/2` split among them, the executor keeps the rest,
 *   all paid at the audit at the end of the following epoch;
 * - confirmed fraud: held rewards forfeited, reputation to 0, `fraudSlashBps` of stake slashed,
 *   jailed `fraudJailEpochs` epochs, then reputation climbs back by 1 per epoch;
 * - skipping more than `dutyToleranceBps` of one's assigned checks in an epoch forfeits that
 *   epoch's held rewards; a rejected accusation costs the accuser its reputation and the check's pay.
 *
 * Choices, each on the side of making cheating look better than it is (so a negative row is a
 * safe conclusion): held rewards at conviction are one epoch's (they are between one and two: an
 * epoch's rewards wait for the audit at the end of the next); a jailed host loses only its
 * executor margin (not its verifier income); the chance a task is checked is the many-peer limit
 * `1 − e^(−p)`, the smallest it can be for a given `p`.
 */

/** Verification parameters (network config, `genesis.params`). */
export interface VerifyParams {
  /** Check rate of a fully reputed host, basis points. */
  minCheckRateBps: number
  /** Reputation (epochs without confirmed fraud) at which the check rate reaches its floor. */
  reputationCap: number
  /** Share of stake slashed on confirmed fraud, basis points. */
  fraudSlashBps: number
  /** Epochs a convicted host is jailed (no tasks, no income). */
  fraudJailEpochs: number
  /** Share of assigned checks a verifier may skip in an epoch without forfeiting, basis points. */
  dutyToleranceBps: number
  /** A client's deposit to report a task, in fees of a typical task. */
  reportDepositFees: number
}

/** Proposed mainnet defaults: every penalised strategy of `strategies` loses money at `TYPICAL_HOST`. */
export const MAINNET_VERIFY_PARAMS: VerifyParams = {
  minCheckRateBps: 100,
  reputationCap: 30,
  fraudSlashBps: 1000,
  fraudJailEpochs: 7,
  dutyToleranceBps: 1000,
  reportDepositFees: 10,
}

/** Proposed devnet defaults: more checks and shorter memory, so a small test network shows them. */
export const DEVNET_VERIFY_PARAMS: VerifyParams = {
  minCheckRateBps: 2000,
  reputationCap: 5,
  fraudSlashBps: 1000,
  fraudJailEpochs: 2,
  dutyToleranceBps: 1000,
  reportDepositFees: 10,
}

/** One host, as the economics sees it. Amounts are in any one unit (the tables use fees: fee = 1). */
export interface HostProfile {
  /** Tasks it executes per epoch. */
  tasksPerEpoch: number
  /** Fee of one task. */
  fee: number
  /** Compute cost of an honest answer, as a share of its fee (0..1). */
  costShare: number
  /** Compute cost of one replay check, as a share of the answer's compute (FINDINGS: about 0.07). */
  checkCostShare: number
  /** Bonded stake. */
  stake: number
  /** Its reputation (epochs without confirmed fraud). */
  reputation: number
  /** Output tokens of a typical answer. */
  tokensPerAnswer: number
  /**
   * Average check rate of the tasks on the network, basis points: with the host's share of tasks
   * equal to its share of weight, it is assigned `tasksPerEpoch × rate` checks per epoch. Defaults to
   * the host's own rate.
   */
  networkCheckRateBps?: number
}

/** A typical busy mainnet host: 500 tasks an epoch, compute 45% of the fee, stake of 3 epochs' fees. */
export const TYPICAL_HOST: HostProfile = {
  tasksPerEpoch: 500,
  fee: 1,
  costShare: 0.45,
  checkCostShare: 0.07,
  stake: 1500,
  reputation: 0,
  tokensPerAnswer: 256,
}

/** A way to play. `share` is the share of the host's tasks (or assigned checks) it applies to. */
export type Strategy =
  | {
      kind: 'execute'
      name: string
      /** Share of its own tasks it cheats on. */
      share: number
      /** Share of a cheated task's compute it saves. */
      saving: number
      /** Chance that one check of a cheated task finds it out. */
      detect: number
    }
  | { kind: 'skipChecks'; name: string; share: number | 'tolerance' }
  | { kind: 'rubberStamp'; name: string }
  | { kind: 'accuse'; name: string; perEpoch: number }

export interface Outcome {
  strategy: Strategy
  /** What it gains per epoch against playing honestly, before penalties. */
  savesPerEpoch: number
  /** Chance it is caught (convicted, or found short on duty, or its accusation rejected) in an epoch. */
  caughtPerEpoch: number
  /** What it loses, against playing honestly, when caught. */
  lossIfCaught: number
  /** `savesPerEpoch − caughtPerEpoch × lossIfCaught`. */
  netPerEpoch: number
}

/** Whether the strategy is one of the rules' penalised behaviours; `rubberStamp` is not (see `strategies`). */
export function coveredByRules(s: Strategy): boolean {
  return s.kind !== 'rubberStamp'
}

/** Chance a check finds a task with `tokens` output tokens each wrong with chance `rate`. */
export function detectChance(rate: number, tokens: number): number {
  return 1 - Math.pow(1 - rate, tokens)
}

/**
 * Chance a task at check rate `rateBps` gets at least one verifier, with many peers: `1 − e^(−p)`.
 * For any weights `Π(1 − qᵢ) ≤ e^(−Σqᵢ)`, so this is a lower bound; `checkedChanceAmong` is exact.
 */
export function checkedChance(rateBps: number): number {
  return 1 - Math.exp(-rateBps / BPS)
}

/** Exact chance a task gets at least one verifier, given the weights of the peers other than its executor. */
export function checkedChanceAmong(rateBps: number, weights: readonly number[]): number {
  const others = weights.reduce((a, w) => a + w, 0)
  let none = 1
  for (const w of weights) none *= 1 - selectionChance(rateBps, w, others)
  return 1 - none
}

/** Chance that at least one of `n` cheated tasks is caught, each checked with chance `checked`. */
export function caughtWithin(n: number, checked: number, detect: number): number {
  return 1 - Math.pow(1 - checked * detect, n)
}

/** The strategies of the report: the list, plus one the rules do not cover. */
export function strategies(profile: HostProfile): Strategy[] {
  const T = profile.tokensPerAnswer
  return [
    { kind: 'execute', name: 'fabricated answers on 1% of tasks', share: 0.01, saving: 1, detect: 1 },
    { kind: 'execute', name: 'fabricated answers on 10% of tasks', share: 0.1, saving: 1, detect: 1 },
    { kind: 'execute', name: 'fabricated answers on 100% of tasks', share: 1, saving: 1, detect: 1 },
    {
      kind: 'execute',
      name: `near-copy model, 1 token in 1,000 wrong, all tasks (d=${detectChance(0.001, T).toFixed(2)})`,
      share: 1,
      saving: 0.3,
      detect: detectChance(0.001, T),
    },
    { kind: 'execute', name: 'cheaper substitute model, all tasks', share: 1, saving: 0.6, detect: 0.95 },
    {
      kind: 'execute',
      name: 'cheaper substitute model, 10% of tasks',
      share: 0.1,
      saving: 0.6,
      detect: 0.95,
    },
    { kind: 'execute', name: 'truncated answers, all tasks', share: 1, saving: 0.5, detect: 1 },
    { kind: 'execute', name: 'ignores sampling settings, all tasks', share: 1, saving: 0.05, detect: 0.99 },
    { kind: 'execute', name: 'serves no task records, all tasks', share: 1, saving: 0.01, detect: 1 },
    { kind: 'skipChecks', name: 'skips all assigned checks', share: 1 },
    { kind: 'skipChecks', name: 'skips assigned checks up to the tolerance', share: 'tolerance' },
    { kind: 'accuse', name: 'accuses one honest task an epoch', perEpoch: 1 },
    { kind: 'rubberStamp', name: 'votes "honest" without checking (no rule covers it)' },
  ]
}

/** Everything `evaluate` derives from the params and the profile. */
class Host {
  readonly N: number
  readonly F: number
  constructor(
    readonly params: VerifyParams,
    readonly profile: HostProfile,
  ) {
    this.N = profile.tasksPerEpoch
    this.F = profile.fee
  }

  rate(reputation: number): number {
    return checkRateBps(reputation, this.params.reputationCap, this.params.minCheckRateBps)
  }

  /** Executor fees kept in an epoch at this reputation: checked tasks pay half to their verifiers. */
  revenue(reputation: number): number {
    return this.N * this.F * (1 - checkedChance(this.rate(reputation)) / 2)
  }

  /** Executor fees less compute. */
  margin(reputation: number): number {
    return this.revenue(reputation) - this.N * this.F * this.profile.costShare
  }

  get networkRate(): number {
    return this.profile.networkCheckRateBps ?? this.rate(this.profile.reputation)
  }

  /** Checks assigned per epoch: its share of all verifier slots, which is its share of the tasks. */
  get assignedChecks(): number {
    return (this.N * this.networkRate) / BPS
  }

  /**
   * Pay of one check: `F/2 / n`, where n counts itself and the others selected for that task; given
   * it is selected, the others are about Poisson(p), and E[1/(1 + Poisson(p))] = (1 − e^(−p)) / p.
   */
  get checkPay(): number {
    const p = this.networkRate / BPS
    return p > 0 ? ((this.F / 2) * (1 - Math.exp(-p))) / p : 0
  }

  get checkCost(): number {
    return this.F * this.profile.costShare * this.profile.checkCostShare
  }

  /** Rewards held for one epoch's work: executor fees plus check pay. */
  get heldPerEpoch(): number {
    return this.revenue(this.profile.reputation) + this.assignedChecks * this.checkPay
  }

  /**
   * Fees lost to extra checks while reputation climbs back from 0, starting `lag` epochs after it
   * was lost (the jail), against an honest host that kept climbing from its reputation.
   */
  rebuildLoss(lag: number): number {
    const R = this.profile.reputation
    const cap = this.params.reputationCap
    let loss = 0
    for (let k = 0; k <= cap; k++)
      loss += this.revenue(Math.min(R + lag + k, cap)) - this.revenue(Math.min(k, cap))
    return loss
  }
}

/** Expected per-epoch outcome of one strategy against honest play. */
export function evaluate(params: VerifyParams, profile: HostProfile, s: Strategy): Outcome {
  const h = new Host(params, profile)
  const R = profile.reputation
  let saves: number
  let caught: number
  let loss: number
  switch (s.kind) {
    case 'execute': {
      const cheated = s.share * h.N
      saves = cheated * s.saving * profile.costShare * h.F
      caught = 1 - Math.pow(1 - s.detect * checkedChance(h.rate(R)), cheated)
      const J = params.fraudJailEpochs
      let jail = 0
      for (let t = 1; t <= J; t++) jail += Math.max(0, h.margin(Math.min(R + t, params.reputationCap)))
      const slash = (profile.stake * params.fraudSlashBps) / BPS
      loss = h.heldPerEpoch + slash + jail + h.rebuildLoss(J)
      break
    }
    case 'skipChecks': {
      const tol = params.dutyToleranceBps / BPS
      const share = s.share === 'tolerance' ? tol : s.share
      const skipped = share * h.assignedChecks
      saves = skipped * h.checkCost
      // Up to the tolerance it loses only the skipped checks' pay, for sure; beyond it, the epoch's
      // held rewards too (skipped checks are public once the selection keys are revealed).
      const beyond = share > tol
      caught = skipped > 0 ? 1 : 0
      loss = skipped * h.checkPay + (beyond ? h.heldPerEpoch - h.assignedChecks * h.checkPay : 0)
      break
    }
    case 'accuse': {
      // It need not run the check it accuses; an honest majority rejects the accusation for sure.
      saves = s.perEpoch * h.checkCost
      caught = s.perEpoch > 0 ? 1 : 0
      loss = s.perEpoch * h.checkPay + h.rebuildLoss(0)
      break
    }
    case 'rubberStamp': {
      // No rule looks at an "honest" verdict again unless another verifier contradicts it on a
      // cheated task, and then the rules name no penalty for it.
      saves = h.assignedChecks * h.checkCost
      caught = 0
      loss = 0
      break
    }
  }
  return {
    strategy: s,
    savesPerEpoch: saves,
    caughtPerEpoch: caught,
    lossIfCaught: loss,
    netPerEpoch: saves - caught * loss,
  }
}

/** The table for one host: every strategy of `strategies`. */
export function economicsTable(params: VerifyParams, profile: HostProfile): Outcome[] {
  return strategies(profile).map((s) => evaluate(params, profile, s))
}

/**
 * The fewest tasks per epoch at which every strategy the rules cover loses money, scaling the
 * stake with the fees (`stakeEpochs` epochs of them); null if none up to `max`.
 */
export function breakEvenTasks(
  params: VerifyParams,
  profile: HostProfile,
  stakeEpochs: number,
  max = 100_000,
): number | null {
  const negative = (n: number): boolean => {
    const p = { ...profile, tasksPerEpoch: n, stake: stakeEpochs * n * profile.fee }
    return economicsTable(params, p).every((o) => !coveredByRules(o.strategy) || o.netPerEpoch < 0)
  }
  if (!negative(max)) return null
  let lo = 0
  let hi = max
  // Assumes that more tasks only deter more, which holds: every loss grows with n faster than the saving.
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2)
    if (negative(mid)) hi = mid
    else lo = mid
  }
  return hi
}
