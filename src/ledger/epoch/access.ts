import type { Overlay, StateReader } from '../state/state.js'
import { Keys } from '../state/records.js'
import type { EpochState, RaceParams } from './records.js'

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

/** End of the proof submission window: gun + race + submit time. */
export function proofDeadline(e: EpochState, p: RaceParams): number {
  return e.gunTime + p.raceMs + p.submitMs
}
