import { test } from 'node:test'
import assert from 'node:assert/strict'
import { encode } from '../../../src/ledger/codec.js'
import {
  CodecError,
  decodeReceipt,
  encodeReceipt,
  signReceipt,
  verifyReceipt,
} from '../../../src/ledger/index.js'
import {
  decodeTrace,
  encodeTrace,
  FreivaldsError,
  openTrace,
  RowCommitter,
  TraceRecorder,
  verifyOpening,
} from '../../../src/verify/freivalds/index.js'
import {
  decodeOpenRequest,
  decodeOpenResponse,
  encodeOpenRequest,
  encodeOpenResponse,
  MAX_OPEN_ROWS,
} from '../../../src/protocols/task/index.js'
import { testSigner } from '../../helpers/chainSim.js'
import { testRecord, testRequest } from '../../helpers/taskRecord.js'
import { xorshift } from '../../helpers/rng.js'

// The executor's side of an int8 audit (issue 13, item 3): the products recorded step by step as
// generation runs (a prefill of several rows, then one row per token), committed, kept, and opened
// later over `task-open`; and the receipt that signs the root.

const PRODUCTS = [
  { layer: 0, projection: 0, inner: 6, cols: 5 },
  { layer: 0, projection: 1, inner: 5, cols: 7 },
  { layer: 1, projection: 0, inner: 6, cols: 5 },
]
const STEPS = [4, 1, 1, 1] // a prefill of 4, then three tokens: T = 7

function steps(seed: number): Array<Array<{ x: Int8Array; y: Int32Array; scale: Float32Array }>> {
  const rand = xorshift(seed)
  return STEPS.map((n) =>
    PRODUCTS.map((p) => ({
      x: Int8Array.from({ length: n * p.inner }, () => Math.floor(rand() * 255) - 127),
      y: Int32Array.from({ length: n * p.cols }, () => Math.floor(rand() * 2 ** 31) - 2 ** 30),
      scale: Float32Array.from({ length: n }, () => rand()),
    })),
  )
}

function record(seed: number): { trace: ReturnType<TraceRecorder['finish']>; all: ReturnType<typeof steps> } {
  const all = steps(seed)
  const r = new TraceRecorder(PRODUCTS)
  for (const step of all) step.forEach((p, i) => r.append(i, p.x, p.y, p.scale))
  return { trace: r.finish(), all }
}

test('a recorded trace commits every row; kept and reopened, each opening verifies and carries the row as computed', () => {
  const { trace, all } = record(1)
  const T = STEPS.reduce((a, b) => a + b)
  assert.deepEqual(
    trace.shapes.map((s) => s.rows),
    [T, T, T],
  )
  // The same root as committing the rows directly, in product then row order.
  const c = new RowCommitter(trace.shapes)
  PRODUCTS.forEach((p, i) => {
    let row = 0
    for (const step of all) {
      const s = step[i]!
      for (let k = 0; k < s.scale.length; k++, row++)
        c.add(
          i,
          row,
          s.x.subarray(k * p.inner, (k + 1) * p.inner),
          s.y.subarray(k * p.cols, (k + 1) * p.cols),
          s.scale[k]!,
        )
    }
  })
  assert.deepEqual(c.finish().root, trace.root)

  const kept = decodeTrace(encodeTrace(trace))
  assert.deepEqual(kept.root, trace.root)
  const openings = openTrace(kept, [
    { product: 0, rows: [0, 4, 6] },
    { product: 2, rows: [5] },
  ])
  assert.equal(openings.length, 4)
  for (const o of openings) verifyOpening(trace.root, trace.shapes, o)
  // Row 5 of product 2 is the second decode step's row (steps: 4, 1, 1, 1).
  const o = openings[3]!
  assert.deepEqual(Array.from(o.x), Array.from(all[2]![2]!.x))
  assert.deepEqual(Array.from(o.y), Array.from(all[2]![2]!.y))
  assert.equal(o.scale, all[2]![2]!.scale[0])
})

