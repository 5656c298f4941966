// What a decoder export takes and returns, read from the session's metadata once at load, so that
// an export the engine cannot drive is refused then, with what is wrong, and not at the first
// request. Pure: the metadata comes in as plain objects.
import { EngineError } from './errors.js'
import type { DecoderSpec } from './model.js'

/** One input or output as onnxruntime describes it (`InferenceSession.inputMetadata`). */
export interface IoMetadata {
  name: string
  isTensor: boolean
  /** Element type, e.g. `float32`, `float16`, `int64`, `bool` (absent for non-tensors). */
  type?: string
  /** Dimensions: a number when fixed, a name (or nothing) when symbolic; empty when unknown. */
  shape?: ReadonlyArray<number | string | undefined>
}

export type IndexType = 'int64' | 'int32'
export type FloatType = 'float32' | 'float16'

/** How to feed one export, and how to read what it returns. */
export interface DecoderIo {
  ids: IndexType
  /** null: the export takes no attention mask. */
  mask: IndexType | null
  /** null: the export takes no position ids. */
  positions: IndexType | null
  /**
   * Optimum's merged decoder (decoder_model_merged.onnx): a boolean [1] input that selects the
   * with-past branch; false on the first step, whose past is empty.
   */
  cacheBranch: boolean
  /** Element type of the cache, past and present alike. */
  kv: FloatType
  logits: FloatType
  /** The past inputs, layer by layer, key before value. */
  pastNames: string[]
  /** Their successors, `present.N.key|value`, in the same order. */
  presentNames: string[]
  /**
   * The audited integer products of an int8 export (`audit/<layer>/<proj>/x|y|scale`,
   * scripts/model/int8-export.mjs), in graph order; empty for other exports. Any other extra
   * output is ignored, and not fetched.
   */
  auditNames: string[]
}

const INDEX: readonly string[] = ['int64', 'int32']
const FLOAT: readonly string[] = ['float32', 'float16']
const FED = 'input_ids, attention_mask, position_ids, past_key_values.N.key/value and use_cache_branch'

/**
 * Check an export's inputs and outputs against the decoder layout (docs/inference.md, "Models")
 * and `spec`. Throws EngineError MODEL_INVALID naming the input or output and what is unsupported.
 */
export function decoderIo(
  inputs: readonly IoMetadata[],
  outputs: readonly IoMetadata[],
  spec: DecoderSpec,
  file = 'model.onnx',
): DecoderIo {
  const bad = (why: string): EngineError => new EngineError('MODEL_INVALID', `${file}: ${why}`)
  const byName = new Map(inputs.map((m) => [m.name, m]))
  const outByName = new Map(outputs.map((m) => [m.name, m]))
  const typeOf = (m: IoMetadata, allowed: readonly string[], what: string): string => {
    if (!m.isTensor || m.type === undefined || !allowed.includes(m.type))
      throw bad(
        `${what} ${m.name} is ${m.isTensor ? (m.type ?? 'of unknown type') : 'not a tensor'}; the engine supports ${allowed.join(' or ')}`,
      )
    return m.type
  }
  const index = (name: string, required: boolean): IndexType | null => {
    const m = byName.get(name)
    if (m === undefined) {
      if (required) throw bad(`no ${name} input: not a decoder export`)
      return null
    }
    return typeOf(m, INDEX, 'input') as IndexType
  }

  const pastNames: string[] = []
  for (let l = 0; l < spec.layers; l++)
    for (const kv of ['key', 'value']) pastNames.push(`past_key_values.${l}.${kv}`)
  const unknown = inputs
    .map((m) => m.name)
    .filter(
      (n) =>
        !['input_ids', 'attention_mask', 'position_ids', 'use_cache_branch'].includes(n) &&
        !pastNames.includes(n),
    )
  if (unknown.length > 0)
    throw bad(
      `inputs the engine does not feed: ${unknown.join(', ')} (it feeds ${FED}, ` +
        `past_key_values for layers 0 to ${spec.layers - 1} as config.json says)`,
    )
  const missingPast = pastNames.filter((n) => !byName.has(n))
  if (missingPast.length > 0)
    throw bad(
      `no ${missingPast[0]} input: the engine needs a key/value cache input for each of the ` +
        `${spec.layers} layers config.json declares`,
    )

  let kv: FloatType | undefined
  for (const name of pastNames) {
    const m = byName.get(name)!
    const t = typeOf(m, FLOAT, 'cache input') as FloatType
    if (kv !== undefined && t !== kv) throw bad(`cache inputs mix ${kv} and ${t}`)
    kv = t
    const shape = m.shape ?? []
    if (shape.length > 0) {
      const fixed = (i: number): number | undefined => (typeof shape[i] === 'number' ? shape[i] : undefined)
      if (
        shape.length !== 4 ||
        (fixed(1) ?? spec.kvHeads) !== spec.kvHeads ||
        (fixed(3) ?? spec.headDim) !== spec.headDim
      )
        throw bad(
          `${name} has shape [${shape.map((d) => d ?? '?').join(', ')}]; the engine feeds ` +
            `[batch, ${spec.kvHeads} kv heads, past, ${spec.headDim}] (from config.json)`,
        )
    }
    const present = name.replace('past_key_values.', 'present.')
    const out = outByName.get(present)
    if (out === undefined) throw bad(`no ${present} output for its ${name} input`)
    if (typeOf(out, FLOAT, 'cache output') !== t) throw bad(`${present} is ${out.type}, but ${name} is ${t}`)
  }

  const cache = byName.get('use_cache_branch')
  if (cache !== undefined) typeOf(cache, ['bool'], 'input')
  const logits = outByName.get('logits')
  if (logits === undefined) throw bad('no logits output: not a decoder export')
  return {
    ids: index('input_ids', true)!,
    mask: index('attention_mask', false),
    positions: index('position_ids', false),
    cacheBranch: cache !== undefined,
    kv: kv ?? 'float32',
    logits: typeOf(logits, FLOAT, 'output') as FloatType,
    pastNames,
    presentNames: pastNames.map((n) => n.replace('past_key_values.', 'present.')),
    auditNames: outputs.map((m) => m.name).filter((n) => n.startsWith('audit/')),
  }
}
