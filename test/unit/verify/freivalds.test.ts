import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  FREIVALDS_DEFAULTS,
  FreivaldsError,
  P31,
  PrimeField,
  RowCommitter,
  auditOpenings,
  avoidAll,
  checkRows,
  deriveChallenge,
  epochMiss,
  hypergeometric,
  isPrime,
  prepareRound,
  jsProjector,
  roundDigits,
  roundsFromProjection,
  DIGITS,
  roundsMiss,
  rowPasses,
  taskMiss,
  verifyOpening,
  type AuditParams,
  type FreivaldsErrorCode,
  type ProductShape,
  type RowOpening,
  type RowTree,
} from '../../../src/verify/freivalds/index.js'
import { xorshift } from '../../helpers/rng.js'

const rng = xorshift

function randomInt8(n: number, rand: () => number): Int8Array {
  const a = new Int8Array(n)
  for (let i = 0; i < n; i++) a[i] = Math.floor(rand() * 256) - 128
  return a
}

/** Y = X·W exactly (T×K int8 by K×N int8, int32). */
function gemm(X: Int8Array, W: Int8Array, T: number, K: number, N: number): Int32Array {
  const Y = new Int32Array(T * N)
  for (let t = 0; t < T; t++) {
    const acc = Y.subarray(t * N, (t + 1) * N)
    for (let k = 0; k < K; k++) {
      const xv = X[t * K + k]!
      if (xv === 0) continue
      const base = k * N
      for (let n = 0; n < N; n++) acc[n]! += xv * W[base + n]!
    }
  }
  return Y
}

interface Product {
  shape: ProductShape
  W: Int8Array
  X: Int8Array
  Y: Int32Array
}

function makeProducts(dims: Array<[number, number, number]>, seed: number): Product[] {
  const rand = rng(seed)
  return dims.map(([T, K, N], i) => {
    const W = randomInt8(K * N, rand)
    const X = randomInt8(T * K, rand)
    return {
      shape: { layer: i >> 1, projection: i & 1, rows: T, inner: K, cols: N },
      W,
      X,
      Y: gemm(X, W, T, K, N),
    }
  })
}

const xRow = (p: Product, t: number): Int8Array => p.X.subarray(t * p.shape.inner, (t + 1) * p.shape.inner)
const yRow = (p: Product, t: number): Int32Array => p.Y.subarray(t * p.shape.cols, (t + 1) * p.shape.cols)
/** A row's input scale: any float32 the leaf binds. */
const sRow = (t: number): number => Math.fround(0.01 + t / 64)

function commit(products: Product[]): RowTree {
  const c = new RowCommitter(products.map((p) => p.shape))
  products.forEach((p, i) => {
    for (let t = 0; t < p.shape.rows; t++) c.add(i, t, xRow(p, t), yRow(p, t), sRow(t))
  })
  return c.finish()
}

function randomness(trial: number, salt = 0): Uint8Array {
  const b = new Uint8Array(32)
  const v = new DataView(b.buffer)
  v.setUint32(0, trial)
  v.setUint32(4, salt)
  return b
}

/** Commits, challenges, opens and audits; returns the error code, or 'pass'. */
function runAudit(
  products: Product[],
  params: AuditParams,
  field: PrimeField,
  seed: Uint8Array,
  allowSmallField = false,
): FreivaldsErrorCode | 'pass' {
  const tree = commit(products)
  const shapes = products.map((p) => p.shape)
  const challenge = deriveChallenge(seed, tree.root, shapes, params, field)
  const openings: RowOpening[] = []
  for (const c of challenge) {
    const p = products[c.product]!
    for (const t of c.rows) openings.push(tree.open(c.product, t, xRow(p, t), yRow(p, t), sRow(t)))
  }
  try {
    auditOpenings(tree.root, shapes, challenge, openings, (l, j) => products[2 * l + j]!.W, field, {
      allowSmallField,
    })
    return 'pass'
  } catch (err) {
    if (err instanceof FreivaldsError) return err.code
    throw err
  }
}

