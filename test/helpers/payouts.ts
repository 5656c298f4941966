import type { ChainTaskView, HostView } from '../../src/node/index.js'
import type { PayoutView } from '../../src/node/api/routes/supply.js'

// Issue 12: every host's payout over a devnet run, recomputed in the test from what the ledger
// shows, by the rules of docs/economics.md ("Epoch rewards", "The subsidy schedule") and
// docs/verification.md ("Pay for checking, and duty", "Penalties"). The arithmetic is this file's
// own: it imports nothing from src/ledger/economics or src/ledger/verify.
//
// Taken from the ledger as inputs (facts, not results): each task's record (epoch, height,
// executor, fee, final status, the votes that stand), the epochs of each host's convictions, each
// host's duty verdict per audit, the Race's commits and reveals, each epoch's weights, and the
// block time of each payout. Recomputed: what each host holds for the epoch (f_h), who earns the
// subsidy, the subsidy by the schedule, the minimum issuance, each host's share, what is minted,
// and what was minted before each payout.

/** What the recomputation needs of the genesis (config.json's `genesis`; amounts as strings). */
export interface EconGenesis {
  time: number
  accounts: Array<{ balance: string; stake: string }>
  economics: {
    supplyCap: string
    batchSize: string
    firstRatioBps: number
    decayBps: number
    minIssuanceBps: number
    yearMs: number
    minWorkBps: number
  }
}

type Get = <T>(path: string) => Promise<{ status: number; body: T }>

/** A Race's end of reveals: the committers that did not reveal forfeit what they hold then. */
interface RaceSeen {
  /** Height of the block that ended the reveal phase (the starting gun); null if not seen. */
  gun: number | null
  commits: string[]
  reveals: string[]
}

/**
 * What the ledger shows for a while and then forgets, kept as a run goes: a task's record is
 * pruned `disputeEpochs` audits after its own closes, and so are the audits that say who skipped
 * their checks. Polls one daemon every `intervalMs`.
 */
export class LedgerWatch {
  /** Last record seen of each task (kept once final: its audit closed and its status decided). */
  readonly tasks = new Map<string, ChainTaskView>()
  /** Per closed audit seen: each peer's duty verdict (true: it forfeited the epoch for skipping). */
  readonly skipped = new Map<number, Map<string, boolean>>()
  /** Per audit seen: each listed peer's weight in the epoch. */
  readonly weights = new Map<number, Map<string, number>>()
  /** Epochs of each peer's convictions (the epoch in which each was decided). */
  readonly frauds = new Map<string, number[]>()
  readonly races = new Map<number, RaceSeen>()
  private timer: NodeJS.Timeout | undefined
  private polling: Promise<void> | undefined
  private stopped = false

  constructor(
    private readonly get: Get,
    private readonly peers: () => string[],
    private readonly taskIds: () => string[],
  ) {}

  start(intervalMs = 2000): void {
    this.timer = setInterval(() => {
      this.polling ??= this.poll()
        .catch(() => {})
        .finally(() => (this.polling = undefined))
    }, intervalMs)
  }

