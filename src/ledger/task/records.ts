import { read, amount } from '../codec.js'

/** Inference economics from genesis (SPEC 5, 7): the price of a unit of compute and the approved models. */
export interface InferenceParams {
  /** Base units per unit of compute. */
  unitPrice: bigint
  /** Approved models: (model id, units of compute per token). */
  models: Array<[string, number]>
}

/** An open task: `max_cost` in escrow from its client until a receipt or a cancel settles it. */
export interface TaskRecord {
  client: string
  model: string
  maxCost: bigint
  /** Height of the TaskOpen. */
  height: number
  /**
   * The unit price in force when the TaskOpen applied (base units per unit of compute): the
   * receipt is charged at it, whatever the price has become since (SPEC 7: prices change at epoch
   * ends; a client is never charged at a price it did not open the task at).
   */
  unitPrice: bigint
}

export const TaskKeys = {
  inference: 'inference',
  task: (idHex: string): string => `task:${idHex}`,
  held: 'held',
} as const

const id = (v: unknown, what: string): string => read.string(v, 64, what)

/** Approved models on a chain, at most (genesis and governance together). */
export const MAX_MODELS = 1024

export const inferenceParamsCodec = {
  encode: (p: InferenceParams): unknown => [amount(p.unitPrice), p.models],
  decode: (v: unknown): InferenceParams => {
    const [price, models] = read.array(v, 2, 'inference')
    return {
      unitPrice: read.amount(price, 'unitPrice'),
      models: read.list(models, MAX_MODELS, 'models').map((m) => {
        const [name, units] = read.array(m, 2, 'model')
        return [read.string(name, 128, 'model'), read.uint(units, 'unitsPerToken')] as [string, number]
      }),
    }
  },
}

export const taskCodec = {
  encode: (t: TaskRecord): unknown => [t.client, t.model, amount(t.maxCost), t.height, amount(t.unitPrice)],
  decode: (v: unknown): TaskRecord => {
    const [c, m, max, h, price] = read.array(v, 5, 'task')
    return {
      client: id(c, 'client'),
      model: read.string(m, 128, 'model'),
      maxCost: read.amount(max, 'maxCost'),
      height: read.uint(h, 'height'),
      unitPrice: read.amount(price, 'unitPrice'),
    }
  },
}
