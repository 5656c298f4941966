// `npm run bench:verify -- freivalds`: what a Freivalds audit of int8 products costs (issue 13).
// Printed, never asserted. For Llama-like int8 products Y = X·W (T×K int8 by K×N int8 → int32):
//  - the product itself: onnxruntime-node's MatMulInteger on the CPU (the engine's int8 path;
//    `BENCH_THREADS` intra-op threads, default 2) and a plain JavaScript loop (the same run);
//  - the executor's commit (hashing every row into the Merkle tree), the challenge derivation,
//    the openings of m = 16 rows, and the verifier's check (paths, W r for k = 2 rounds, rows);
//  - the check twice: W r by the JavaScript loop, and by MatMulInteger over r's base-128 digits
//    (what a verifier with the engine does);
//  - audit = commit + open + check, as a fraction of the product's own compute: against ORT with
//    the ORT check (audit/ORT) and against the JS product with the JS check (audit/JS); median of
//    BENCH_RUNS (default 5);
//  - the soundness table of docs/verification.md, "Freivalds audits (int8 tasks)".
import ort from 'onnxruntime-node'
import onnxProto from 'onnx-proto'
import {
  FREIVALDS_DEFAULTS,
  P31,
  PrimeField,
  DIGITS,
  RowCommitter,
  auditOpenings,
  roundDigits,
  roundsFromProjection,
  type RowTree,
  deriveChallenge,
  epochMiss,
  roundsMiss,
  taskMiss,
  type CheatShape,
  type ProductShape,
  type RowOpening,
} from '../src/verify/freivalds/index.js'
import { print, progress, table, ms } from './lib/report.js'
import { seededRandom, summarize } from './lib/stats.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const THREADS = Number(process.env.BENCH_THREADS ?? 2)
const { onnx } = onnxProto

/** Generic shapes (T, K, N): 1024-wide, MLP expansion 4× and back, a longer task, 4096 square. */
const GENERIC: Array<[number, number, number]> = [
  [64, 1024, 1024],
  [64, 1024, 4096],
  [64, 4096, 1024],
  [256, 1024, 1024],
  [16, 4096, 4096],
]

/** One decoder layer's int8 products: name, K, N. P per task = layers × these. */
const LAYERS: Record<string, { layers: number; T: number; products: Array<[string, number, number]> }> = {
  'kjv-small': {
    layers: 4,
    T: 256,
    products: [
      ['c_attn', 256, 768],
      ['attn.c_proj', 256, 256],
      ['c_fc', 256, 1024],
      ['mlp.c_proj', 1024, 256],
    ],
  },
  'Llama-3-8B': {
    layers: 32,
    T: 64,
    products: [
      ['q', 4096, 4096],
      ['k', 4096, 1024],
      ['v', 4096, 1024],
      ['o', 4096, 4096],
      ['gate', 4096, 14336],
      ['up', 4096, 14336],
      ['down', 14336, 4096],
    ],
  },
}

/** Medians of one shape, ms. */
interface Measured {
  ort: number
  commit: number
  open: number
  checkOrt: number
}

function randomInt8(n: number, rand: () => number): Int8Array {
  const a = new Int8Array(n)
  for (let i = 0; i < n; i++) a[i] = Math.floor(rand() * 256) - 128
  return a
}

function gemmJs(X: Int8Array, W: Int8Array, T: number, K: number, N: number): Int32Array {
  const Y = new Int32Array(T * N)
  for (let t = 0; t < T; t++) {
    const acc = Y.subarray(t * N, (t + 1) * N)
    for (let k = 0; k < K; k++) {
      const xv = X[t * K + k]!
      const base = k * N
      for (let n = 0; n < N; n++) acc[n]! += xv * W[base + n]!
    }
  }
  return Y
}

/** A one-node graph: Y = MatMulInteger(X, W) (T×K by K×N), int8 × int8 → int32, both as inputs. */
export async function ortGemm(T: number, K: number, N: number): Promise<ort.InferenceSession> {
  const DT = onnx.TensorProto.DataType
  const info = (
    name: string,
    elemType: number,
    dims: number[],
  ): ReturnType<typeof onnx.ValueInfoProto.create> =>
    onnx.ValueInfoProto.create({
      name,
      type: onnx.TypeProto.create({
        tensorType: onnx.TypeProto.Tensor.create({
          elemType,
          shape: onnx.TensorShapeProto.create({
            dim: dims.map((d) => onnx.TensorShapeProto.Dimension.create({ dimValue: d })),
          }),
        }),
      }),
    })
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 17 })],
    graph: onnx.GraphProto.create({
      name: 'gemm',
      node: [onnx.NodeProto.create({ opType: 'MatMulInteger', input: ['X', 'W'], output: ['Y'] })],
      input: [info('X', DT.INT8, [T, K]), info('W', DT.INT8, [K, N])],
      output: [info('Y', DT.INT32, [T, N])],
    }),
  })
  return ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), {
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
  })
}

