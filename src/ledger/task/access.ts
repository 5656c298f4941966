import type { Overlay, StateReader } from '../state/state.js'
import { TaskKeys, type HeldRewards, type InferenceParams, type TaskRecord } from './records.js'

export function getInferenceParams(s: StateReader): InferenceParams | undefined {
  return s.get(TaskKeys.inference) as InferenceParams | undefined
}

/** Units of compute per token of an approved model, or undefined when the model is not approved. */
export function unitsPerToken(s: StateReader, model: string): number | undefined {
  return getInferenceParams(s)?.models.find(([m]) => m === model)?.[1]
}

export function getTask(s: StateReader, idHex: string): TaskRecord | undefined {
  return s.get(TaskKeys.task(idHex)) as TaskRecord | undefined
}

export function putTask(s: Overlay, idHex: string, t: TaskRecord | null): void {
  if (t === null) s.delete(TaskKeys.task(idHex))
  else s.set(TaskKeys.task(idHex), t)
}

export function getHeld(s: StateReader): HeldRewards {
  return (s.get(TaskKeys.held) as HeldRewards | undefined) ?? []
}

export function heldOf(s: StateReader, peer: string): bigint {
  return getHeld(s).find(([p]) => p === peer)?.[1] ?? 0n
}

/** Set one peer's held rewards (0 removes it). */
export function putHeldOf(s: Overlay, peer: string, value: bigint): void {
  const rest = getHeld(s).filter(([p]) => p !== peer)
  if (value > 0n) rest.push([peer, value])
  rest.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  if (rest.length === 0) s.delete(TaskKeys.held)
  else s.set(TaskKeys.held, rest)
}
