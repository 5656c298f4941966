import '../../../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Level } from 'level'
import { Key } from 'interface-datastore'
import { persistentPeerStore } from '@libp2p/peer-store'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { libp2pLogger } from '../../../src/node/libp2pLogger.js'
import { CachedLevelDatastore, PEER_TOUCH_MS, sameApartFrom } from '../../../src/node/cachedDatastore.js'
import { tempDir } from '../../helpers/cli.js'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array): string => new TextDecoder().decode(b)

test('the cached datastore reads back every write, batch and delete, and stays bounded', async (t) => {
  const dir = tempDir()
  const db = new Level<string, Uint8Array>(join(dir.path, 'db'), { valueEncoding: 'view' })
  const ds = new CachedLevelDatastore(db, { maxEntries: 2 })
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

/** Where the peer store announces its changes: nowhere (it needs somewhere). */
const events = Object.assign(new EventTarget(), { safeDispatchEvent: () => true }) as never

/** A logger that drops everything: the peer store needs one. */
const quiet = libp2pLogger('')

test('a peer record saved again with nothing new but its time reaches LevelDB at most once per PEER_TOUCH_MS', async (t) => {
  const dir = tempDir()
  const db = new Level<string, Uint8Array>(join(dir.path, 'db'), { valueEncoding: 'view' })
  let now = 1_000_000
  const ds = new CachedLevelDatastore(db, { clock: { now: () => now } })
  await ds.open()
  t.after(async () => {
    await ds.close()
    dir.cleanup()
  })
  // libp2p's own persistent peer store over it, as the daemon runs it.
  const self = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  const store = persistentPeerStore({
    peerId: self,
    datastore: ds,
    events,
    logger: quiet,
  })
  const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  const key = `/peers/${other.toCID().toString()}`
  const onDisk = async (): Promise<Uint8Array> => {
    const v = await db.get(key)
    assert.ok(v !== undefined, 'the record is on disk')
    return v
  }

  await store.merge(other, { protocols: ['/a/1'] })
  const first = await onDisk()
  assert.deepEqual((await store.get(other)).protocols, ['/a/1'])

  // The same merge again (what every stream opened does): the record in memory is new, the disk's is not.
  now += 1000
  await store.merge(other, { protocols: ['/a/1'] })
  assert.equal(Buffer.compare(first, await onDisk()), 0, 'nothing new: no LevelDB write')
  assert.ok(sameApartFrom(first, await ds.get(new Key(key)), 8), 'the cached record differs only in its time')

  // Something new is written at once.
  now += 1000
  await store.merge(other, { protocols: ['/b/1'] })
  const second = await onDisk()
  assert.notEqual(Buffer.compare(first, second), 0)
  assert.deepEqual((await store.get(other)).protocols, ['/a/1', '/b/1'])
  // A peer store over a second datastore, with nothing cached (as after a restart), reads it from disk.
  const fresh = new CachedLevelDatastore(db)
  await fresh.open()
  const reopened = persistentPeerStore({ peerId: self, datastore: fresh, events, logger: quiet })
  assert.deepEqual((await reopened.get(other)).protocols, ['/a/1', '/b/1'])

  // Nothing new but the time, PEER_TOUCH_MS after the last write: written, so the disk's time never lags more.
  now += PEER_TOUCH_MS - 1
  await store.merge(other, { protocols: ['/b/1'] })
  assert.equal(Buffer.compare(second, await onDisk()), 0, 'still within PEER_TOUCH_MS of the last write')
  now += 1
  await store.merge(other, { protocols: ['/b/1'] })
  assert.notEqual(Buffer.compare(second, await onDisk()), 0, 'written once PEER_TOUCH_MS has passed')

  // Keys outside the peer store are written every time, whatever they hold.
  const dht = new Key('/dht/record/x')
  await ds.put(dht, first)
  await db.put('/dht/record/x', bytes('changed underneath'))
  await ds.put(dht, first)
  assert.equal(Buffer.compare(first, (await db.get('/dht/record/x'))!), 0)
})

test('sameApartFrom compares protobuf fields, and says false for what is not protobuf', () => {
  // Field 2 (bytes "ab"), field 8 (varint), as libp2p's Peer record lays them out.
  const rec = (updated: number[], name = [0x61, 0x62]): Uint8Array =>
    Uint8Array.from([0x12, name.length, ...name, 0x40, ...updated])
  assert.ok(sameApartFrom(rec([0x01]), rec([0xff, 0x01]), 8))
  assert.ok(!sameApartFrom(rec([0x01]), rec([0x01], [0x61, 0x63]), 8), 'another field differs')
  assert.ok(!sameApartFrom(rec([0x01]), rec([0x02]), 2), 'the field left out is the one named')
  assert.ok(!sameApartFrom(rec([0x01]), Uint8Array.from([0x12, 0x05, 0x61]), 8), 'a length past the end')
  assert.ok(!sameApartFrom(rec([0x80]), rec([0x80]), 8), 'a varint cut short')
  assert.ok(!sameApartFrom(Uint8Array.of(0x0b), Uint8Array.of(0x0b), 8), 'a group (wire type 3)')
})