  /** Stop polling, after one last look (the first call only). */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.timer)
    await this.polling
    await this.poll()
  }

  async poll(): Promise<void> {
    for (const id of this.taskIds()) {
      const seen = this.tasks.get(id)
      if (seen !== undefined && seen.auditClosed && seen.status !== 'open' && seen.status !== 'disputed')
        continue
      const r = await this.get<{ chain: ChainTaskView | null }>(`/tasks/${id}`).catch(() => undefined)
      if (r?.status === 200 && r.body.chain !== null) this.tasks.set(id, r.body.chain)
    }
    const views: HostView[] = []
    for (const peer of this.peers()) {
      const r = await this.get<HostView>(`/hosts/${peer}`).catch(() => undefined)
      if (r?.status === 200) views.push(r.body)
    }
    // A peer with weight in an epoch is listed in that audit; one not listed had none, and a peer
    // without weight has no duty to skip (docs/verification.md, "Duty": peers with weight). What a
    // listing says always stands; "not listed" is kept only where nothing was known (the audit may
    // have been dropped between two peers' answers).
    const present = new Set(views.flatMap((v) => v.audits.map((a) => a.epoch)))
    const closed = new Set(views.flatMap((v) => v.audits.filter((a) => a.closed).map((a) => a.epoch)))
    const note = <T>(
      m: Map<number, Map<string, T>>,
      e: number,
      peer: string,
      value: T,
      listed: boolean,
    ): void => {
      const byPeer = m.get(e) ?? new Map<string, T>()
      if (listed || !byPeer.has(peer)) byPeer.set(peer, value)
      m.set(e, byPeer)
    }
    for (const v of views) {
      this.frauds.set(v.id, v.frauds)
      for (const e of present) {
        const listed = v.audits.find((a) => a.epoch === e)
        note(this.weights, e, v.id, listed?.weight ?? 0, listed !== undefined)
      }
      for (const e of closed) {
        const listed = v.audits.find((a) => a.epoch === e)
        if (listed !== undefined && !listed.closed) continue
        note(this.skipped, e, v.id, listed?.skipped === true, listed !== undefined)
      }
    }
    const r = await this.get<{
      epoch: number
      phase: string
      phaseStart: number
      commits: string[]
      reveals: string[]
    }>('/epoch').catch(() => undefined)
    if (r?.status === 200) {
      const e = r.body
      // In the race phase `phaseStart` is the gun's block; commits and reveals are final from it on.
      if (e.phase === 'race')
        this.races.set(e.epoch, { gun: e.phaseStart, commits: e.commits, reveals: e.reveals })
      else if (e.phase === 'validate' && !this.races.has(e.epoch))
        this.races.set(e.epoch, { gun: null, commits: e.commits, reveals: e.reveals })
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The rules, as docs/economics.md and docs/verification.md state them.

const BPS = 10_000n

const min = (a: bigint, b: bigint): bigint => (a < b ? a : b)
const max = (a: bigint, b: bigint): bigint => (a > b ? a : b)

/** r_k = firstRatio · (1 − decay)^k, as an exact fraction num / den. */
function ratio(g: EconGenesis['economics'], k: bigint): { num: bigint; den: bigint } {
  return {
    num: BigInt(g.firstRatioBps) * (BPS - BigInt(g.decayBps)) ** k,
    den: BPS ** (k + 1n),
  }
}

/**
 * The schedule's subsidy on fees `fees` when `minted` has been minted, before the cap: walking the
 * batches, fees x at ratio r earn ⌊x·r/(1−r)⌋, and fees that finish a batch count at its ratio up
 * to ⌈left·(1−r)/r⌉ (what mints exactly the rest of it), the rest at the next batch's ratio.
 */
export function scheduleSubsidy(g: EconGenesis['economics'], fees: bigint, minted: bigint): bigint {
  const size = BigInt(g.batchSize)
  let left = fees
  let at = minted
  let mint = 0n
  while (left > 0n) {
    const k = at / size
    const { num, den } = ratio(g, k)
    if (num === 0n) break
    const rest = (k + 1n) * size - at
    const finishing = (rest * (den - num) + num - 1n) / num
    if (left < finishing) return mint + (left * num) / (den - num)
    mint += rest
    at += rest
    left -= finishing
  }
  return mint
}

/** ⌊⌊supplyCap · minIssuanceBps / 10,000 / 2^year⌋ · d / yearMs⌋, year = ⌊t / yearMs⌋. */
export function minimumIssuance(g: EconGenesis['economics'], t: number, d: number): bigint {
  const year = BigInt(Math.floor(t / g.yearMs))
  const yearly = (BigInt(g.supplyCap) * BigInt(g.minIssuanceBps)) / (BPS * 2n ** year)
  return (yearly * BigInt(d)) / BigInt(g.yearMs)
}

/** One epoch's payout as the rules give it (amounts in base units). */
export interface ExpectedPayout {
  epoch: number
  durationMs: number
  mintedBefore: bigint
  /** The batch being minted before the payout, and its ratio in basis points (rounded half up). */
  batch: bigint
  ratioBps: bigint
  eligibleFees: bigint
  feeSubsidy: bigint
  minimum: bigint
  minted: bigint
  totalWeight: number
  hosts: Map<string, { weight: number; fees: bigint; subsidy: bigint; eligible: boolean }>
}

/**
 * What each host holds for epoch `epoch` when its audit closes (docs/economics.md "Epoch rewards"
 * steps 1 and 2), from the records of every task settled in it:
 * - a task whose executor forfeited its held rewards after the task settled (a conviction, or a
 *   Race reveal withheld) moves nothing: that fee is gone (docs/economics.md, "Imbalances found
 *   and fixed");
 * - otherwise a verified (or cleared) task pays ⌊fee/2/n⌋ to each of the n verifiers whose passing
 *   check stands and the rest to the executor; an unchecked one pays the executor the fee; a
 *   convicted one pays nobody (its fee went back to the client); one still disputed at the close
 *   is parked, and one that closed unproven was paid from the parked fee later: neither is in the
 *   epoch's payout;
 * - a host that skipped more than the tolerance of its checks forfeits all of it.
 *
 * Not recomputable here: whether a `cleared` task was cleared before its audit closed (paid with
 * the epoch) or after (paid at the decision, outside the payout). It is taken as before: a dispute
 * is voted on by every peer with weight as soon as it opens, within blocks, and the audit closes an
 * epoch later. (The verification devnets see no cleared task unless a verifier accuses falsely.)
 */
export function heldAtClose(
  epoch: number,
  tasks: ChainTaskView[],
  watch: Pick<LedgerWatch, 'frauds' | 'races' | 'skipped'>,
): Map<string, bigint> {
  const held = new Map<string, bigint>()
  const add = (peer: string, amount: bigint): void => {
    held.set(peer, (held.get(peer) ?? 0n) + amount)
  }
  for (const t of tasks) {
    if (t.epoch !== epoch) continue
    if (forfeited(t, watch)) continue
    const fee = BigInt(t.fee)
    switch (t.status) {
      case 'verified':
      case 'cleared': {
        const checkers = t.votes.filter((v) => v.ok).map((v) => v.verifier)
        if (checkers.length === 0) throw new Error(`task ${t.receipt} is ${t.status} with no passing check`)
        const each = fee / 2n / BigInt(checkers.length)
        for (const c of checkers) add(c, each)
        add(t.executor, fee - each * BigInt(checkers.length))
        break
      }
      case 'unchecked':
        add(t.executor, fee)
        break
      case 'fraud':
      case 'disputed':
      case 'unproven':
        break
      case 'open':
        throw new Error(`a task of epoch ${epoch} is still open: its audit has not closed`)
    }
  }
  const duty = watch.skipped.get(epoch)
  for (const peer of [...held.keys()]) {
    const skipped = duty?.get(peer)
    if (skipped === undefined) throw new Error(`the duty of ${peer} in epoch ${epoch} was not seen`)
    if (skipped) held.delete(peer)
    // A cheat loses all its rewards of the epoch: its checkers' pay too, when it was convicted in
    // the epoch or the next (docs/economics.md, "Epoch rewards", step 2).
    const convicted = watch.frauds.get(peer) ?? []
    if (convicted.includes(epoch) || convicted.includes(epoch + 1)) held.delete(peer)
  }
  for (const [peer, amount] of held) if (amount === 0n) held.delete(peer)
  return held
}

/**
 * Whether a task's fee was forfeited before its audit closed. A forfeit takes everything the host
 * holds, of every unpaid epoch: the epoch in which it happens and the one before it (paid at that
 * epoch's end).
 * - Conviction (docs/verification.md, "Penalties"), recorded with the epoch c it happened in: the
 *   executor's tasks of c − 1 and c. None of its tasks can settle after it in c: a jailed
 *   executor's receipts are refused.
 * - A Race commitment not revealed (docs/race.md): at the block that ends the reveals, its tasks of
 *   that epoch and the one before settled up to that block.
 */
function forfeited(t: ChainTaskView, watch: Pick<LedgerWatch, 'frauds' | 'races'>): boolean {
  const convicted = watch.frauds.get(t.executor) ?? []
  if (convicted.some((c) => t.epoch === c || t.epoch === c - 1)) return true
  for (const e of [t.epoch, t.epoch + 1]) {
    const race = watch.races.get(e)
    if (race === undefined) throw new Error(`the Race of epoch ${e} was not seen`)
    if (!race.commits.includes(t.executor) || race.reveals.includes(t.executor)) continue
    if (race.gun === null) throw new Error(`the gun of epoch ${e}'s Race was not seen`)
    if (t.height <= race.gun) return true
  }
  return false
}

/**
 * Every payout from the first, recomputed (docs/economics.md, "Epoch rewards"): `held` gives each
 * epoch's f_h (heldAtClose); `records` are the ledger's payouts in epoch order, of which only the
 * block time and the epoch's weights are read here.
 */
export function expectedPayouts(
  g: EconGenesis,
  records: PayoutView[],
  held: (epoch: number) => Map<string, bigint>,
  watch: Pick<LedgerWatch, 'frauds' | 'weights'>,
  peers: number,
): ExpectedPayout[] {
  const econ = g.economics
  const cap = BigInt(econ.supplyCap)
  const genesisSupply = g.accounts.reduce((s, a) => s + BigInt(a.balance) + BigInt(a.stake), 0n)
  let minted = 0n
  let lastTime = g.time
  const out: ExpectedPayout[] = []
  for (const r of records) {
    const time = Date.parse(r.time)
    const fees = held(r.epoch)
    // The epoch's weights (its audit's: those that routed its tasks), as seen on every peer's
    // standing; the record's own where the watch missed a peer's (then compared with nothing).
    const seen = watch.weights.get(r.epoch)
    const weightOf =
      seen !== undefined && seen.size === peers ? seen : new Map(r.hosts.map((h) => [h.peer, h.weight]))
    const totalWeight =
      seen !== undefined && seen.size === peers
        ? [...seen.values()].reduce((a, b) => a + b, 0)
        : r.totalWeight
    const W = BigInt(totalWeight)
    const F = [...fees.values()].reduce((s, f) => s + f, 0n)
    // Earns the subsidy: not convicted in the epoch, and f_h · W · 10,000 ≥ minWorkBps · w_h · F.
    const eligible = new Map(
      [...fees].map(([peer, f]) => [
        peer,
        !(watch.frauds.get(peer) ?? []).includes(r.epoch) &&
          f * W * BPS >= BigInt(econ.minWorkBps) * BigInt(weightOf.get(peer) ?? 0) * F,
      ]),
    )
    const E = [...fees].reduce((s, [peer, f]) => (eligible.get(peer) === true ? s + f : s), 0n)
    // Everything issued, genesis and minted, stays within the cap: room = cap − (supply + burned).
    const issued = genesisSupply + minted
    const room = cap > issued ? cap - issued : 0n
    const feeSubsidy = min(scheduleSubsidy(econ, E, minted), room)
    const durationMs = Math.max(0, time - lastTime)
    const minimum = minimumIssuance(econ, time - g.time, durationMs)
    const S = max(feeSubsidy, min(minimum, room))
    const hosts: ExpectedPayout['hosts'] = new Map()
    let mintedNow = 0n
    for (const [peer, f] of fees) {
      const ok = eligible.get(peer) === true
      const subsidy = ok && E > 0n ? (S * f) / E : 0n
      mintedNow += subsidy
      hosts.set(peer, { weight: weightOf.get(peer) ?? 0, fees: f, subsidy, eligible: ok })
    }
    const batch = minted / BigInt(econ.batchSize)
    const r0 = ratio(econ, batch)
    out.push({
      epoch: r.epoch,
      durationMs,
      mintedBefore: minted,
      batch,
      ratioBps: (2n * r0.num * BPS + r0.den) / (2n * r0.den),
      eligibleFees: E,
      feeSubsidy,
      minimum,
      minted: mintedNow,
      totalWeight,
      hosts,
    })
    minted += mintedNow
    lastTime = time
  }
  return out
}

/** Every difference between the recomputed payouts and the ledger's, one line each. */
export function payoutDifferences(expected: ExpectedPayout[], records: PayoutView[]): string[] {
  const diffs: string[] = []
  expected.forEach((x, i) => {
    const r = records[i]
    if (r === undefined || r.epoch !== x.epoch) {
      diffs.push(`epoch ${x.epoch}: no payout record`)
      return
    }
    const at = `epoch ${x.epoch}`
    const same = (what: string, got: string | number | bigint, want: string | number | bigint): void => {
      if (String(got) !== String(want)) diffs.push(`${at}: ${what} is ${got}, the rules give ${want}`)
    }
    same('durationMs', r.durationMs, x.durationMs)
    same('mintedBefore', r.mintedBefore, x.mintedBefore)
    same('batch', r.batch, x.batch)
    same('ratioBps', r.ratioBps, x.ratioBps)
    same('eligibleFees', r.eligibleFees, x.eligibleFees)
    same('feeSubsidy', r.feeSubsidy, x.feeSubsidy)
    same('minimum', r.minimum, x.minimum)
    same('minted', r.minted, x.minted)
    same('totalWeight', r.totalWeight, x.totalWeight)
    same(
      'hosts paid',
      r.hosts
        .map((h) => h.peer)
        .sort()
        .join(','),
      [...x.hosts.keys()].sort().join(','),
    )
    for (const h of r.hosts) {
      const want = x.hosts.get(h.peer)
      if (want === undefined) continue
      const who = `${h.peer.slice(-6)}'s`
      same(`${who} weight`, h.weight, want.weight)
      same(`${who} fees`, h.fees, want.fees)
      same(`${who} subsidy`, h.subsidy, want.subsidy)
      same(`${who} eligibility`, String(h.eligible), String(want.eligible))
    }
  })
  return diffs
}
