import type { RaceProfile } from './profile.js'

/**
 * SPEC 4.1: τ from q and V in closed form. The output and the target are centred (their mean
 * removed) and normalized, so they are unit vectors in the (V−1)-dimensional subspace orthogonal
 * to (1, …, 1). For an isotropic unit vector in n = V−1 dimensions, c = cos(angle to the target)
 * has density ∝ (1 − c²)^((n−3)/2) on [−1, 1], and ‖y − t‖² = 2 − 2c. So P(dist < τ) = q
 * exactly when P(c > c*) = q with τ = √(2 − 2c*). c* is found by bisection on that tail
 * probability, computed by numerical integration in log space.
 */
export function threshold(profile: Pick<RaceProfile, 'q' | 'vocab'>): number {
  // About 2.4 million exp/log evaluations: remembered, since every judged proof and every Race asks
  // for the same few profiles' τ again.
  const key = `${profile.q}/${profile.vocab}`
  let tau = known.get(key)
  if (tau === undefined) {
    tau = Math.sqrt(2 - 2 * criticalCosine(profile.q, profile.vocab - 1))
    if (known.size >= 64) known.clear()
    known.set(key, tau)
  }
  return tau
}

const known = new Map<string, number>()

/** P(c > x) for the cosine of an isotropic unit vector in `n` dimensions. */
export function cosineTail(x: number, n: number): number {
  const k = (n - 3) / 2
  // ∫ (1 − c²)^k dc over [x, 1] divided by the same over [−1, 1], by Simpson's rule on a fine grid,
  // with the integrand scaled by its maximum to stay in range for large n.
  const integral = (a: number, b: number): number => {
    const steps = 20_000
    const h = (b - a) / steps
    let sum = 0
    for (let i = 0; i <= steps; i++) {
      const c = a + i * h
      const w = i === 0 || i === steps ? 1 : i % 2 === 1 ? 4 : 2
      const base = 1 - c * c
      sum += w * (base <= 0 ? 0 : Math.exp(k * Math.log(base)))
    }
    return (sum * h) / 3
  }
  // The density is symmetric: total = 2 * ∫[0,1].
  const half = integral(0, 1)
  return x >= 0 ? integral(x, 1) / (2 * half) : 1 - integral(-x, 1) / (2 * half)
}

function criticalCosine(q: number, n: number): number {
  let lo = 0
  let hi = 1
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2
    if (cosineTail(mid, n) > q) lo = mid
    else hi = mid
  }
  return (lo + hi) / 2
}
