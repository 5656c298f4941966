import { LevelDatastore } from 'datastore-level'
import type { Batch, Key } from 'interface-datastore'
import type { AbortOptions } from '@libp2p/interface'
import { NotFoundError } from 'interface-store'
import { systemClock, type Clock } from '../util/clock.js'
import { WireError, wireFields } from '../util/protobufWire.js'

/** A key LevelDB does not have, as the cache remembers it. */
const ABSENT = null

/** A record as the cache holds it, with when it was last written to LevelDB (-Infinity: not by us). */
interface Held {
  value: Uint8Array
  writtenAt: number
}

/** The peer store's records (libp2p's `/peers/<id>` keys). */
const PEER_RECORDS = '/peers/'

/** Field 8 of libp2p's Peer record: `updated`, when the record was last saved (ms). */
const PEER_UPDATED_FIELD = 8

/**
 * How long the `updated` time of a peer record on disk may lag the one served from memory. libp2p
 * forgets a peer whose record has not been updated for 6 hours (its MAX_PEER_AGE); 10 minutes is
 * what that expiry can be early by after a restart.
 */
export const PEER_TOUCH_MS = 10 * 60_000

/**
 * The LevelDB datastore of the peer store and the DHT, with a bounded cache in front.
 * libp2p's persistent peer store reads a peer's record from the datastore on every `get` and every
 * `merge` (once per stream opened, per peer in every DHT answer, K times per DHT query it serves),
 * and writes it back whenever it changed. In a forming 20-daemon mesh those reads and writes were a
 * fifth of each daemon's CPU (profiled), all for a few dozen small records.
 *
 * Writes go through to LevelDB at once, with one exception: libp2p's `merge` saves a peer record
 * every time (once per stream opened on each side, and per peer of every DHT answer), with nothing
 * new in it but its `updated` time, and those LevelDB puts were the largest single cost of a
 * forming 20-daemon mesh (profiled). Such a write goes to the cache only, as long as the record
 * on disk was written less than `touchMs` ago; so what is on disk is what it was without the cache,
 * but for `updated` times at most `touchMs` old. The cache holds what was written (a read right
 * after a write is the common case), and it remembers keys LevelDB does not have (the peer store asks
 * for every new peer first), until one is written. A read that overlapped a write is not cached.
 * Values are copied in and out, so a caller that changes a buffer changes nothing here.
 */
export class CachedLevelDatastore extends LevelDatastore {
  private readonly cache = new Map<string, Held | typeof ABSENT>()
  /** Counts writes, so that a read that overlapped one does not cache what it read. */
  private writes = 0

  constructor(
    db: ConstructorParameters<typeof LevelDatastore>[0],
    private readonly options: {
      /** Records kept in memory at most (the oldest read goes first). */
      maxEntries?: number
      /** See PEER_TOUCH_MS. */
      touchMs?: number
      clock?: Clock
    } = {},
  ) {
    super(db)
  }

  override async get(key: Key, options?: AbortOptions): Promise<Uint8Array> {
    const k = key.toString()
    const hit = this.cache.get(k)
    if (hit !== undefined) {
      // Most recently used last, so the first entry is the one to evict.
      this.cache.delete(k)
      this.cache.set(k, hit)
      if (hit === ABSENT) throw new NotFoundError()
      return hit.value.slice()
    }
    const writes = this.writes
    try {
      const value = await super.get(key, options)
      if (writes === this.writes) this.remember(k, { value: value.slice(), writtenAt: -Infinity })
      return value
    } catch (err) {
      if (writes === this.writes && (err as Error).name === NotFoundError.name) this.remember(k, ABSENT)
      throw err
    }
  }

  override async put(key: Key, value: Uint8Array, options?: AbortOptions): Promise<Key> {
    const k = key.toString()
    const copy = value.slice()
    const now = (this.options.clock ?? systemClock).now()
    const held = this.cache.get(k)
    if (
      held !== undefined &&
      held !== ABSENT &&
      k.startsWith(PEER_RECORDS) &&
      now - held.writtenAt < (this.options.touchMs ?? PEER_TOUCH_MS) &&
      sameApartFrom(held.value, copy, PEER_UPDATED_FIELD)
    ) {
      this.writes++
      this.cache.delete(k)
      this.remember(k, { value: copy, writtenAt: held.writtenAt })
      return key
    }
    this.forget(k)
    try {
      const done = await super.put(key, value, options)
      this.writes++
      this.remember(k, { value: copy, writtenAt: now })
      return done
    } catch (err) {
      this.forget(k)
      throw err
    }
  }

  override async delete(key: Key, options?: AbortOptions): Promise<void> {
    this.forget(key.toString())
    try {
      await super.delete(key, options)
    } finally {
      this.forget(key.toString())
    }
  }

  override batch(): Batch {
    const inner = super.batch()
    const keys: string[] = []
    return {
      put: (key, value) => {
        keys.push(key.toString())
        inner.put(key, value)
      },
      delete: (key) => {
        keys.push(key.toString())
        inner.delete(key)
      },
      commit: async (options) => {
        for (const k of keys) this.forget(k)
        try {
          await inner.commit(options)
        } finally {
          for (const k of keys) this.forget(k)
        }
      },
    }
  }

  override async close(): Promise<void> {
    this.cache.clear()
    await super.close()
  }

  /** Entries in the cache now. */
  get cached(): number {
    return this.cache.size
  }

  private forget(k: string): void {
    this.writes++
    this.cache.delete(k)
  }

  private remember(k: string, value: Held | typeof ABSENT): void {
    this.cache.set(k, value)
    if (this.cache.size > (this.options.maxEntries ?? 4096)) {
      const oldest = this.cache.keys().next().value
      if (oldest !== undefined) this.cache.delete(oldest)
    }
  }
}

/**
 * Whether two protobuf messages have the same fields, byte for byte and in the same order, apart
 * from top-level field `field`. False when either is not well-formed protobuf.
 */
export function sameApartFrom(a: Uint8Array, b: Uint8Array, field: number): boolean {
  const x = fieldsApartFrom(a, field)
  const y = fieldsApartFrom(b, field)
  return x !== undefined && y !== undefined && Buffer.compare(x, y) === 0
}

/** `bytes` without its top-level field `field` (every occurrence), or undefined when malformed. */
function fieldsApartFrom(bytes: Uint8Array, field: number): Buffer | undefined {
  const kept: Uint8Array[] = []
  try {
    for (const f of wireFields(bytes)) if (f.field !== field) kept.push(bytes.subarray(f.start, f.end))
  } catch (err) {
    if (err instanceof WireError) return undefined
    throw err
  }
  return Buffer.concat(kept)
}
