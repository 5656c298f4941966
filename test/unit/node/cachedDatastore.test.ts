import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Level } from 'level'
import { Key } from 'interface-datastore'
import { CachedLevelDatastore } from '../../../src/node/cachedDatastore.js'
import { tempDir } from '../../helpers/cli.js'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array): string => new TextDecoder().decode(b)

test('the cached datastore reads back every write, batch and delete, and stays bounded', async (t) => {
  const dir = tempDir()
  const db = new Level<string, Uint8Array>(join(dir.path, 'db'), { valueEncoding: 'view' })
  const ds = new CachedLevelDatastore(db, 2)
  await ds.open()
  t.after(async () => {
    await ds.close()
    dir.cleanup()
  })
  const a = new Key('/peers/a')
  await ds.put(a, bytes('1'))
  assert.equal(text(await ds.get(a)), '1')
  assert.equal(ds.cached, 1)
  await ds.put(a, bytes('2'))
  assert.equal(text(await ds.get(a)), '2', 'a put replaces what the cache held')

  const batch = ds.batch()
  batch.put(a, bytes('3'))
  await batch.commit()
  assert.equal(text(await ds.get(a)), '3', 'so does a batch')

  // What is on disk is what was written: a second datastore over the same LevelDB agrees.
  assert.equal(text(await db.get('/peers/a')), '3')

  await ds.delete(a)
  await assert.rejects(ds.get(a), 'a deleted key is gone, not served from the cache')

  // A key LevelDB lacks is remembered as missing, until it is written.
  const e = new Key('/peers/e')
  await assert.rejects(ds.get(e), { name: 'NotFoundError' })
  await assert.rejects(ds.get(e), { name: 'NotFoundError' }, 'still missing, from the cache')
  await ds.put(e, bytes('5'))
  assert.equal(text(await ds.get(e)), '5', 'a write ends the miss')
  // Buffers are copied in and out: changing one changes nothing stored.
  const value = bytes('6')
  await ds.put(e, value)
  value[0] = 0x37
  const read = await ds.get(e)
  read[0] = 0x38
  assert.equal(text(await ds.get(e)), '6')

  for (const k of ['b', 'c', 'd']) await ds.put(new Key(`/peers/${k}`), bytes(k))
  for (const k of ['b', 'c', 'd']) assert.equal(text(await ds.get(new Key(`/peers/${k}`))), k)
  assert.equal(ds.cached, 2, 'at most maxEntries records in memory')
})