/** Asserts `hits` of `n` trials is within 5 standard deviations of the rate `q` (binomial). */
function assertRate(hits: number, n: number, q: number, what: string): void {
  const sd = Math.sqrt(n * q * (1 - q))
  const lo = n * q - 5 * sd
  const hi = n * q + 5 * sd
  assert.ok(
    hits >= lo && hits <= hi,
    `${what}: ${hits} of ${n}, expected ${(n * q).toFixed(1)} ± ${(5 * sd).toFixed(1)}`,
  )
}

const field = new PrimeField(P31)

test('field: primality and exact multiplication modulo 2^31 − 1', () => {
  assert.equal(isPrime(P31), true)
  assert.equal(isPrime(2 ** 31 - 3), false)
  assert.equal(isPrime(13), true)
  assert.equal(isPrime(4294967291), true)
  assert.equal(isPrime(3215031751), false) // a strong pseudoprime to bases 2, 3, 5, 7
  assert.throws(() => new PrimeField(2 ** 31 + 11), FreivaldsError)
  assert.throws(() => new PrimeField(15), FreivaldsError)
  const rand = rng(7)
  for (let i = 0; i < 2000; i++) {
    const a = Math.floor(rand() * P31)
    const b = i === 0 ? P31 - 1 : Math.floor(rand() * P31)
    assert.equal(BigInt(field.mul(a, b)), (BigInt(a) * BigInt(b)) % BigInt(P31))
  }
  assert.equal(field.reduce(-1), P31 - 1)
})

test('freivalds: correct Llama-like products always pass', () => {
  // A 1024-wide block (q/o), its MLP expansion 4× and contraction, and a 4096-deep row check.
  const products = makeProducts(
    [
      [64, 1024, 1024],
      [32, 1024, 4096],
      [32, 4096, 1024],
      [16, 4096, 4096],
      [16, 256, 256],
    ],
    1,
  )
  for (let trial = 0; trial < 3; trial++) {
    const all = { products: 5, rows: 64, rounds: FREIVALDS_DEFAULTS.rounds }
    assert.equal(runAudit(products, trial === 0 ? all : FREIVALDS_DEFAULTS, field, randomness(trial)), 'pass')
  }
  // Extreme inputs: every entry −128 (the largest |y| an int8 product reaches) still passes.
  const K = 4096
  const W = new Int8Array(K * 8).fill(-128)
  const X = new Int8Array(2 * K).fill(-128)
  const extreme: Product = {
    shape: { layer: 0, projection: 0, rows: 2, inner: K, cols: 8 },
    W,
    X,
    Y: gemm(X, W, 2, K, 8),
  }
  assert.equal(extreme.Y[0], 2 ** 14 * K)
  assert.equal(runAudit([extreme], FREIVALDS_DEFAULTS, field, randomness(9)), 'pass')
})

test('freivalds: one corrupted element is never missed with p = 2^31 − 1, k = 2 (bound 2.2e-19)', () => {
  const [p] = makeProducts([[32, 1024, 1024]], 2)
  const { inner: K, cols: N } = p!.shape
  const rand = rng(3)
  const trials = 200
  let caught = 0
  for (let trial = 0; trial < trials; trial++) {
    const t = Math.floor(rand() * 32)
    const j = Math.floor(rand() * N)
    const y = Int32Array.from(yRow(p!, t))
    // δ of any size in range, including multiples of small primes and ±1.
    const delta = trial % 4 === 0 ? 1 : trial % 4 === 1 ? -1 : Math.floor(rand() * 2 ** 20) + 2
    y[j] = y[j]! + delta
    const [r1, r2] = deriveChallenge(
      randomness(trial, 1),
      new Uint8Array(32),
      [p!.shape],
      { products: 1, rows: 1, rounds: 2 },
      field,
    )[0]!.r
    const rounds = [prepareRound(field, p!.W, K, N, r1!), prepareRound(field, p!.W, K, N, r2!)]
    try {
      checkRows(field, rounds, [{ row: t, x: xRow(p!, t), y }])
    } catch (err) {
      assert.ok(err instanceof FreivaldsError && err.code === 'WRONG_PRODUCT', String(err))
      caught++
    }
  }
  assert.equal(roundsMiss(P31, 2) < 1e-18, true)
  assert.equal(caught, trials)
})

