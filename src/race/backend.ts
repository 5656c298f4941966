import type { RaceProfile } from './profile.js'

/**
 * Something that evaluates the Race function for many nonces of one node: the pure TypeScript
 * reference (the definition), onnxruntime on the CPU, WebGPU. All give the same distances within
 * the profile's tolerance (test/fixtures/race-vectors.json).
 */
export interface RaceBackend {
  readonly name: string
  readonly profile: RaceProfile
  /** Distances of `nonces` for the node whose node seed is `node`, in order. */
  distances(node: Uint8Array, nonces: readonly number[]): Promise<Float64Array>
  close(): Promise<void>
}
