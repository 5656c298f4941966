import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Stream } from '../../src/race/prng.js'
import {
  BPS,
  checkRateBps,
  isSelected,
  selectionChance,
  selectionValue,
} from '../../src/ledger/verify/select.js'
import {
  DEVNET_VERIFY_PARAMS,
  MAINNET_VERIFY_PARAMS,
  TYPICAL_HOST,
  caughtWithin,
  checkedChance,
  checkedChanceAmong,
  coveredByRules,
  detectChance,
  economicsTable,
  type VerifyParams,
} from '../../src/verify/economics.js'

// Verification economics (SPEC 6, 7) on a fake clock: hosts, epochs, tasks and checks as plain
// data, selection by the ledger's own functions over seeded 64-byte keys and 32-byte task ids.
// Every statistical assertion allows Z standard deviations, computed here from the model, so a
// correct implementation fails with chance below 1e-6 per assertion and a wrong rate still fails.

/** Seed of every run; set CORDEX_SIM_SEED to explore others (a failure names its seed). */
const SEED = Number(process.env.CORDEX_SIM_SEED ?? 20261107)
const Z = 5

/** Seeded randomness over the Race's AES-CTR stream (never Math.random). */
class Rand {
  private readonly s: Stream
  constructor(seed: number, stream: number) {
    const key = new Uint8Array(32)
    new DataView(key.buffer).setUint32(0, seed >>> 0)
    this.s = new Stream(key, stream)
  }
  bytes(n: number): Uint8Array {
    const w = this.s.words(Math.ceil(n / 4))
    return new Uint8Array(w.buffer, w.byteOffset, n).slice()
  }
  /** Uniform in [0, 1). */
  float(): number {
    return this.s.next() / 2 ** 32
  }
  int(n: number): number {
    return Math.floor(this.float() * n)
  }
  /** An index drawn with probability proportional to `weights[i]` (zero weights never). */
  pick(weights: readonly number[]): number {
    const total = weights.reduce((a, w) => a + w, 0)
    let x = this.float() * total
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i]!
      if (x < 0 && weights[i]! > 0) return i
    }
    return weights.findLastIndex((w) => w > 0)
  }
  /** How many of `tokens` output tokens come out wrong, each with chance `rate`. */
  wrongTokens(rate: number, tokens: number): number {
    if (rate >= 1) return tokens
    let k = 0
    for (let i = 0; i < tokens; i++) if (this.float() < rate) k++
    return k
  }
}

/**
 * The peers selected to check a task (SPEC 6.1): every peer with weight but the executor, each by
 * its own per-epoch key. `weights[i] = 0` marks a peer that is not eligible (no weight, or jailed).
 */
function selectVerifiers(
  keys: readonly Uint8Array[],
  weights: readonly number[],
  executor: number,
  taskId: Uint8Array,
  rateBps: number,
): number[] {
  const others = weights.reduce((a, w, i) => (i === executor ? a : a + w), 0)
  const out: number[] = []
  for (let i = 0; i < weights.length; i++) {
    if (i === executor || weights[i]! <= 0) continue
    if (isSelected(selectionValue(keys[i]!, taskId), rateBps, weights[i]!, others)) out.push(i)
  }
  return out
}

function epochKeys(rnd: Rand, n: number): Uint8Array[] {
  return Array.from({ length: n }, () => rnd.bytes(64))
}

function withinBinomial(k: number, trials: number, p: number): { ok: boolean; bound: number } {
  const bound = Z * Math.sqrt((p * (1 - p)) / trials) + 1 / trials
  return { ok: Math.abs(k / trials - p) <= bound, bound }
}

