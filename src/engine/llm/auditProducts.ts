import { EngineError } from './errors.js'
import type { Manifest } from './manifest.js'

/**
 * One audited integer product of an int8 model (issue 13; scripts/model/int8-export.mjs): the
 * graph's `audit/<layer>/<proj>/…` outputs, K int8 inputs → N int32 outputs per token.
 */
export interface AuditProduct {
  /** The outputs' common prefix, e.g. `audit/0/c_attn` (`…/x`, `…/y`, `…/scale`). */
  name: string
  /** Block index; the vocabulary head is `layers` (one past the last block). */
  layer: number
  /** Index of the projection's name among the model's projection names, in manifest order. */
  projection: number
  /** K */
  inner: number
  /** N */
  cols: number
}

const ENTRY = /^(\d{1,6}|head)\/([A-Za-z0-9_]{1,64}) (\d{1,7})x(\d{1,7})$/

/**
 * The audited products of an int8 model in the order its commitment lists them: the manifest's
 * `int8.products` ("0/c_attn 256x768", …, "head/lm_head 256x2048"), which the manifest's hash pins,
 * so executor and verifier derive the same list. Null for a model that is not int8. Throws
 * MODEL_INVALID for an int8 manifest whose list is missing or malformed.
 */
export function auditProducts(manifest: Manifest, layers: number): AuditProduct[] | null {
  if (manifest.quantization !== 'int8') return null
  const list = (manifest as { int8?: { products?: unknown } }).int8?.products
  const bad = (why: string): never => {
    throw new EngineError('MODEL_INVALID', `manifest.json: int8.products: ${why}`)
  }
  if (!Array.isArray(list) || list.length === 0 || list.length > 4096) return bad('not a list of products')
  const names: string[] = []
  const seen = new Set<string>()
  return list.map((entry: unknown) => {
    const m = typeof entry === 'string' ? ENTRY.exec(entry) : null
    if (m === null) return bad(`${JSON.stringify(entry)} is not "<layer>/<projection> <K>x<N>"`)
    const [, l, proj, k, n] = m as unknown as [string, string, string, string, string]
    const layer = l === 'head' ? layers : Number(l)
    if (layer > layers) bad(`layer ${layer} of a model of ${layers}`)
    if (seen.has(`${layer}/${proj}`)) bad(`${entry as string} twice`)
    seen.add(`${layer}/${proj}`)
    if (!names.includes(proj)) names.push(proj)
    const inner = Number(k)
    const cols = Number(n)
    if (inner < 1 || cols < 1) bad(`${entry as string}: an empty product`)
    return { name: `audit/${l}/${proj}`, layer, projection: names.indexOf(proj), inner, cols }
  })
}
