// Synthetic tasks (SPEC 6.4; docs/economics.md, "Synthetic tasks"): how many this validator sends
// in an epoch, and when. Pure: the randomness comes in, and it must be this peer's secret (hosts
// must not be able to predict which tasks are synthetic, nor when they come).

/** A uniform draw in [0, 1), from a secret source. */
export type Random = () => number

export interface QuotaInput {
  /** Tasks per epoch below which validators top the network up (config `synthetic.minTasksPerEpoch`). */
  minTasks: number
  /** Tasks settled in the previous epoch, all of them (the ledger cannot tell synthetic ones apart). */
  settled: number
  /** Synthetic tasks this peer settled in the previous epoch. */
  ownSynthetic: number
  /** This peer's share of the weight in the previous epoch, 0 ≤ x ≤ 1 (0: it had none). */
  prevShare: number
  /** This peer's share of the weight now. */
  share: number
  /** At most this many from this peer in one epoch (config `synthetic.maxPerEpoch`). */
  maxPerEpoch: number
}

export interface Quota {
  /** The previous epoch's real tasks, as this peer estimates them. */
  realEstimate: number
  /** Tasks the network is short of the threshold. */
  deficit: number
  /** What this peer sends this epoch. */
  quota: number
}

/**
 * Every validator sends its weight's share of the deficit, so that together they send about the
 * deficit without agreeing on anything in public (a public split would tell hosts who sends
 * synthetic tasks and how many). The deficit is the threshold less the previous epoch's real
 * tasks, estimated as the settled tasks less the synthetic ones: this peer knows only its own,
 * and every validator sends in proportion to its weight, so all of them together sent about
 * `ownSynthetic / prevShare`. The fraction of a task is sent with its probability, so the
 * expected quota is exactly `share × deficit`.
 */
export function syntheticQuota(i: QuotaInput, random: Random): Quota {
  const synthetic = i.prevShare > 0 ? i.ownSynthetic / i.prevShare : i.ownSynthetic
  const realEstimate = Math.max(0, Math.round(i.settled - synthetic))
  const deficit = Math.max(0, i.minTasks - realEstimate)
  const expected = Math.min(1, Math.max(0, i.share)) * deficit
  const whole = Math.floor(expected)
  const quota = Math.min(i.maxPerEpoch, whole + (random() < expected - whole ? 1 : 0))
  return { realEstimate, deficit, quota }
}

/**
 * When to send `n` tasks over the next `windowMs`: the arrival times of a Poisson process
 * conditioned on `n` arrivals (sorted uniform draws), as independent clients would arrive, so
 * that no spacing or rhythm marks them. Offsets from now, ms, ascending.
 */
export function arrivals(n: number, windowMs: number, random: Random): number[] {
  const out: number[] = []
  for (let k = 0; k < n; k++) out.push(Math.floor(random() * Math.max(0, windowMs)))
  return out.sort((a, b) => a - b)
}
