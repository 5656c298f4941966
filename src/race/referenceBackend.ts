import type { RaceBackend } from './backend.js'
import type { RaceProfile } from './profile.js'
import { RaceReference } from './reference.js'
import { generateWeights } from './weights.js'

/** The reference as a backend: exact, slow (pure TypeScript, float64). */
export class ReferenceBackend implements RaceBackend {
  readonly name = 'reference'
  private readonly ref: RaceReference

  constructor(
    readonly profile: RaceProfile,
    seed: Uint8Array,
  ) {
    this.ref = new RaceReference(profile, generateWeights(profile, seed), seed)
  }

  async distances(node: Uint8Array, nonces: readonly number[]): Promise<Float64Array> {
    return Float64Array.from(nonces, (n) => this.ref.distance(node, n))
  }

  async close(): Promise<void> {}
}