test('freivalds: W r through an integer GEMM of base-128 digits equals the direct loop', () => {
  const [p] = makeProducts([[8, 96, 80]], 12)
  const { inner: K, cols: N } = p!.shape
  const challenge = deriveChallenge(
    randomness(3),
    new Uint8Array(32),
    [p!.shape],
    { products: 1, rows: 8, rounds: 3 },
    field,
  )
  const { r, rows } = challenge[0]!
  r[0]![0] = P31 - 1 // the largest element
  const D = roundDigits(field, r, N)
  assert.equal(D.length, N * DIGITS * 3)
  const rounds = roundsFromProjection(field, r, jsProjector(p!.W, K, N, D, DIGITS * 3), K)
  r.forEach((v, i) => assert.deepEqual(rounds[i]!.wr, prepareRound(field, p!.W, K, N, v).wr))
  // And the audit takes them: the honest rows pass, a corrupted one fails.
  const tree = commit([p!])
  const openings = rows.map((t) => tree.open(0, t, xRow(p!, t), yRow(p!, t), sRow(t)))
  const W = (): Int8Array => p!.W
  auditOpenings(tree.root, [p!.shape], challenge, openings, W, field, { rounds: () => rounds })
  const bad = Int32Array.from(openings[2]!.y)
  bad[0]! += 1
  const y = p!.Y.subarray(rows[2]! * N, (rows[2]! + 1) * N)
  const saved = Int32Array.from(y)
  y.set(bad)
  const badTree = commit([p!])
  y.set(saved)
  const badOpenings = rows.map((t, i) =>
    badTree.open(0, t, xRow(p!, t), i === 2 ? bad : yRow(p!, t), sRow(t)),
  )
  assert.throws(
    () => auditOpenings(badTree.root, [p!.shape], challenge, badOpenings, W, field, { rounds: () => rounds }),
    (e: unknown) => e instanceof FreivaldsError && e.code === 'WRONG_PRODUCT' && e.meta.row === rows[2],
  )
})

test('freivalds: an output off by a multiple of p is out of range, not hidden', () => {
  const [p] = makeProducts([[4, 64, 64]], 4)
  const y = Int32Array.from(yRow(p!, 0))
  const j = y.findIndex((v) => v >= 0)
  y[j] = y[j]! - P31 // fits int32 and is ≡ the true value mod p: every round alone would pass it
  const rounds = [prepareRound(field, p!.W, 64, 64, new Float64Array(64).fill(5))]
  assert.equal(rowPasses(field, rounds[0]!, xRow(p!, 0), y), true)
  assert.throws(
    () => checkRows(field, rounds, [{ row: 0, x: xRow(p!, 0), y }]),
    (e: unknown) => e instanceof FreivaldsError && e.code === 'OUT_OF_RANGE',
  )
  // And the audit refuses a prime too small to rule such errors out, unless a test asks.
  assert.equal(
    runAudit([p!], { products: 1, rows: 1, rounds: 1 }, new PrimeField(13), randomness(0)),
    'FIELD_TOO_SMALL',
  )
})

test('freivalds: with a tiny prime the miss rate of one corrupted element matches 1/p and 1/p^2', () => {
  const small = new PrimeField(13)
  const [p] = makeProducts([[4, 32, 32]], 5)
  const { inner: K, cols: N } = p!.shape
  const rand = rng(6)
  for (const k of [1, 2]) {
    const trials = 13000
    let missed = 0
    for (let trial = 0; trial < trials; trial++) {
      const t = Math.floor(rand() * 4)
      const j = Math.floor(rand() * N)
      const y = Int32Array.from(yRow(p!, t))
      y[j] = y[j]! + 1 + Math.floor(rand() * 12) // δ in 1..12: nonzero mod 13
      const { r } = deriveChallenge(
        randomness(trial, 10 + k),
        new Uint8Array(32),
        [p!.shape],
        { products: 1, rows: 1, rounds: k },
        small,
      )[0]!
      const rounds = r.map((v) => prepareRound(small, p!.W, K, N, v))
      try {
        checkRows(small, rounds, [{ row: t, x: xRow(p!, t), y }])
        missed++
      } catch (err) {
        assert.ok(err instanceof FreivaldsError && err.code === 'WRONG_PRODUCT')
      }
    }
    assertRate(missed, trials, roundsMiss(13, k), `k = ${k}`)
  }
})