test('a trace refuses uneven products, unknown rows, and a damaged store', () => {
  const r = new TraceRecorder(PRODUCTS)
  const all = steps(2)
  all[0]!.forEach((p, i) => r.append(i, p.x, p.y, p.scale))
  r.append(0, all[1]![0]!.x, all[1]![0]!.y, all[1]![0]!.scale)
  assert.throws(() => r.finish(), FreivaldsError)
  assert.throws(() => r.append(0, new Int8Array(3), new Int32Array(5), new Float32Array(1)), FreivaldsError)

  const { trace } = record(3)
  assert.throws(() => openTrace(trace, [{ product: 3, rows: [0] }]), FreivaldsError)
  assert.throws(() => openTrace(trace, [{ product: 0, rows: [7] }]), FreivaldsError)
  const bytes = encodeTrace(trace)
  // A flipped leaf no longer rebuilds the root: refuse rather than open under another root.
  const damaged = Uint8Array.from(bytes)
  damaged[12 + 20 * 3 + 32 + 5]! ^= 1
  assert.throws(() => openTrace(decodeTrace(damaged), [{ product: 0, rows: [0] }]), /rebuild the root/)
  assert.throws(() => decodeTrace(bytes.subarray(0, bytes.length - 1)), /wrong length/)
  assert.throws(() => decodeTrace(new Uint8Array(8)), /not a version 1 trace/)
})

test('openings cross task-open intact; requests and answers are bounded and shaped', () => {
  const { trace } = record(4)
  const taskId = new Uint8Array(32).fill(9)
  const requests = [
    { product: 1, rows: [0, 2, 3] },
    { product: 2, rows: [6] },
  ]
  assert.deepEqual(decodeOpenRequest(encodeOpenRequest(taskId, requests)), { taskId, requests })
  const openings = openTrace(trace, requests)
  const back = decodeOpenResponse(encodeOpenResponse(openings))!
  assert.deepEqual(back, openings)
  for (const o of back) verifyOpening(trace.root, trace.shapes, o)
  assert.equal(decodeOpenResponse(encodeOpenResponse(undefined)), undefined)

  const codec = (err: unknown): boolean => err instanceof CodecError
  const tooMany = [{ product: 0, rows: Array.from({ length: MAX_OPEN_ROWS / 2 + 1 }, (_, i) => i) }]
  assert.throws(() => decodeOpenRequest(encodeOpenRequest(taskId, [...tooMany, ...tooMany])), codec)
  assert.throws(() => decodeOpenRequest(encodeOpenRequest(new Uint8Array(31), requests)), codec)
  assert.throws(() => decodeOpenRequest(encode([taskId, [[0, [-1]]]])), codec)
  // An int32 row of a length no row has, a scale of the wrong size, a path element not 32 bytes.
  const bad = (o: unknown[]): Uint8Array => encode([1, [o]])
  const good = (): unknown[] => [0, 0, new Uint8Array(6), new Uint8Array(20), new Uint8Array(4), []]
  assert.equal(decodeOpenResponse(bad(good()))!.length, 1)
  assert.throws(
    () => decodeOpenResponse(bad([0, 0, new Uint8Array(6), new Uint8Array(19), new Uint8Array(4), []])),
    codec,
  )
  assert.throws(
    () => decodeOpenResponse(bad([0, 0, new Uint8Array(6), new Uint8Array(20), new Uint8Array(3), []])),
    codec,
  )
  assert.throws(
    () =>
      decodeOpenResponse(
        bad([0, 0, new Uint8Array(6), new Uint8Array(20), new Uint8Array(4), [new Uint8Array(31)]]),
      ),
    codec,
  )
  assert.throws(() => decodeOpenResponse(encode([2])), codec)
})

test('a receipt signs its audit root; one without a root encodes as before', () => {
  const executor = testSigner(1)
  const { receipt } = testRecord(executor, testRequest(testSigner(2).peerId, 1))
  assert.equal((encodeReceipt(receipt) as unknown[]).length, 6)
  assert.deepEqual(decodeReceipt(encodeReceipt(receipt)), receipt)
  const rooted = { ...receipt, auditRoot: new Uint8Array(32).fill(7) }
  assert.deepEqual(decodeReceipt(encodeReceipt(rooted)), rooted)
  const sig = signReceipt('test-chain', executor, rooted)
  assert.ok(verifyReceipt('test-chain', executor.peerId, rooted, sig))
  // Another root, or none, under the same signature does not verify.
  assert.ok(!verifyReceipt('test-chain', executor.peerId, { ...rooted, auditRoot: new Uint8Array(32) }, sig))
  assert.ok(!verifyReceipt('test-chain', executor.peerId, receipt, sig))
  assert.throws(
    () => decodeReceipt([...(encodeReceipt(receipt) as unknown[]), new Uint8Array(31)]),
    CodecError,
  )
})