function time(f: () => void): number {
  const t0 = performance.now()
  f()
  return performance.now() - t0
}

async function cost(
  shapes: Array<[number, number, number]>,
): Promise<{ rows: string[][]; measured: Measured[] }> {
  const field = new PrimeField(FREIVALDS_DEFAULTS.p)
  const params = { products: 1, rows: FREIVALDS_DEFAULTS.rows, rounds: FREIVALDS_DEFAULTS.rounds }
  const rand = seededRandom(1)
  const rows: string[][] = [
    [
      'T×K→N',
      'ORT int8',
      'JS int8',
      'commit',
      'challenge',
      'open',
      'check (JS W r)',
      'check (ORT W r)',
      'commit/ORT',
      'check/ORT',
      'audit/ORT',
      'audit/JS',
    ],
  ]
  const measured: Measured[] = []
  for (const [T, K, N] of shapes) {
    const W = randomInt8(K * N, rand)
    const X = randomInt8(T * K, rand)
    const session = await ortGemm(T, K, N)
    const feeds = { X: new ort.Tensor('int8', X, [T, K]), W: new ort.Tensor('int8', W, [K, N]) }
    const ortY = (await session.run(feeds)).Y!.data as Int32Array
    // The verifier's W r as W·D (K×N by N×(5·k) base-128 digits) through the same kernel.
    const cols = DIGITS * params.rounds
    const projector = await ortGemm(K, N, cols)
    // The JS product (seconds for the largest shapes) only where it is quick; it must equal ORT's.
    let Y: Int32Array = Int32Array.from(ortY)
    const js: number[] = []
    if (T * K * N <= 2 ** 28) {
      for (let i = 0; i < RUNS; i++) js.push(time(() => (Y = gemmJs(X, W, T, K, N))))
      for (let i = 0; i < Y.length; i++) if (Y[i] !== ortY[i]) throw new Error(`ORT and JS differ at ${i}`)
    }
    const ortMs: number[] = []
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now()
      await session.run(feeds)
      ortMs.push(performance.now() - t0)
    }
    await session.release()
    const checkOrt: number[] = []
    const shape: ProductShape = { layer: 0, projection: 0, rows: T, inner: K, cols: N }
    const commit: number[] = []
    const challenge: number[] = []
    const open: number[] = []
    const check: number[] = []
    for (let run = 0; run < RUNS; run++) {
      let built: RowTree | undefined
      commit.push(
        time(() => {
          const c = new RowCommitter([shape])
          for (let t = 0; t < T; t++)
            c.add(0, t, X.subarray(t * K, (t + 1) * K), Y.subarray(t * N, (t + 1) * N), 1)
          built = c.finish()
        }),
      )
      const tree = built!
      const seed = new Uint8Array(32).fill(run + 1)
      let ch = deriveChallenge(seed, tree.root, [shape], params, field)
      challenge.push(time(() => (ch = deriveChallenge(seed, tree.root, [shape], params, field))))
      let openings: RowOpening[] = []
      open.push(
        time(() => {
          openings = ch[0]!.rows.map((t) =>
            tree.open(0, t, X.subarray(t * K, (t + 1) * K), Y.subarray(t * N, (t + 1) * N), 1),
          )
        }),
      )
      check.push(time(() => auditOpenings(tree.root, [shape], ch, openings, () => W, field)))
      const t0 = performance.now()
      const D = roundDigits(field, ch[0]!.r, N)
      const out = await projector.run({
        X: new ort.Tensor('int8', W, [K, N]),
        W: new ort.Tensor('int8', D, [N, cols]),
      })
      const rounds = roundsFromProjection(field, ch[0]!.r, out.Y!.data as Int32Array, K)
      auditOpenings(tree.root, [shape], ch, openings, () => W, field, { rounds: () => rounds })
      checkOrt.push(performance.now() - t0)
    }
    await projector.release()
    const o = summarize(ortMs).p50
    const j = js.length > 0 ? summarize(js).p50 : Number.NaN
    const c = summarize(commit).p50
    const op = summarize(open).p50
    const k = summarize(check).p50
    const kOrt = summarize(checkOrt).p50
    const pct = (v: number): string => `${((100 * v) / o).toFixed(1)}%`
    rows.push([
      `${T}×${K}→${N}`,
      ms(o),
      ms(j),
      ms(c),
      ms(summarize(challenge).p50),
      ms(op),
      ms(k),
      ms(kOrt),
      pct(c),
      pct(kOrt),
      pct(c + op + kOrt),
      js.length > 0 ? `${((100 * (c + op + k)) / j).toFixed(2)}%` : '—',
    ])
    measured.push({ ort: o, commit: c, open: op, checkOrt: kOrt })
    progress(`freivalds cost: ${T}×${K}→${N} done`)
  }
  return { rows, measured }
}