test('freivalds: row and product sampling catch a confined cheat at the rate the bound gives', () => {
  // Two products of 16 rows; one row of one product is wrong; 4 rows opened of each.
  const products = makeProducts(
    [
      [16, 16, 16],
      [16, 16, 16],
    ],
    8,
  )
  products[1]!.Y[5 * 16 + 3]! += 1
  const params = { products: 2, rows: 4, rounds: 2 }
  const cheat = {
    products: 2,
    rows: 16,
    badProducts: 1,
    badRows: 1,
    auditedProducts: 2,
    openedRows: 4,
    p: P31,
    k: 2,
  }
  let caught = 0
  const trials = 2000
  for (let trial = 0; trial < trials; trial++) {
    const verdict = runAudit(products, params, field, randomness(trial, 20))
    if (verdict !== 'pass') {
      assert.equal(verdict, 'WRONG_PRODUCT')
      caught++
    }
  }
  assert.ok(Math.abs(1 - taskMiss(cheat) - 0.25) < 1e-12)
  assertRate(caught, trials, 1 - taskMiss(cheat), 'one row of 16, 4 opened')

  // Eight products; one is wrong in every row; 2 products audited: caught with 2/8.
  const eight = makeProducts(
    Array.from({ length: 8 }, (): [number, number, number] => [4, 8, 8]),
    9,
  )
  for (let i = 0; i < eight[6]!.Y.length; i++) eight[6]!.Y[i]! -= 1
  const productCheat = { ...cheat, products: 8, rows: 4, badRows: 4, auditedProducts: 2, openedRows: 1 }
  caught = 0
  for (let trial = 0; trial < trials; trial++) {
    if (runAudit(eight, { products: 2, rows: 1, rounds: 2 }, field, randomness(trial, 21)) !== 'pass')
      caught++
  }
  assert.ok(Math.abs(1 - taskMiss(productCheat) - 0.25) < 1e-12)
  assertRate(caught, trials, 1 - taskMiss(productCheat), 'one product of 8, 2 audited')
})

test('commitment: a wrong opening is refused', () => {
  const products = makeProducts(
    [
      [5, 8, 6],
      [3, 8, 6],
      [7, 6, 8],
    ],
    10,
  )
  const tree = commit(products)
  const shapes = products.map((p) => p.shape)
  const refused = (o: RowOpening, root = tree.root, s = shapes): void =>
    assert.throws(
      () => verifyOpening(root, s, o),
      (e: unknown) => e instanceof FreivaldsError && e.code === 'BAD_OPENING',
    )
  // Every honest opening verifies (odd widths: promoted nodes on the way up).
  products.forEach((p, i) => {
    for (let t = 0; t < p.shape.rows; t++)
      verifyOpening(tree.root, shapes, tree.open(i, t, xRow(p, t), yRow(p, t), sRow(t)))
  })
  const p = products[1]!
  const good = tree.open(1, 2, xRow(p, 2), yRow(p, 2), sRow(2))
  const xAltered = Int8Array.from(good.x)
  xAltered[0] = xAltered[0]! ^ 1
  refused({ ...good, x: xAltered })
  const yAltered = Int32Array.from(good.y)
  yAltered[5] = yAltered[5]! + 256
  refused({ ...good, y: yAltered })
  refused({ ...good, scale: good.scale * 2 })
  refused({ ...good, row: 1 })
  refused({ ...good, row: 3 }) // out of range for this product
  refused({ ...good, product: 0 })
  refused({ ...good, path: good.path.slice(1) })
  refused({ ...good, path: [...good.path, good.path[0]!] })
  const flipped = good.path.map((e) => Uint8Array.from(e))
  flipped[1]![7] = flipped[1]![7]! ^ 0x80
  refused({ ...good, path: flipped })
  const other = commit(
    makeProducts(
      [
        [5, 8, 6],
        [3, 8, 6],
        [7, 6, 8],
      ],
      11,
    ),
  )
  refused(good, other.root)
  refused(
    good,
    tree.root,
    shapes.map((s, i) => (i === 2 ? { ...s, rows: 8 } : s)),
  )
  refused({ ...good, x: xAltered.subarray(1) })
  // An opened row the challenge did not name, or a challenged row not opened.
  const challenge = deriveChallenge(
    randomness(1),
    tree.root,
    shapes,
    { products: 3, rows: 1, rounds: 1 },
    field,
  )
  const openings = challenge.map((c) =>
    tree.open(
      c.product,
      c.rows[0]!,
      xRow(products[c.product]!, c.rows[0]!),
      yRow(products[c.product]!, c.rows[0]!),
      sRow(c.rows[0]!),
    ),
  )
  const W = (l: number, j: number): Int8Array => products[2 * l + j]!.W
  auditOpenings(tree.root, shapes, challenge, openings, W, field)
  const code = (f: () => void): string => {
    try {
      f()
      return 'pass'
    } catch (err) {
      return err instanceof FreivaldsError ? err.code : 'other'
    }
  }
  assert.equal(
    code(() => auditOpenings(tree.root, shapes, challenge, openings.slice(1), W, field)),
    'NOT_CHALLENGED',
  )
  assert.equal(
    code(() => auditOpenings(other.root, shapes, challenge, openings, W, field)),
    'BAD_OPENING',
  )
})