test('(a) a task gets p verifiers on average, at every reputation, each verifier in proportion to its weight', (t) => {
  const rnd = new Rand(SEED, 1)
  const H = 40
  const weights = Array.from({ length: H }, () => 1 + rnd.int(20))
  const cases: [string, VerifyParams, number, number][] = [
    ['mainnet', MAINNET_VERIFY_PARAMS, 0, 3000],
    ['mainnet', MAINNET_VERIFY_PARAMS, 15, 3000],
    ['mainnet', MAINNET_VERIFY_PARAMS, 30, 30_000],
    ['devnet', DEVNET_VERIFY_PARAMS, 5, 5000],
  ]
  for (const [net, params, reputation, tasks] of cases) {
    const rate = checkRateBps(reputation, params.reputationCap, params.minCheckRateBps)
    const perPeer = new Array<number>(H).fill(0)
    const expected = new Array<number>(H).fill(0)
    const variance = new Array<number>(H).fill(0)
    let keys = epochKeys(rnd, H)
    for (let k = 0; k < tasks; k++) {
      if (k % 500 === 0) keys = epochKeys(rnd, H) // a new epoch, new selection keys
      const executor = rnd.pick(weights)
      const others = weights.reduce((a, w, i) => (i === executor ? a : a + w), 0)
      for (const v of selectVerifiers(keys, weights, executor, rnd.bytes(32), rate)) perPeer[v]!++
      for (let i = 0; i < H; i++) {
        if (i === executor) continue
        const q = selectionChance(rate, weights[i]!, others)
        expected[i]! += q
        variance[i]! += q * (1 - q)
      }
    }
    const total = perPeer.reduce((a, x) => a + x, 0)
    const sd = Math.sqrt(variance.reduce((a, x) => a + x, 0))
    const mean = total / tasks
    t.diagnostic(
      `${net} reputation ${reputation}: p = ${rate / BPS}, ${mean.toFixed(4)} verifiers per task over ${tasks} tasks ` +
        `(allowed ±${((Z * sd + 1) / tasks).toFixed(4)})`,
    )
    assert.ok(
      Math.abs(total - (tasks * rate) / BPS) <= Z * sd + 1,
      `seed ${SEED}: ${net} reputation ${reputation}: ${mean} verifiers per task, expected ${rate / BPS}`,
    )
    for (let i = 0; i < H; i++)
      assert.ok(
        Math.abs(perPeer[i]! - expected[i]!) <= Z * Math.sqrt(variance[i]!) + 1,
        `seed ${SEED}: peer ${i} (weight ${weights[i]}) selected ${perPeer[i]} times, expected ${expected[i]!.toFixed(1)}`,
      )
  }
})

test('(b) the chance a cheater is caught within n cheated tasks is 1 − (1 − P(checked)·d)^n', (t) => {
  const rnd = new Rand(SEED, 2)
  const H = 16
  const weights = Array.from({ length: H }, () => 1 + rnd.int(20))
  const executor = 0
  const otherWeights = weights.filter((_, i) => i !== executor)
  // [params, reputation, per-token error rate, tokens per answer, cheated tasks n, trials]
  const cases: [VerifyParams, number, number, number, number, number][] = [
    [MAINNET_VERIFY_PARAMS, 0, 1, 32, 1, 4000], // fabricated answer, new host
    [MAINNET_VERIFY_PARAMS, 0, 0.011, 32, 3, 3000], // d ≈ 0.30
    [DEVNET_VERIFY_PARAMS, 5, 1, 32, 5, 3000],
    [MAINNET_VERIFY_PARAMS, 27, 0.0108, 64, 10, 2000], // p ≈ 0.11, d ≈ 0.50
    [MAINNET_VERIFY_PARAMS, 30, 1, 32, 100, 800], // the floor, p = 0.01
  ]
  for (const [params, reputation, errorRate, tokens, n, trials] of cases) {
    const rate = checkRateBps(reputation, params.reputationCap, params.minCheckRateBps)
    const d = detectChance(errorRate, tokens)
    const checked = checkedChanceAmong(rate, otherWeights)
    const predicted = caughtWithin(n, checked, d)
    let caught = 0
    for (let trial = 0; trial < trials; trial++) {
      const keys = epochKeys(rnd, H)
      for (let k = 0; k < n; k++) {
        const wrong = rnd.wrongTokens(errorRate, tokens)
        const verifiers = selectVerifiers(keys, weights, executor, rnd.bytes(32), rate)
        // A replay check finds the first wrong token, if there is one (SPEC 6.2).
        if (verifiers.length > 0 && wrong > 0) {
          caught++
          break
        }
      }
    }
    const naive = caughtWithin(n, rate / BPS, d)
    const { ok, bound } = withinBinomial(caught, trials, predicted)
    t.diagnostic(
      `p = ${rate / BPS}, P(checked) = ${checked.toFixed(4)}, d = ${d.toFixed(3)}, n = ${n}: caught ${caught}/${trials} = ` +
        `${(caught / trials).toFixed(4)}, predicted ${predicted.toFixed(4)} ± ${bound.toFixed(4)} (1 − (1 − p·d)^n = ${naive.toFixed(4)})`,
    )
    assert.ok(ok, `seed ${SEED}: caught ${caught}/${trials}, predicted ${predicted}`)
    // The economics uses the many-peer limit, which must not overstate the chance of a check.
    assert.ok(checkedChance(rate) <= checked + 1e-12)
  }
})

