import type { Overlay, StateReader } from '../state/state.js'
import { EconKeys, type EconParams, type EconState, type Payout } from './records.js'

/** The economics parameters, or undefined on a chain that mints nothing (fees are the only pay). */
export function getEconParams(s: StateReader): EconParams | undefined {
  return s.get(EconKeys.econParams) as EconParams | undefined
}

export function getEconState(s: StateReader): EconState | undefined {
  return s.get(EconKeys.econ) as EconState | undefined
}

export function putEconState(s: Overlay, e: EconState): void {
  s.set(EconKeys.econ, e)
}

export function getPayout(s: StateReader, epoch: number): Payout | undefined {
  return s.get(EconKeys.payout(epoch)) as Payout | undefined
}

export function putPayout(s: Overlay, p: Payout): void {
  s.set(EconKeys.payout(p.epoch), p)
}

export function dropPayout(s: Overlay, epoch: number): void {
  s.delete(EconKeys.payout(epoch))
}
