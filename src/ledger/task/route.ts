import { weightedOrder, type Weighted } from '../draw.js'
import type { StateReader } from '../state/state.js'
import { getHost, getValidatorEntries } from '../state/access.js'
import { getEpoch } from '../epoch/access.js'
import { getStanding } from '../verify/access.js'

/** A host that may execute a task, with its weight. */
export type Candidate = Weighted

/**
 * SPEC 5.3: the hosts that may run `model`: those that announce it, are not jailed, and
 * have weight: the Race's weights in force, or the validators' power while no Race has finished.
 * Sorted by peer id.
 */
export function routeCandidates(s: StateReader, model: string, height: number): Candidate[] {
  const validators = getValidatorEntries(s)
  const jailed = new Set(validators.filter((v) => v.jailedUntil > height).map((v) => v.id))
  const epoch = getEpoch(s)
  const race = epoch?.weights ?? []
  const weights: Candidate[] = race.length > 0 ? race : validators.map((v) => [v.id, v.power])
  // Jailed for double-signing (by height) or for fraud (by epoch: docs/verification.md).
  const convicted = (id: string): boolean => getStanding(s, id).jailedUntilEpoch > (epoch?.number ?? 0)
  return weights
    .filter(
      ([id, w]) =>
        w > 0 && !jailed.has(id) && !convicted(id) && getHost(s, id)?.models.includes(model) === true,
    )
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

/** The seed that keys routing draws: this epoch's Race seed once it is known, else the last one. */
export function routeSeed(s: StateReader, fallback: Uint8Array): Uint8Array {
  const e = getEpoch(s)
  return e?.seed ?? e?.prevSeed ?? fallback
}

/**
 * The order in which a gateway tries executors: the weighted draw without replacement keyed by
 * the task id and the seed (`weightedOrder` with tag `cordex/route`). Anyone with the ledger can
 * recompute it.
 */
export function executorOrder(
  candidates: readonly Candidate[],
  taskId: Uint8Array,
  seed: Uint8Array,
): string[] {
  return weightedOrder('cordex/route', candidates, taskId, seed)
}