interface Behaviour {
  /** Share of its tasks answered wrongly. */
  cheatShare: number
  /** On a cheated task: chance each token is wrong, and share of compute saved. */
  tokenErrorRate: number
  saving: number
  /** Share of assigned checks it skips. */
  skipShare: number
  /** Votes "fraud" on every check it is assigned. */
  liar: boolean
}

const HONEST: Behaviour = { cheatShare: 0, tokenErrorRate: 0, saving: 0, skipShare: 0, liar: false }

/** The verification rules of one network over many epochs, as a pure state machine. */
class Economy {
  readonly H: number
  readonly rep: number[]
  readonly jailedUntil: number[]
  readonly stake: number[]
  readonly paid: number[]
  readonly spent: number[]
  readonly convictions: number[]
  readonly rejectedAccusations: number[]
  readonly forfeitedForDuty: number[]
  burned = 0
  /** Honest hosts convicted: must stay empty. */
  readonly wrongVerdicts: string[] = []
  private readonly held = new Map<number, number[]>()

  constructor(
    readonly params: VerifyParams,
    readonly weights: readonly number[],
    readonly behaviour: readonly Behaviour[],
    reputation: readonly number[],
    readonly rnd: Rand,
    readonly fee = 1000,
    readonly costShare = 0.45,
    readonly checkCostShare = 0.07,
    readonly tokens = 64,
  ) {
    this.H = weights.length
    this.rep = [...reputation]
    this.jailedUntil = new Array<number>(this.H).fill(0)
    this.stake = new Array<number>(this.H).fill(100 * fee)
    this.paid = new Array<number>(this.H).fill(0)
    this.spent = new Array<number>(this.H).fill(0)
    this.convictions = new Array<number>(this.H).fill(0)
    this.rejectedAccusations = new Array<number>(this.H).fill(0)
    this.forfeitedForDuty = new Array<number>(this.H).fill(0)
  }

  profit(i: number): number {
    return this.paid[i]! - this.spent[i]!
  }

  private heldOf(epoch: number): number[] {
    let h = this.held.get(epoch)
    if (h === undefined) this.held.set(epoch, (h = new Array<number>(this.H).fill(0)))
    return h
  }

