import { checkRows, prepareRound, type ProductRow, type Round } from './check.js'
import type { ProductChallenge } from './challenge.js'
import { verifyOpening, type ProductShape, type RowOpening } from './commitment.js'
import { FreivaldsError } from './errors.js'
import type { PrimeField } from './field.js'

/** The verifier's weights: W of `(layer, projection)` as K×N int8, row-major (`W[k·N + n]`). */
export type WeightSource = (layer: number, projection: number) => Int8Array

export interface AuditOptions {
  /**
   * Accept a prime below `2^15·K` (default false). Only for tests that measure the `1/p` miss
   * rate with a tiny prime: below that bound an output off by a multiple of p passes every round.
   */
  allowSmallField?: boolean
  /**
   * The rounds of a challenged product (by its index in the shape list), prepared beforehand with
   * a fast GEMM (`roundDigits`, `roundsFromProjection`); a product it returns nothing for is
   * prepared with `prepareRound`'s JavaScript loop. Rounds must be those of the challenge's `r`.
   */
  rounds?: (product: number) => Round[] | undefined
}

/** What an audit checked, for the verdict's record. */
export interface AuditSummary {
  products: number
  rows: number
  rounds: number
}

/**
 * The verifier's whole check of one task's answer to a challenge (SPEC 6.2): every challenged row
 * is opened exactly once under `root` (`NOT_CHALLENGED`, `BAD_OPENING` otherwise) and passes every
 * round of Freivalds' check (`OUT_OF_RANGE`, `WRONG_PRODUCT`). Returns a summary when all pass;
 * throws the first failure as a `FreivaldsError` otherwise.
 */
export function auditOpenings(
  root: Uint8Array,
  shapes: readonly ProductShape[],
  challenge: readonly ProductChallenge[],
  openings: readonly RowOpening[],
  weights: WeightSource,
  field: PrimeField,
  options: AuditOptions = {},
): AuditSummary {
  const byProduct = new Map<number, Map<number, RowOpening>>()
  for (const o of openings) {
    const rows = byProduct.get(o.product) ?? new Map<number, RowOpening>()
    if (rows.has(o.row))
      throw new FreivaldsError('NOT_CHALLENGED', `audit: row ${o.row} of product ${o.product} opened twice`)
    rows.set(o.row, o)
    byProduct.set(o.product, rows)
  }
  let opened = 0
  let rounds = 0
  for (const c of challenge) {
    const s = shapes[c.product]
    if (s === undefined) throw new FreivaldsError('BAD_ARGUMENT', `audit: no product ${c.product}`)
    const meta = { layer: s.layer, projection: s.projection }
    if (!options.allowSmallField && field.p <= 32768 * s.inner)
      throw new FreivaldsError('FIELD_TOO_SMALL', `audit: p = ${field.p} ≤ 2^15·${s.inner}`, meta)
    const given = byProduct.get(c.product) ?? new Map<number, RowOpening>()
    const rows: ProductRow[] = []
    for (const row of c.rows) {
      const o = given.get(row)
      if (o === undefined)
        throw new FreivaldsError('NOT_CHALLENGED', `audit: row ${row} not opened`, { ...meta, row })
      verifyOpening(root, shapes, o)
      rows.push({ row, x: o.x, y: o.y })
    }
    if (given.size !== c.rows.length)
      throw new FreivaldsError(
        'NOT_CHALLENGED',
        `audit: unchallenged rows opened in product ${c.product}`,
        meta,
      )
    byProduct.delete(c.product)
    const ready = options.rounds?.(c.product)
    if (ready !== undefined && (ready.length !== c.r.length || ready.some((g, i) => g.r !== c.r[i])))
      throw new FreivaldsError(
        'BAD_ARGUMENT',
        `audit: prepared rounds of product ${c.product} are not the challenge's`,
      )
    const prepared =
      ready ?? c.r.map((r) => prepareRound(field, weights(s.layer, s.projection), s.inner, s.cols, r))
    checkRows(field, prepared, rows, meta)
    opened += rows.length
    rounds += prepared.length
  }
  if (byProduct.size > 0) throw new FreivaldsError('NOT_CHALLENGED', 'audit: unchallenged products opened')
  return { products: challenge.length, rows: opened, rounds }
}
