import type { Overlay, StateReader } from '../state/state.js'
import { Keys } from '../state/records.js'
import type { EpochState, ProofRecord, RaceParams } from './records.js'

/** The Race parameters, or undefined on a chain without Races (its validators stay as in genesis). */
export function getRaceParams(s: StateReader): RaceParams | undefined {
  return s.get(Keys.raceParams) as RaceParams | undefined
}

export function getEpoch(s: StateReader): EpochState | undefined {
  return s.get(Keys.epoch) as EpochState | undefined
}

export function putEpoch(s: Overlay, e: EpochState): void {
  s.set(Keys.epoch, e)
}

export function getProof(s: StateReader, id: string): ProofRecord | undefined {
  return s.get(Keys.proof(id)) as ProofRecord | undefined
}

export function putProof(s: Overlay, id: string, p: ProofRecord | null): void {
  if (p === null) s.delete(Keys.proof(id))
  else s.set(Keys.proof(id), p)
}

/** End of the proof submission window: gun + race + submit time. */
export function proofDeadline(e: EpochState, p: RaceParams): number {
  return e.gunTime + p.raceMs + p.submitMs
}
