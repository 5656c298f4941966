import type { AbstractSublevel } from 'abstract-level'
import type { Level } from 'level'

export type Sub = AbstractSublevel<Level<string, Uint8Array>, string | Uint8Array, string, Uint8Array>

/** One kind of record under its own key prefix (a LevelDB sublevel), typed by its codec. */
export class Repository<K, V> {
  constructor(
    readonly sub: Sub,
    private readonly key: (k: K) => string,
    private readonly encode: (v: V) => Uint8Array,
    private readonly decode: (b: Uint8Array) => V,
  ) {}

  async get(k: K): Promise<V | undefined> {
    const bytes = await this.sub.get(this.key(k))
    return bytes === undefined ? undefined : this.decode(bytes)
  }

  async getBytes(k: K): Promise<Uint8Array | undefined> {
    return this.sub.get(this.key(k))
  }

  /** A batch operation that puts `v`, for an atomic write across repositories. */
  put(k: K, v: V): { type: 'put'; sublevel: Sub; key: string; value: Uint8Array } {
    return { type: 'put', sublevel: this.sub, key: this.key(k), value: this.encode(v) }
  }

  putBytes(k: K, value: Uint8Array): { type: 'put'; sublevel: Sub; key: string; value: Uint8Array } {
    return { type: 'put', sublevel: this.sub, key: this.key(k), value }
  }

  del(k: K): { type: 'del'; sublevel: Sub; key: string } {
    return { type: 'del', sublevel: this.sub, key: this.key(k) }
  }

  async *entries(): AsyncIterable<[string, Uint8Array]> {
    for await (const [k, v] of this.sub.iterator()) yield [k, v]
  }
}

/** Heights as fixed-width keys, so that LevelDB's byte order is numeric order. */
export function heightKey(h: number): string {
  return String(h).padStart(12, '0')
}
