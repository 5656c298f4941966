import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Level } from 'level'
import { TaskStore, type TaskRecordJson } from '../../../src/node/infer/taskStore.js'
import { tempDir } from '../../helpers/cli.js'

const record = (i: number): TaskRecordJson => ({
  taskId: i.toString(16).padStart(64, '0'),
  time: i,
  model: 'm@0',
  executor: 'e',
  request: {},
  route: { seed: '', candidates: [], order: [], attempts: [] },
  prompt: 'p',
  output: `out ${i}`,
  tokens: [i],
  receipt: {},
  receiptSig: '',
  cost: '1',
})

test('task records are kept up to the limit, oldest dropped first, and survive a reopen', async () => {
  const dir = tempDir()
  try {
    const path = join(dir.path, 'db')
    let db = new Level<string, Uint8Array>(path, { valueEncoding: 'view' })
    let store = new TaskStore(db, 3)
    await store.open()
    for (let i = 1; i <= 5; i++) await store.put(record(i))
    assert.equal(await store.get(record(1).taskId), undefined)
    assert.equal(await store.get(record(2).taskId), undefined)
    assert.equal((await store.get(record(5).taskId))?.output, 'out 5')
    await db.close()

    db = new Level<string, Uint8Array>(path, { valueEncoding: 'view' })
    store = new TaskStore(db, 3)
    await store.open()
    await store.put(record(6))
    assert.equal(await store.get(record(3).taskId), undefined, 'the count was restored on reopen')
    for (const i of [4, 5, 6]) assert.equal((await store.get(record(i).taskId))?.tokens[0], i)
    await db.close()
  } finally {
    dir.cleanup()
  }
})

test('the newest records are listed newest first, within the limit, and none once pruned', async () => {
  const dir = tempDir()
  try {
    const db = new Level<string, Uint8Array>(join(dir.path, 'db'), { valueEncoding: 'view' })
    const store = new TaskStore(db, 4)
    await store.open()
    assert.deepEqual(await store.recent(10), [])
    for (let i = 1; i <= 6; i++) await store.put({ ...record(i), epoch: i })
    assert.deepEqual(
      (await store.recent(3)).map((r) => r.time),
      [6, 5, 4],
    )
    assert.deepEqual(
      (await store.recent(10)).map((r) => r.time),
      [6, 5, 4, 3],
      'only what the store still holds',
    )
    await store.prune(6)
    assert.deepEqual(
      (await store.recent(10)).map((r) => r.time),
      [6],
    )
    await db.close()
  } finally {
    dir.cleanup()
  }
})
