import { LevelDatastore } from 'datastore-level'
import type { Batch, Key } from 'interface-datastore'
import type { AbortOptions } from '@libp2p/interface'
import { NotFoundError } from 'interface-store'

/** A key LevelDB does not have, as the cache remembers it. */
const ABSENT = null

/**
 * The LevelDB datastore of the peer store and the DHT, with a bounded cache in front.
 * libp2p's persistent peer store reads a peer's record from the datastore on every `get` and every
 * `merge` (once per stream opened, per peer in every DHT answer, K times per DHT query it serves),
 * and writes it back whenever it changed. In a forming 20-daemon mesh those reads and writes were a
 * fifth of each daemon's CPU (profiled), all for a few dozen small records.
 *
 * Writes go through to LevelDB at once, so what is on disk is exactly what it was without the
 * cache. The cache then holds what was written (a read right after a write is the common case),
 * and it remembers keys LevelDB does not have (the peer store asks for every new peer first), until
 * one is written. A read that overlapped a write is not cached. Values are copied in and out, so a
 * caller that changes a buffer changes nothing here.
 */
export class CachedLevelDatastore extends LevelDatastore {
  private readonly cache = new Map<string, Uint8Array | typeof ABSENT>()
  /** Counts writes, so that a read that overlapped one does not cache what it read. */
  private writes = 0

  constructor(
    db: ConstructorParameters<typeof LevelDatastore>[0],
    /** Records kept in memory at most (the oldest read goes first). */
    private readonly maxEntries = 4096,
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
      return hit.slice()
    }
    const writes = this.writes
    try {
      const value = await super.get(key, options)
      if (writes === this.writes) this.remember(k, value.slice())
      return value
    } catch (err) {
      if (writes === this.writes && (err as Error).name === NotFoundError.name) this.remember(k, ABSENT)
      throw err
    }
  }

  override async put(key: Key, value: Uint8Array, options?: AbortOptions): Promise<Key> {
    const k = key.toString()
    const copy = value.slice()
    this.forget(k)
    try {
      const done = await super.put(key, value, options)
      this.writes++
      this.remember(k, copy)
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

  private remember(k: string, value: Uint8Array | typeof ABSENT): void {
    this.cache.set(k, value)
    if (this.cache.size > this.maxEntries) {
      const oldest = this.cache.keys().next().value
      if (oldest !== undefined) this.cache.delete(oldest)
    }
  }
}
