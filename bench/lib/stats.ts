/** Small statistics helpers for the benchmark: percentiles over raw samples, no smoothing. */

export interface Percentiles {
  /** Number of samples the figures were computed from. */
  n: number
  p50: number
  p99: number
  max: number
  mean: number
}

/**
 * Nearest-rank percentile of already sorted samples. Nearest-rank (rather than interpolation)
 * always reports a value that was actually measured, which matters for p99 of a few hundred samples.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? Number.NaN
}

export function summarize(samples: readonly number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b)
  const sum = sorted.reduce((a, b) => a + b, 0)
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
    mean: sorted.length > 0 ? sum / sorted.length : Number.NaN,
  }
}

/**
 * A seeded pseudo-random generator (mulberry32), so that the sampled peer pairs of a run can be
 * reproduced; Math.random cannot be seeded.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** `count` distinct indices from [0, n) other than `except`, drawn with `rand`. */
export function sampleOthers(n: number, except: number, count: number, rand: () => number): number[] {
  const pool = Array.from({ length: n }, (_, i) => i).filter((i) => i !== except)
  // Partial Fisher-Yates: the first `count` slots end up a uniform sample without repeats.
  for (let i = 0; i < Math.min(count, pool.length); i++) {
    const j = i + Math.floor(rand() * (pool.length - i))
    const a = pool[i] as number
    pool[i] = pool[j] as number
    pool[j] = a
  }
  return pool.slice(0, count)
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