test('challenge: deterministic, bound to its inputs, uniform elements', () => {
  const shapes: ProductShape[] = Array.from({ length: 20 }, (_, i) => ({
    layer: i,
    projection: 0,
    rows: 100,
    inner: 64,
    cols: 512,
  }))
  const root = new Uint8Array(32).fill(3)
  const a = deriveChallenge(randomness(1), root, shapes, FREIVALDS_DEFAULTS, field)
  assert.deepEqual(deriveChallenge(randomness(1), root, shapes, FREIVALDS_DEFAULTS, field), a)
  assert.notDeepEqual(deriveChallenge(randomness(2), root, shapes, FREIVALDS_DEFAULTS, field), a)
  const root2 = Uint8Array.from(root)
  root2[0] = 4
  assert.notDeepEqual(deriveChallenge(randomness(1), root2, shapes, FREIVALDS_DEFAULTS, field), a)
  assert.equal(a.length, 16)
  assert.equal(new Set(a.map((c) => c.product)).size, 16)
  let sum = 0
  let count = 0
  for (const c of a) {
    assert.equal(c.rows.length, 16)
    assert.equal(new Set(c.rows).size, 16)
    assert.equal(c.r.length, 2)
    for (const v of c.r) {
      for (const e of v) {
        assert.ok(Number.isInteger(e) && e >= 0 && e < P31)
        sum += e
        count++
      }
    }
  }
  // Mean of 16,384 uniform elements: (p − 1)/2 within 5 standard errors.
  const mean = sum / count
  assert.ok(Math.abs(mean - (P31 - 1) / 2) < (5 * P31) / Math.sqrt(12 * count), `mean ${mean}`)
  const shared = deriveChallenge(
    randomness(1),
    root,
    shapes,
    { ...FREIVALDS_DEFAULTS, shareRows: true },
    field,
  )
  for (const c of shared) assert.deepEqual(c.rows, shared[0]!.rows)
})

test('soundness: formulas agree with direct counts', () => {
  // avoidAll against brute-force enumeration of 3-subsets of 7 with 2 bad.
  let avoid = 0
  let total = 0
  for (let a = 0; a < 7; a++)
    for (let b = a + 1; b < 7; b++)
      for (let c = b + 1; c < 7; c++) {
        total++
        if (a >= 2 && b >= 2 && c >= 2) avoid++
      }
  assert.ok(Math.abs(avoidAll(7, 2, 3) - avoid / total) < 1e-12)
  let h = 0
  for (let j = 0; j <= 2; j++) h += hypergeometric(10, 4, 2, j)
  assert.ok(Math.abs(h - 1) < 1e-12)
  const base = {
    products: 224,
    rows: 512,
    badProducts: 7,
    badRows: 512,
    auditedProducts: 16,
    openedRows: 16,
    p: P31,
    k: 2,
  }
  assert.ok(Math.abs(taskMiss(base) - avoidAll(224, 7, 16)) < 1e-12)
  assert.equal(taskMiss({ ...base, badProducts: 224 }), roundsMiss(P31, 2) ** 16)
  assert.ok(Math.abs(epochMiss(base, 1, 2) - taskMiss(base) ** 2) < 1e-15)
})
