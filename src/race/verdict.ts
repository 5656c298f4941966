import type { RaceProfile } from './profile.js'
import { threshold } from './threshold.js'

export interface Judgement {
  accepted: boolean
  /** Sampled nonces whose recomputed distance is at or beyond τ + tolerance. */
  failures: number
  reason: string
}

/**
 * SPEC 4.5: judge a proof from the recomputed distances of its sampled nonces. A nonce fails only
 * beyond the tolerance (float differences between machines never fail an honest nonce); the proof
 * fails only when more than `maxFailures` of the sample fail.
 */
export function judgeSample(
  profile: RaceProfile,
  distances: ArrayLike<number>,
  maxFailures: number,
): Judgement {
  const limit = threshold(profile) + profile.tolerance
  let failures = 0
  for (let i = 0; i < distances.length; i++) if (!(distances[i]! < limit)) failures++
  const accepted = failures <= maxFailures
  return {
    accepted,
    failures,
    reason: accepted
      ? `${distances.length - failures} of ${distances.length} sampled nonces meet the threshold`
      : `${failures} of ${distances.length} sampled nonces do not meet the threshold (at most ${maxFailures} may)`,
  }
}
