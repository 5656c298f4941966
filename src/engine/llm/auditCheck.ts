import {
  auditOpenings,
  DIGITS,
  FreivaldsError,
  PrimeField,
  roundDigits,
  roundsFromProjection,
  type Round,
  type ProductChallenge,
  type RowOpening,
} from '../../verify/freivalds/index.js'
import { checkChain } from '../../verify/freivalds/chain.js'
import type { AuditProduct } from './auditProducts.js'
import { loadInt8Weights, type Int8Weights } from './int8Weights.js'
import { Int8Projector } from './int8Projector.js'
import { replayRule, type ReplayContext, type ReplayEpsilon, type ReplayRequest } from './replay.js'

/** A verifier's audit of one int8 task (issue 13, SPEC 6.2), run in the engine's worker. */
export interface AuditRequest {
  /** The receipt's `auditRoot`. */
  root: Uint8Array
  /** T: rows of every product (prompt tokens + completion tokens − 1: every token fed). */
  rows: number
  /** The prime of the challenge's field. */
  p: number
  challenge: ProductChallenge[]
  openings: RowOpening[]
  /**
   * The task as a replay would check it (prompt ids, the output tokens, sampling, seed, limits):
   * the token after each opened position must be the one the decoding rule picks from the
   * committed logits there (`replayRule` on those positions only), and the output must end where
   * generation ends.
   */
  replay: ReplayRequest
  eps: ReplayEpsilon
}

export type AuditVerdict =
  | {
      ok: true
      products: number
      /** Rows opened and checked with Freivalds. */
      rows: number
      rounds: number
      /** Positions whose float glue was recomputed. */
      positions: number
      /** Requantized integers that differ by 1 from the verifier's (allowed, counted). */
      offByOne: number
      /** Output positions whose token was checked against the committed logits. */
      tokensChecked: number
    }
  | {
      ok: false
      /** `product`: an opening or a product is wrong; `chain`: the glue; `token`, `end`: the output. */
      reason: 'product' | 'chain' | 'token' | 'end'
      /** The row at fault (`product`, `chain`), or the output position (`token`, `end`). */
      position: number
      /** `product`, `chain`: the product's index in the commitment; `token`, `end`: the token the rule picks. */
      expected: number
      /** `chain`: the input element at fault (−1: its scale); `product`: −1; `token`, `end`: the output's token. */
      actual: number
      detail: string
    }

const weightsByDir = new Map<string, Promise<Int8Weights>>()
/** One projector per weight of a model (`<dir>#<layer>/<projection>`), made at its first audit. */
const projectors = new Map<string, Promise<Int8Projector>>()

/** The whole check: openings and products, then the chain and the tokens of every fully opened position. */
export async function checkAudit(
  model: ReplayContext & { dir: string },
  products: readonly AuditProduct[],
  req: AuditRequest,
): Promise<AuditVerdict> {
  let weights = weightsByDir.get(model.dir)
  if (weights === undefined) {
    weights = loadInt8Weights(model.dir)
    weightsByDir.set(model.dir, weights)
  }
  const w = await weights
  const shapes = products.map((p) => ({ ...p, rows: req.rows }))
  const field = new PrimeField(req.p)
  // Each challenged product's W·r through onnxruntime's integer GEMM (the digits of r as int8).
  const rounds = new Map<number, Round[]>()
  for (const c of req.challenge) {
    const s = shapes[c.product]
    if (s === undefined) continue // auditOpenings refuses it below
    const key = `${model.dir}#${s.layer}/${s.projection}`
    let projector = projectors.get(key)
    if (projector === undefined) {
      projector = Int8Projector.create(w.weight(s.layer, s.projection), s.inner, s.cols)
      projectors.set(key, projector)
    }
    const V = await (await projector).project(roundDigits(field, c.r, s.cols), DIGITS * c.r.length)
    rounds.set(c.product, roundsFromProjection(field, c.r, V, s.inner))
  }
  let summary
  try {
    summary = auditOpenings(req.root, shapes, req.challenge, req.openings, (l, j) => w.weight(l, j), field, {
      rounds: (product) => rounds.get(product),
    })
  } catch (err) {
    // The executor's faults; anything else (a bad argument, too small a field) is this verifier's.
    if (!(err instanceof FreivaldsError) || err.code === 'BAD_ARGUMENT' || err.code === 'FIELD_TOO_SMALL')
      throw err
    const at = products.findIndex((p) => p.layer === err.meta?.layer && p.projection === err.meta.projection)
    return {
      ok: false,
      reason: 'product',
      position: err.meta?.row ?? 0,
      expected: Math.max(0, at),
      actual: -1,
      detail: err.message,
    }
  }
  // The chain: every position opened in every product.
  const byRow = new Map<number, Map<number, RowOpening>>()
  for (const o of req.openings) {
    const m = byRow.get(o.row) ?? new Map<number, RowOpening>()
    m.set(o.product, o)
    byRow.set(o.row, m)
  }
  const { promptIds, tokens } = req.replay
  const fed = [...promptIds, ...tokens]
  const logits = new Map<number, Float32Array>()
  let positions = 0
  let offByOne = 0
  for (const [t, rows] of byRow) {
    if (rows.size !== products.length) continue
    const chain = checkChain(w, products, { position: t, token: fed[t]!, rows })
    if (!chain.ok)
      return {
        ok: false,
        reason: 'chain',
        position: t,
        expected: products.findIndex((p) => p.name === chain.product),
        actual: chain.element ?? -1,
        detail: chain.why,
      }
    positions++
    offByOne += chain.offByOne
    // Position t's logits predict output token t + 1 − P.
    const next = t + 1 - promptIds.length
    if (next >= 0) logits.set(next, chain.logits)
  }
  const verdict = replayRule(model, req.replay, logits, req.eps)
  if (!verdict.ok)
    return {
      ok: false,
      reason: verdict.reason,
      position: verdict.position,
      expected: verdict.expected,
      actual: verdict.actual,
      detail: `output ${verdict.reason} at ${verdict.position}: the committed logits pick ${verdict.expected}, the output has ${verdict.actual}`,
    }
  return { ok: true, ...summary, positions, offByOne, tokensChecked: logits.size }
}
