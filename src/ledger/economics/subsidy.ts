/**
 * The subsidy schedule (SPEC 7; seed paper, appendix F), in integer base units and exact
 * fractions: subsidies are minted in batches of `batchSize`; while batch k is being minted the
 * subsidy ratio is r_k = firstRatio · (1 − decay)^k (90%, 72%, 57.6%, … by default), and a host
 * paid fees x receives x / (1 − r_k) in all, so x · r_k / (1 − r_k) is minted for it. Fees that
 * cross a batch boundary are subsidized piecewise. Nothing is minted past `mintCap`. Pure.
 */

/** What the schedule needs of the genesis `economics` parameters. */
export interface ScheduleParams {
  batchSize: bigint
  /** r_0, basis points (default 9000). */
  firstRatioBps: number
  /** The share by which the ratio falls with each batch, basis points (default 2000: a fifth). */
  decayBps: number
}

const BPS = 10_000n

/** r_k as an exact fraction num / den. */
export function ratioOf(p: ScheduleParams, batch: number): { num: bigint; den: bigint } {
  const keep = BPS - BigInt(p.decayBps)
  return { num: BigInt(p.firstRatioBps) * keep ** BigInt(batch), den: BPS ** BigInt(batch + 1) }
}

/** A ratio in basis points, rounded half up (for display: the schedule itself is exact). */
export function ratioBps(r: { num: bigint; den: bigint }): number {
  return Number((2n * r.num * BPS + r.den) / (2n * r.den))
}

/** The batch being minted once `minted` base units have been minted. */
export function batchOf(p: ScheduleParams, minted: bigint): number {
  return Number(minted / p.batchSize)
}

/** Fees that mint `amount` at ratio num / den: amount · (1 − r) / r, rounded up. */
function feesFor(amount: bigint, r: { num: bigint; den: bigint }): bigint {
  return (amount * (r.den - r.num) + r.num - 1n) / r.num
}

/**
 * What fees `fees` earn in subsidy when `minted` has been minted so far and at most `room` more
 * may be: walking the batches from the current one, each at its own ratio.
 */
export function subsidyFor(p: ScheduleParams, fees: bigint, minted: bigint, room: bigint): bigint {
  let left = fees
  let mint = 0n
  let at = minted
  while (left > 0n && mint < room) {
    const r = ratioOf(p, batchOf(p, at))
    if (r.num === 0n) break
    const batchLeft = (BigInt(batchOf(p, at)) + 1n) * p.batchSize - at
    const cap = batchLeft < room - mint ? batchLeft : room - mint
    const whole = feesFor(cap, r)
    if (left < whole) {
      mint += (left * r.num) / (r.den - r.num)
      break
    }
    mint += cap
    at += cap
    left -= whole
  }
  return mint
}

/** One row of the schedule table: a batch, its ratio, and the fees that mint it whole. */
export interface ScheduleRow {
  batch: number
  minted: bigint
  ratioBps: number
  /** Fees paid by clients while this batch is minted. */
  fees: bigint
  /** Fees plus the batch: what hosts receive over the batch. */
  paid: bigint
}

/** The schedule up to `mintCap` (appendix F's table, in base units). */
export function scheduleTable(p: ScheduleParams, mintCap: bigint): ScheduleRow[] {
  const rows: ScheduleRow[] = []
  for (let k = 0; BigInt(k) * p.batchSize < mintCap; k++) {
    const size =
      mintCap - BigInt(k) * p.batchSize < p.batchSize ? mintCap - BigInt(k) * p.batchSize : p.batchSize
    const r = ratioOf(p, k)
    if (r.num === 0n) break
    const fees = feesFor(size, r)
    rows.push({ batch: k, minted: size, ratioBps: ratioBps(r), fees, paid: fees + size })
  }
  return rows
}

/** What the minimum issuance needs of the genesis `economics` parameters. */
export interface MinimumParams {
  supplyCap: bigint
  /** The first year's minimum issuance, basis points of `supplyCap` (default 500); halves each year. */
  minIssuanceBps: number
  yearMs: number
}

/**
 * The minimum issuance of an epoch that lasted `durationMs` and ended `sinceGenesisMs` after
 * genesis: the year's minimum (5% of the cap in year 0, halving each year) scaled to the epoch.
 */
export function minimumIssuance(p: MinimumParams, sinceGenesisMs: number, durationMs: number): bigint {
  const year = Math.floor(Math.max(0, sinceGenesisMs) / p.yearMs)
  if (year > 64) return 0n
  const yearly = (p.supplyCap * BigInt(p.minIssuanceBps)) / BPS / 2n ** BigInt(year)
  return (yearly * BigInt(Math.max(0, durationMs))) / BigInt(p.yearMs)
}