  /** One epoch of `tasks` tasks, then the duty check, the audit of the epoch before, and reputation. */
  epoch(e: number, tasks: number): void {
    const { params, weights, behaviour, rnd, fee } = this
    const keys = epochKeys(rnd, this.H)
    const assigned = new Array<number>(this.H).fill(0)
    const skipped = new Array<number>(this.H).fill(0)
    const convictedNow = new Set<number>()
    const held = this.heldOf(e)
    const checkCost = Math.round(fee * this.costShare * this.checkCostShare)
    for (let k = 0; k < tasks; k++) {
      const eligible = weights.map((w, i) => (this.jailedUntil[i]! > e ? 0 : w))
      const x = rnd.pick(eligible)
      const b = behaviour[x]!
      const cheated = rnd.float() < b.cheatShare
      const wrong = cheated ? rnd.wrongTokens(b.tokenErrorRate, this.tokens) : 0
      this.spent[x]! += Math.round(fee * this.costShare * (cheated ? 1 - b.saving : 1))
      const rate = checkRateBps(this.rep[x]!, params.reputationCap, params.minCheckRateBps)
      const fraudVotes: number[] = []
      const honestVotes: number[] = []
      for (const v of selectVerifiers(keys, eligible, x, rnd.bytes(32), rate)) {
        assigned[v]!++
        if (rnd.float() < behaviour[v]!.skipShare) {
          skipped[v]!++
          continue
        }
        if (behaviour[v]!.liar) {
          fraudVotes.push(v)
          continue
        }
        this.spent[v]! += checkCost
        ;(wrong > 0 ? fraudVotes : honestVotes).push(v)
      }
      if (fraudVotes.length > 0 && this.escalate(eligible, x, wrong)) {
        // SPEC 6.3: confirmed fraud. Every unpaid reward is forfeited (the task's fee is refunded).
        if (!cheated) this.wrongVerdicts.push(`epoch ${e}: host ${x} convicted of an honest task`)
        this.convictions[x]!++
        convictedNow.add(x)
        for (const [, h] of this.held) {
          this.burned += h[x]!
          h[x] = 0
        }
        this.rep[x] = 0
        const slash = Math.floor((this.stake[x]! * params.fraudSlashBps) / BPS)
        this.stake[x]! -= slash
        this.jailedUntil[x] = e + 1 + params.fraudJailEpochs
        // Bounty from the slash, never more than the check would have paid.
        const bounty = Math.min(
          Math.floor(fee / 2 / fraudVotes.length),
          Math.floor(slash / fraudVotes.length),
        )
        for (const v of fraudVotes) held[v]! += bounty
        this.burned += slash - bounty * fraudVotes.length
        continue
      }
      for (const v of fraudVotes) {
        // Rejected accusation: the accuser's reputation and its pay for this check.
        this.rejectedAccusations[v]!++
        this.rep[v] = 0
      }
      const n = honestVotes.length
      const share = n > 0 ? Math.floor(fee / 2 / n) : 0
      for (const v of honestVotes) held[v]! += share
      held[x]! += fee - share * n
    }
    // Duty: more than the tolerance skipped forfeits this epoch's held rewards.
    for (let i = 0; i < this.H; i++)
      if (assigned[i]! > 0 && skipped[i]! * BPS > assigned[i]! * params.dutyToleranceBps) {
        this.forfeitedForDuty[i]!++
        this.burned += held[i]!
        held[i] = 0
      }
    // The audit at the end of this epoch pays the epoch before.
    const due = this.held.get(e - 1)
    if (due !== undefined) {
      for (let i = 0; i < this.H; i++) this.paid[i]! += due[i]!
      this.held.delete(e - 1)
    }
    for (let i = 0; i < this.H; i++)
      if (!convictedNow.has(i) && this.jailedUntil[i]! <= e)
        this.rep[i] = Math.min(this.rep[i]! + 1, params.reputationCap)
  }

  /**
   * Escalation (SPEC 6.3): every eligible peer but the executor re-checks, liars say "fraud", and
   * fraud stands when more than half of the voting weight says so.
   */
  private escalate(eligible: readonly number[], executor: number, wrong: number): boolean {
    let fraud = 0
    let total = 0
    for (let i = 0; i < this.H; i++) {
      if (i === executor || eligible[i]! <= 0) continue
      total += eligible[i]!
      if (this.behaviour[i]!.liar || wrong > 0) fraud += eligible[i]!
    }
    return 2 * fraud > total
  }
}

