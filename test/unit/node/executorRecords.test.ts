import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Level } from 'level'
import { toHex } from '../../../src/ledger/index.js'
import { ExecutorRecords } from '../../../src/node/infer/executorRecords.js'
import { TaskStore, type TaskRecordJson } from '../../../src/node/infer/taskStore.js'
import { TaskRecordSource } from '../../../src/node/verify/recordSource.js'
import { tempDir } from '../../helpers/cli.js'
import { encodeTrace, TraceRecorder, type AuditTrace } from '../../../src/verify/freivalds/index.js'
import { testSigner } from '../../helpers/chainSim.js'
import { testRecord, testRequest } from '../../helpers/taskRecord.js'

const executor = testSigner(1)
const client = testSigner(2).peerId
const record = (nonce: number) => testRecord(executor, testRequest(client, nonce), [nonce, nonce + 1])

const json = (nonce: number, epoch: number): TaskRecordJson => ({
  taskId: toHex(record(nonce).receipt.taskId),
  time: nonce,
  epoch,
  model: 'm@0',
  executor: executor.peerId,
  request: {},
  route: { seed: '', candidates: [], order: [], attempts: [] },
  prompt: 'p',
  output: `out ${nonce}`,
  tokens: record(nonce).tokens,
  receipt: {},
  receiptSig: '',
  cost: '1',
})

async function withDb(fn: (open: () => Level<string, Uint8Array>) => Promise<void>): Promise<void> {
  const dir = tempDir()
  try {
    await fn(() => new Level<string, Uint8Array>(join(dir.path, 'db'), { valueEncoding: 'view' }))
  } finally {
    dir.cleanup()
  }
}

test('executor records: kept by task id, pruned by epoch, bounded by count (oldest epoch first), across a reopen', async () => {
  await withDb(async (open) => {
    let db = open()
    let store = new ExecutorRecords(db, 4)
    await store.open()
    for (const [nonce, epoch] of [
      [1, 1],
      [2, 1],
      [3, 2],
      [4, 3],
    ] as const)
      await store.put(record(nonce), epoch)
    assert.deepEqual(await store.get(record(3).receipt.taskId), record(3))
    assert.equal(await store.get(toHex(record(9).receipt.taskId)), undefined)
    // A fifth record pushes out the oldest epoch's first.
    await store.put(record(5), 3)
    assert.equal(store.size, 4)
    assert.equal(await store.get(record(1).receipt.taskId), undefined)
    assert.deepEqual(await store.get(record(2).receipt.taskId), record(2))
    // The same task again replaces its record rather than adding one.
    await store.put(record(5), 4)
    assert.equal(store.size, 4)
    assert.equal(await store.prune(2), 1, 'epoch 1 goes')
    assert.equal(await store.get(record(2).receipt.taskId), undefined)
    assert.equal(store.size, 3)
    await db.close()

    db = open()
    store = new ExecutorRecords(db, 4)
    await store.open()
    assert.equal(store.size, 3, 'the count was restored on reopen')
    assert.equal(await store.prune(4), 2, 'epochs 2 and 3 go; the record moved to epoch 4 stays')
    assert.deepEqual(await store.get(record(5).receipt.taskId), record(5))
    await db.close()
  })
})

test('gateway records keep the verifiable record beside the JSON, and are pruned by epoch', async () => {
  await withDb(async (open) => {
    let db = open()
    let store = new TaskStore(db, 3)
    await store.open()
    for (const [nonce, epoch] of [
      [1, 1],
      [2, 2],
      [3, 2],
      [4, 3],
    ] as const)
      await store.put(json(nonce, epoch), record(nonce))
    const id = (n: number) => toHex(record(n).receipt.taskId)
    assert.equal(await store.verifiableRecord(id(1)), undefined, 'evicted with its JSON')
    assert.deepEqual(await store.verifiableRecord(id(2)), record(2))
    assert.equal((await store.get(id(4)))?.epoch, 3)
    assert.equal(await store.prune(3), 2)
    assert.equal(await store.get(id(3)), undefined)
    assert.equal(await store.verifiableRecord(id(3)), undefined)
    assert.deepEqual(await store.verifiableRecord(id(4)), record(4))
    await db.close()

    db = open()
    store = new TaskStore(db, 3)
    await store.open()
    assert.equal(store.size, 1)
    for (const n of [5, 6, 7]) await store.put(json(n, 4), record(n))
    assert.equal(await store.get(id(4)), undefined, 'the oldest goes first after a prune and a reopen')
    assert.equal(store.size, 3)
    await db.close()
  })
})

