import { FreivaldsError } from './errors.js'

/**
 * Exact chances that a cheat passes a Freivalds audit (docs/verification.md, "Freivalds audits
 * (int8 tasks)"). All are upper bounds on the miss probability, exact where stated.
 */

/**
 * Chance that one opened wrong row passes `k` rounds over F_p: `p^-k`. Exact when the error row
 * `e = y − x·W` is nonzero mod p (guaranteed for in-range outputs when p > 2^15·K): `e·r` is a
 * nonzero linear form in a uniform `r`, zero with chance exactly 1/p, and the rounds are independent.
 */
export function roundsMiss(p: number, k: number): number {
  return p ** -k
}

/**
 * Chance that a uniform `drawn`-subset of `total` items avoids all `bad` of them:
 * `C(total − bad, drawn) / C(total, drawn)` (the hypergeometric zero term), as a product.
 */
export function avoidAll(total: number, bad: number, drawn: number): number {
  check(total >= 0 && bad >= 0 && drawn >= 0 && bad <= total, 'avoidAll')
  const d = Math.min(drawn, total)
  if (bad === 0) return 1
  if (d > total - bad) return 0
  let q = 1
  for (let i = 0; i < d; i++) q *= (total - bad - i) / (total - i)
  return q
}

/** Chance that exactly `j` of the `bad` items are among a uniform `drawn`-subset of `total`. */
export function hypergeometric(total: number, bad: number, drawn: number, j: number): number {
  const d = Math.min(drawn, total)
  if (j < 0 || j > bad || j > d || d - j > total - bad) return 0
  return Math.exp(lnChoose(bad, j) + lnChoose(total - bad, d - j) - lnChoose(total, d))
}

/** A cheat's footprint in one task and the audit that meets it. */
export interface CheatShape {
  /** P: products committed per task (layers × projections). */
  products: number
  /** T: rows per product (token positions of the task). */
  rows: number
  /** Products the cheat touches (1: one product; projections per layer: one layer). */
  badProducts: number
  /** Rows wrong in each touched product (1: one token; T: the whole product). */
  badRows: number
  /** a: products audited. */
  auditedProducts: number
  /** m: rows opened per audited product (independent per product). */
  openedRows: number
  /** The prime and the rounds. */
  p: number
  k: number
}

/**
 * Chance that one audited task with this cheat passes: `Σ_j H(j)·q^j`, where `H(j)` is the chance
 * that `j` touched products are audited and `q = A + (1 − A)·p^-k` the chance that one touched,
 * audited product passes (`A = avoidAll(T, badRows, m)`: its opened rows miss the wrong ones).
 * Exact for the sampling; for the algebra it uses the one-row bound `p^-k` per product (several
 * wrong opened rows sharing `r` pass together with chance at most that).
 */
export function taskMiss(c: CheatShape): number {
  const A = avoidAll(c.rows, c.badRows, c.openedRows)
  const q = A + (1 - A) * roundsMiss(c.p, c.k)
  let miss = 0
  const a = Math.min(c.auditedProducts, c.products)
  for (let j = 0; j <= Math.min(a, c.badProducts); j++)
    miss += hypergeometric(c.products, c.badProducts, a, j) * q ** j
  return Math.min(1, miss)
}

/**
 * Chance that an epoch's `n` cheated tasks all pass, each audited with chance `checkRate`
 * (the executor's check rate, docs/verification.md "Who checks what"): `(1 − checkRate·(1 − taskMiss))^n`.
 */
export function epochMiss(c: CheatShape, checkRate: number, n: number): number {
  check(checkRate >= 0 && checkRate <= 1 && Number.isSafeInteger(n) && n >= 0, 'epochMiss')
  return (1 - checkRate * (1 - taskMiss(c))) ** n
}

function lnChoose(n: number, k: number): number {
  if (k < 0 || k > n) return -Infinity
  let s = 0
  const kk = Math.min(k, n - k)
  for (let i = 0; i < kk; i++) s += Math.log(n - i) - Math.log(i + 1)
  return s
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new FreivaldsError('BAD_ARGUMENT', `soundness: bad arguments to ${what}`)
}