test('(c, e) over 60 epochs: honest hosts are never convicted, cheaters and duty-skippers end behind', (t) => {
  const rnd = new Rand(SEED, 3)
  const params = DEVNET_VERIFY_PARAMS
  const cap = params.reputationCap
  const H = 30
  const behaviour: Behaviour[] = Array.from({ length: H }, () => HONEST)
  const weights = Array.from({ length: H }, () => 1 + rnd.int(20))
  const reputation = Array.from({ length: H }, () => rnd.int(cap + 1))
  const DUTIFUL = 0
  const SKIPPER = 1
  const CHEATER = 2
  const TWIN = 3
  const SUBTLE = 4
  const LIAR = 5
  // Pairs with equal weight and starting reputation, so that only their behaviour differs.
  for (const i of [DUTIFUL, SKIPPER, CHEATER, TWIN, SUBTLE]) weights[i] = 10
  reputation[DUTIFUL] = reputation[SKIPPER] = reputation[SUBTLE] = cap
  reputation[CHEATER] = reputation[TWIN] = 0
  behaviour[SKIPPER] = { ...HONEST, skipShare: 0.5 }
  behaviour[CHEATER] = { ...HONEST, cheatShare: 1, tokenErrorRate: 1, saving: 1 }
  behaviour[SUBTLE] = { ...HONEST, cheatShare: 0.1, tokenErrorRate: 0.01, saving: 0.3 }
  behaviour[LIAR] = { ...HONEST, liar: true }
  weights[LIAR] = 20
  const total = weights.reduce((a, w) => a + w, 0)
  assert.ok(2 * weights[LIAR]! < total, 'the liar holds less than half of the weight')

  const econ = new Economy(params, weights, behaviour, reputation, rnd)
  const EPOCHS = 60
  for (let e = 0; e < EPOCHS; e++) econ.epoch(e, 600)
  econ.epoch(EPOCHS, 0) // the last audit

  const show = (i: number): string =>
    `profit ${econ.profit(i)}, convicted ${econ.convictions[i]}, duty forfeits ${econ.forfeitedForDuty[i]}, ` +
    `rejected accusations ${econ.rejectedAccusations[i]}`
  for (const [name, i] of Object.entries({ DUTIFUL, SKIPPER, CHEATER, TWIN, SUBTLE, LIAR }))
    t.diagnostic(`${name}: ${show(i)}`)

  // (c) No honest host convicted, although the liar accused every task it was asked to check.
  assert.deepEqual(econ.wrongVerdicts, [], `seed ${SEED}`)
  for (let i = 0; i < H; i++)
    if (behaviour[i]!.cheatShare === 0) assert.equal(econ.convictions[i], 0, `host ${i}`)
  assert.ok(
    econ.rejectedAccusations[LIAR]! > 0,
    `seed ${SEED}: the liar was never selected, so (c) tested nothing`,
  )
  // Fraud is found: the full-time cheater starts new, is checked at rate 1, and is convicted.
  assert.ok(econ.convictions[CHEATER]! >= 1, `seed ${SEED}: ${show(CHEATER)}`)
  assert.ok(
    econ.profit(CHEATER) < econ.profit(TWIN),
    `seed ${SEED}: cheater ${show(CHEATER)}; twin ${show(TWIN)}`,
  )
  // (e) Skipping half of one's checks forfeits the epochs' rewards: less than the dutiful peer.
  assert.ok(econ.forfeitedForDuty[SKIPPER]! > 0)
  assert.equal(econ.forfeitedForDuty[DUTIFUL], 0)
  assert.ok(
    econ.profit(SKIPPER) < econ.profit(DUTIFUL),
    `seed ${SEED}: skipper ${show(SKIPPER)}; dutiful ${show(DUTIFUL)}`,
  )
})

test('(d) at the default params every penalised strategy loses money, at every reputation', (t) => {
  for (const [net, params] of [
    ['mainnet', MAINNET_VERIFY_PARAMS],
    ['devnet', DEVNET_VERIFY_PARAMS],
  ] as const) {
    for (const reputation of [0, Math.floor(params.reputationCap / 2), params.reputationCap]) {
      for (const o of economicsTable(params, { ...TYPICAL_HOST, reputation })) {
        if (!coveredByRules(o.strategy)) {
          t.diagnostic(
            `${net} reputation ${reputation}: "${o.strategy.name}" nets ${o.netPerEpoch.toFixed(2)} fees per epoch`,
          )
          continue
        }
        assert.ok(
          o.netPerEpoch < 0,
          `${net} reputation ${reputation}: "${o.strategy.name}" nets ${o.netPerEpoch} fees per epoch`,
        )
      }
    }
  }
})