test('the record source answers from the executor records first, then the gateway, and nothing when told to keep none', async () => {
  await withDb(async (open) => {
    const db = open()
    const executorRecords = new ExecutorRecords(db, 10)
    const gateway = new TaskStore(db, 10)
    await Promise.all([executorRecords.open(), gateway.open()])
    await executorRecords.put(record(1), 1)
    await gateway.put(json(2, 1), record(2))
    // Both keep task 3; the executor's copy is the one served.
    const mine = { ...record(3), tokens: [42, 43] }
    await executorRecords.put(mine, 1)
    await gateway.put(json(3, 1), record(3))
    const source = new TaskRecordSource({ executor: executorRecords, gateway })
    for (const [n, expected] of [
      [1, record(1)],
      [2, record(2)],
      [3, mine],
    ] as const)
      assert.deepEqual(await source.get(record(n).receipt.taskId), expected)
    assert.equal(await source.get(record(4).receipt.taskId), undefined)
    assert.equal(
      await new TaskRecordSource({ executor: null, gateway: null }).get(record(1).receipt.taskId),
      undefined,
    )
    const cheat = new TaskRecordSource({ executor: executorRecords, gateway }, { noRecords: true })
    assert.equal(await cheat.get(record(1).receipt.taskId), undefined)
    await db.close()
  })
})

test('executor records: audit traces go with their records, and their bytes are bounded (oldest first), across a reopen', async () => {
  const trace = (seed: number): AuditTrace => {
    const r = new TraceRecorder([{ layer: 0, projection: 0, inner: 8, cols: 8 }])
    r.append(
      0,
      new Int8Array(8 * 10).fill(seed),
      new Int32Array(8 * 10).fill(seed),
      new Float32Array(10).fill(1),
    )
    return r.finish()
  }
  const size = encodeTrace(trace(1)).length
  await withDb(async (open) => {
    let db = open()
    // Room for two traces; records up to 4.
    let store = new ExecutorRecords(db, 4, 2 * size + 10)
    await store.open()
    await store.put(record(1), 1, trace(1))
    await store.put(record(2), 1, trace(2))
    assert.equal(store.tracesSize, 2 * size)
    assert.deepEqual((await store.trace(record(1).receipt.taskId))?.root, trace(1).root)
    // A third trace pushes out the oldest trace; its record stays.
    await store.put(record(3), 2, trace(3))
    assert.equal(await store.trace(record(1).receipt.taskId), undefined)
    assert.deepEqual(await store.get(record(1).receipt.taskId), record(1))
    assert.deepEqual((await store.trace(record(3).receipt.taskId))?.root, trace(3).root)
    assert.equal(store.tracesSize, 2 * size)
    // A record replaced without a trace loses its old one; a pruned record takes its trace along.
    await store.put(record(2), 2)
    assert.equal(await store.trace(record(2).receipt.taskId), undefined)
    assert.equal(store.tracesSize, size)
    await db.close()
    db = open()
    store = new ExecutorRecords(db, 4, 2 * size + 10)
    await store.open()
    assert.equal(store.tracesSize, size, 'the trace bytes are counted again on reopen')
    assert.equal(await store.prune(3), 3)
    assert.equal(await store.trace(record(3).receipt.taskId), undefined)
    assert.equal(store.tracesSize, 0)
    // A trace larger than the whole bound is not kept at all.
    await new ExecutorRecords(db, 4, size - 1).put(record(4), 3, trace(4))
    assert.equal(await store.trace(record(4).receipt.taskId), undefined)
    await db.close()
  })
})
