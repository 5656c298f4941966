import type { StateReader } from '../state/state.js'
import { getValidatorEntries } from '../state/access.js'
import { weightedOrder, type Weighted } from '../draw.js'
import type { EpochState, RaceParams } from './records.js'

/**
 * The validators that judge `prover`'s proof this epoch (SPEC 4.5): all validators with power but
 * the prover when `committeeSize` is 0 or covers them, else `committeeSize` of them drawn by
 * weight, keyed by the prover's id and the epoch seed. The seed is fixed before any proof exists
 * and the prover cannot change its id, so no prover picks its judges; and none judges itself (a
 * judge that accepts its own padded list would raise what padding gains, docs/race.md). Only a
 * chain whose sole validator is the prover leaves it to judge itself.
 */
export function proofCommittee(s: StateReader, e: EpochState, p: RaceParams, prover: string): string[] {
  const all: Weighted[] = getValidatorEntries(s)
    .filter((v) => v.power > 0)
    .map((v) => [v.id, v.power])
  const others = all.filter(([id]) => id !== prover)
  const validators = others.length > 0 ? others : all
  if (p.committeeSize === 0 || p.committeeSize >= validators.length) return validators.map(([id]) => id)
  const key = new TextEncoder().encode(prover)
  return weightedOrder('cordex/committee', validators, key, e.seed ?? e.prevSeed, p.committeeSize)
}