/**
 * A whole task's audit against its int8 products (attention scores, norms and the rest are left
 * out, so the fraction of the whole inference is smaller still): every product committed, `a` of
 * the `P` audited (each product equally likely), per layer figures times the layers.
 */
function taskFraction(name: string, m: Measured[]): string[] {
  const spec = LAYERS[name]!
  const P = spec.layers * spec.products.length
  const a = Math.min(FREIVALDS_DEFAULTS.products, P)
  const sum = (f: (x: Measured) => number): number => m.reduce((s, x) => s + f(x), 0)
  const products = spec.layers * sum((x) => x.ort)
  const commit = spec.layers * sum((x) => x.commit)
  const check = (a / P) * spec.layers * sum((x) => x.open + x.checkOrt)
  const pct = (v: number): string => `${((100 * v) / products).toFixed(2)}%`
  return [
    name,
    `T = ${spec.T}`,
    `${a} of ${P}`,
    ms(products),
    ms(commit),
    ms(check),
    pct(commit),
    pct(check),
    pct(commit + check),
  ]
}

/** Llama-3-8B per task: 32 layers × 7 projections; kjv-small: 4 layers × 4. */
function soundness(): string[][] {
  const { p, rounds: k, products: a, rows: m } = FREIVALDS_DEFAULTS
  const rows: string[][] = [
    ['model, T', 'cheat', 'miss per audited task', 'miss per epoch, n = 100, q = 1%', 'n = 500, q = 1%'],
  ]
  const models: Array<[string, number, number, number]> = [
    ['kjv-small, T = 256', 16, 4, 256],
    ['Llama-3-8B, T = 512', 224, 7, 512],
  ]
  for (const [name, P, perLayer, T] of models) {
    const base = { products: P, rows: T, auditedProducts: a, openedRows: m, p, k }
    const cheats: Array<[string, CheatShape]> = [
      ['one row of one product', { ...base, badProducts: 1, badRows: 1 }],
      ['one product, every row', { ...base, badProducts: 1, badRows: T }],
      ['one layer, every row', { ...base, badProducts: perLayer, badRows: T }],
      ['one token through every product', { ...base, badProducts: P, badRows: 1 }],
      ['10% of rows of every product', { ...base, badProducts: P, badRows: Math.ceil(T / 10) }],
      ['every product, every row', { ...base, badProducts: P, badRows: T }],
    ]
    for (const [what, c] of cheats)
      rows.push([
        name,
        what,
        taskMiss(c).toExponential(3),
        epochMiss(c, 0.01, 100).toExponential(3),
        epochMiss(c, 0.01, 500).toExponential(3),
      ])
  }
  return rows
}

export async function freivaldsBench(): Promise<void> {
  const { rows: costRows } = await cost(GENERIC)
  const task: string[][] = [
    [
      'model',
      'rows',
      'audited',
      'products (ORT)',
      'commit',
      'open + check',
      'commit',
      'open + check',
      'audit / products',
    ],
  ]
  for (const name of Object.keys(LAYERS)) {
    const spec = LAYERS[name]!
    const { rows, measured } = await cost(
      spec.products.map(([, K, N]): [number, number, number] => [spec.T, K, N]),
    )
    costRows.push(
      ...rows.slice(1).map((r, i) => [`${name} ${spec.products[i]![0]}: ${r[0]!}`, ...r.slice(1)]),
    )
    task.push(taskFraction(name, measured))
  }
  print(
    `Freivalds audit cost of one product (p = 2^31 − 1, k = ${FREIVALDS_DEFAULTS.rounds}, m = ${FREIVALDS_DEFAULTS.rows} rows opened; ` +
      `ORT MatMulInteger on ${THREADS} threads; median of ${RUNS})`,
  )
  print(table(costRows))
  print()
  print('a whole task: every int8 product committed, a of P audited (open + check with ORT W r)')
  print(table(task))
  print()
  print(
    `soundness (a = ${FREIVALDS_DEFAULTS.products} products, m = ${FREIVALDS_DEFAULTS.rows} rows, k = ${FREIVALDS_DEFAULTS.rounds}; one round misses with ${roundsMiss(P31, 1).toExponential(2)})`,
  )
  print(table(soundness()))
}
