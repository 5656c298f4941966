import { TraceRecorder, type AuditTrace } from '../../verify/freivalds/trace.js'
import type { AuditProduct } from './auditProducts.js'
import type { DecoderCache } from './decoder.js'
import type { StepResult } from './stepScheduler.js'
import { EngineError } from './errors.js'
import type { AuditCheat, LoopModel } from './generate.js'
import { loadInt8Weights } from './int8Weights.js'

/**
 * An int8 model whose every step also records its audited products (issue 13, SPEC 6.2): the
 * generation loop runs on `model` exactly as on the plain one, and `finish` commits to what it
 * recorded. A devnet host told to cheat (`cheat`) falsifies the products as it records them.
 */
export async function auditedModel(
  base: LoopModel & { dir: string },
  stepAudited: (cache: DecoderCache, tokens: readonly number[]) => Promise<StepResult>,
  products: readonly AuditProduct[],
  cheat: AuditCheat | undefined,
): Promise<{ model: LoopModel; finish: () => AuditTrace }> {
  const recorder = new TraceRecorder(products)
  const falsify = cheat === undefined ? null : await cheater(base.dir, products, cheat)
  const model: LoopModel = {
    ...base,
    step: async (cache: DecoderCache, tokens: readonly number[]) => {
      const { logits, cache: next, audit } = await stepAudited(cache, tokens)
      const rows = products.map((p) => {
        const part = <T>(suffix: string): T => {
          const t = audit[`${p.name}/${suffix}`]
          if (t === undefined) throw new EngineError('MODEL_INVALID', `the model has no ${p.name}/${suffix}`)
          return t as T
        }
        return { x: part<Int8Array>('x'), y: part<Int32Array>('y'), scale: part<Float32Array>('scale') }
      })
      falsify?.(rows)
      rows.forEach((r, i) => recorder.append(i, r.x, r.y, r.scale))
      return { logits, cache: next }
    },
  }
  return { model, finish: () => recorder.finish() }
}

type StepRows = Array<{ x: Int8Array; y: Int32Array; scale: Float32Array }>

/** The devnet cheats of docs/verification.md, "Cheating on purpose", on one step's rows. */
async function cheater(
  dir: string,
  products: readonly AuditProduct[],
  cheat: AuditCheat,
): Promise<(rows: StepRows) => void> {
  const index = (layer: number, name: string): number => {
    const i = products.findIndex((p) => p.layer === layer && p.name.endsWith(`/${name}`))
    if (i === -1) throw new EngineError('MODEL_INVALID', `cheat ${cheat}: no product ${layer}/${name}`)
    return i
  }
  const firstName = products[0]!.name.split('/')[2]!
  if (cheat === 'corruptProduct') {
    // One output of block 1's first product, one too large in every row: a wrong GEMM.
    const target = index(1, firstName)
    return (rows) => {
      const { y } = rows[target]!
      const n = products[target]!.cols
      for (let r = 0; r < y.length / n; r++) y[r * n] = y[r * n]! + 1
    }
  }
  // skipLayer: block 2 gets block 1's input, as if block 1 added nothing to the residual stream;
  // its first product is then computed exactly from that input, so each product on its own holds.
  const weights = await loadInt8Weights(dir)
  const from = index(1, firstName)
  const to = index(2, firstName)
  const { layer, projection, inner: K, cols: N } = products[to]!
  const W = weights.weight(layer, projection)
  return (rows) => {
    const src = rows[from]!
    const dst = rows[to]!
    dst.x.set(src.x)
    dst.scale.set(src.scale)
    for (let r = 0; r < src.scale.length; r++)
      for (let n = 0; n < N; n++) {
        let acc = 0
        for (let k = 0; k < K; k++) acc += src.x[r * K + k]! * W[k * N + n]!
        dst.y[r * N + n] = acc
      }
  }
}
