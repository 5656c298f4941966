/**
 * What padding a Race proof with invalid nonces earns (docs/race.md, "Padding a proof does not
 * pay"). Pure and exact: binomial sums, no simulation.
 *
 * A prover with `n` valid nonces commits to a list of `n + m`: the invalid fraction is
 * `f = m / (n + m)`. Duplicated or out-of-order entries count as invalid: an opening only verifies
 * at positions holding strictly increasing nonces (src/race/merkle.ts). Each committee member
 * samples `s` positions by its own VRF, independently of the others, and accepts when at most `F`
 * of them fail (an honest nonce never fails: `judgeSample`'s tolerance). The proof is accepted
 * when members holding more than half the committee's power accept (SPEC 4.6; equal powers
 * here), and then credits the whole count. The expected weight relative to the honest `n` is
 * `P_accept(f) · (n + m) / n = P_accept(f) / (1 − f)`; the gain of padding is its maximum over f.
 *
 * A member's failures are taken as Binomial(s, f): sampling with replacement, the limit of a long
 * list. `sampleIndices` draws distinct positions; with `F = 0` that only lowers a padder's odds
 * (`C(N − m, s) / C(N, s) ≤ (1 − f)^s`, and acceptance rises with each member's), so the figures
 * here are then upper bounds.
 */

export interface PaddingParams {
  /** Positions each committee member samples (genesis `race.sampleSize`). */
  sampleSize: number
  /** Failed samples a member still accepts (genesis `race.maxSampleFailures`). */
  maxSampleFailures: number
  /** Genesis `race.committeeSize`: 0 means every validator judges every proof. */
  committeeSize: number
  /** Validators with power; needed when `committeeSize` is 0, and caps it otherwise. */
  validators?: number
  /**
   * Committee members that accept whatever the list (default 0): the prover itself when it is a
   * validator on its own committee (a validator does not fetch its own sample), or its friends.
   */
  colluders?: number
}

/** Committee members who judge one proof: `committeeSize`, or every validator when it is 0 or covers them. */
export function committeeMembers(p: PaddingParams): number {
  const { committeeSize, validators } = p
  if (committeeSize === 0 || (validators !== undefined && committeeSize >= validators)) {
    if (validators === undefined || !Number.isSafeInteger(validators) || validators < 1)
      throw new RangeError('padding: a committee of all validators needs their number')
    return validators
  }
  if (!Number.isSafeInteger(committeeSize) || committeeSize < 1)
    throw new RangeError('padding: committeeSize is 0 (all) or a positive integer')
  return committeeSize
}

/**
 * P(one member accepts) = P(Binomial(s, f) ≤ F), and its complement computed on its own (so that
 * a small rejection probability keeps its precision).
 */
export function memberAccept(
  f: number,
  sampleSize: number,
  maxFailures: number,
): { accept: number; reject: number } {
  checkFraction(f)
  const accept = binomialRange(sampleSize, f, 0, maxFailures)
  const reject = binomialRange(sampleSize, f, maxFailures + 1, sampleSize)
  return { accept, reject }
}

/**
 * The probability that a proof whose list is a fraction `f` invalid is accepted: more than half of
 * the committee accepts, each honest member independently (`memberAccept`), colluders always.
 */
export function acceptProbability(f: number, p: PaddingParams): number {
  checkParams(p)
  const members = committeeMembers(p)
  const colluders = Math.min(p.colluders ?? 0, members)
  const honest = members - colluders
  // SPEC 4.6: accepted when 2 · accepting > members (equal powers).
  const needed = Math.max(0, Math.floor(members / 2) + 1 - colluders)
  const { accept, reject } = memberAccept(f, p.sampleSize, p.maxSampleFailures)
  let sum = 0
  for (let j = needed; j <= honest; j++) sum += choose(honest, j) * accept ** j * reject ** (honest - j)
  return Math.min(1, sum)
}

/** Expected weight of a padded proof relative to the honest one: `P_accept(f) / (1 − f)`. */
export function paddedWeight(f: number, p: PaddingParams): number {
  return acceptProbability(f, p) / (1 - f)
}

/**
 * The most a prover can expect from padding: `gain` = max over f in [0, 1) of `paddedWeight`
 * (1 means padding never pays; 1.01 means it can pay 1%), at the invalid fraction `worstF`.
 * Searched on a grid, fine near 0 where the maximum lies, then refined by golden section.
 * `gain` is Infinity when padding can pay without bound (`F ≥ s`, or colluders are a majority).
 */
export function paddingGain(p: PaddingParams): { gain: number; worstF: number } {
  checkParams(p)
  if (acceptProbability(1, p) > 0) return { gain: Infinity, worstF: 1 }
  const grid: number[] = []
  for (let i = 0; i < 2000; i++) grid.push(i / 2000)
  for (let i = 0; i <= 2000; i++) grid.push(10 ** (-8 + (8 * i) / 2000))
  grid.push(1 - 1e-6, 1 - 1e-9)
  grid.sort((a, b) => a - b)
  let best = 0
  for (let i = 1; i < grid.length; i++) if (paddedWeight(grid[i]!, p) > paddedWeight(grid[best]!, p)) best = i
  let lo = grid[Math.max(0, best - 1)]!
  let hi = grid[Math.min(grid.length - 1, best + 1)]!
  const r = (Math.sqrt(5) - 1) / 2
  for (let k = 0; k < 100 && hi - lo > 1e-15; k++) {
    const a = hi - r * (hi - lo)
    const b = lo + r * (hi - lo)
    if (paddedWeight(a, p) >= paddedWeight(b, p)) hi = b
    else lo = a
  }
  const candidates = [grid[best]!, (lo + hi) / 2]
  const worstF = candidates.reduce((x, y) => (paddedWeight(y, p) > paddedWeight(x, p) ? y : x))
  return { gain: paddedWeight(worstF, p), worstF }
}

/** Nonces recomputed to judge one proof, over its whole committee: members × sample size. */
export function recomputedPerProof(p: PaddingParams): number {
  return committeeMembers(p) * p.sampleSize
}

/** P(k ≤ Binomial(n, f) ≤ hi). */
function binomialRange(n: number, f: number, k: number, hi: number): number {
  let sum = 0
  for (let j = Math.max(0, k); j <= Math.min(n, hi); j++) sum += choose(n, j) * f ** j * (1 - f) ** (n - j)
  return Math.min(1, sum)
}

/** C(n, k), exact for the sizes used here (n up to a few thousand, as a float). */
function choose(n: number, k: number): number {
  if (k < 0 || k > n) return 0
  const m = Math.min(k, n - k)
  let c = 1
  for (let i = 1; i <= m; i++) c = (c * (n - m + i)) / i
  return c
}

function checkFraction(f: number): void {
  if (!(f >= 0 && f <= 1)) throw new RangeError(`padding: an invalid fraction in [0, 1], not ${f}`)
}

function checkParams(p: PaddingParams): void {
  const { sampleSize: s, maxSampleFailures: F, colluders } = p
  if (!Number.isSafeInteger(s) || s < 1) throw new RangeError('padding: sampleSize is a positive integer')
  if (!Number.isSafeInteger(F) || F < 0)
    throw new RangeError('padding: maxSampleFailures is a non-negative integer')
  if (colluders !== undefined && (!Number.isSafeInteger(colluders) || colluders < 0))
    throw new RangeError('padding: colluders is a non-negative integer')
  committeeMembers(p)
}
