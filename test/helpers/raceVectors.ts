import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './cli.js'
import type { RaceProfile } from '../../src/race/index.js'

export interface RaceVectors {
  profile: RaceProfile
  seed: Uint8Array
  publicKey: Uint8Array
  nodeSeed: Uint8Array
  tau: number
  prng: { key: string; stream: number; firstWords: number[] }
  vectors: Array<{ nonce: number; distance: number; valid: boolean }>
}

/** test/fixtures/race-vectors.json, written once by scripts/race-vectors.mjs from the reference. */
export function raceVectors(): RaceVectors {
  const raw = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'race-vectors.json'), 'utf8')) as Record<
    string,
    unknown
  >
  const bytes = (k: string): Uint8Array => new Uint8Array(Buffer.from(raw[k] as string, 'hex'))
  return {
    ...(raw as unknown as RaceVectors),
    seed: bytes('seed'),
    publicKey: bytes('publicKey'),
    nodeSeed: bytes('nodeSeed'),
  }
}

/**
 * Assert that a backend's distances for the fixture's nonces match the reference within the
 * profile's tolerance, and so do the verdicts, except where the reference distance is within the
 * tolerance of τ (there either verdict is honest).
 */
export function assertMatchesVectors(fx: RaceVectors, d: Float64Array): void {
  fx.vectors.forEach((v, i) => {
    assert.ok(
      Math.abs(d[i]! - v.distance) <= fx.profile.tolerance,
      `nonce ${v.nonce}: ${d[i]} vs ${v.distance}`,
    )
    if (Math.abs(v.distance - fx.tau) > fx.profile.tolerance) assert.equal(d[i]! < fx.tau, v.valid)
  })
}
