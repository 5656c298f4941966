import type { Overlay, StateReader } from '../state/state.js'
import { TaskKeys, type InferenceParams, type TaskRecord } from './records.js'

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
