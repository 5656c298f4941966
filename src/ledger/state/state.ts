import { StateMerkle } from './merkle.js'
import { encodeEntry, decodeEntry } from './records.js'

/** Read access to state entries (decoded values; treat them as immutable). */
export interface StateReader {
  get(key: string): unknown
}

/** Encoded changes of one block, as they go to disk: value null deletes the key. */
export type StateChanges = Array<[string, Uint8Array | null]>

/**
 * The committed state: every entry decoded in memory, with its Merkle root kept incrementally.
 * Changes are made in an Overlay and committed all at once, after the block that made them is
 * final.
 */
export class State implements StateReader {
  private readonly entries = new Map<string, unknown>()
  private readonly merkle = new StateMerkle()

  /** Build from stored (key, bytes) pairs; throws CodecError on a corrupt entry. */
  static fromEncoded(list: Iterable<[string, Uint8Array]>): State {
    const s = new State()
    const changes: StateChanges = []
    for (const [key, bytes] of list) {
      s.entries.set(key, decodeEntry(key, bytes))
      changes.push([key, bytes])
    }
    s.merkle.update(changes)
    return s
  }

  get(key: string): unknown {
    return this.entries.get(key)
  }

  get root(): Uint8Array {
    return this.merkle.root
  }

  /** Every entry in its stored form. */
  *encoded(): Iterable<[string, Uint8Array]> {
    for (const [k, v] of this.entries) yield [k, encodeEntry(k, v)]
  }

  /** Every entry, decoded (treat the values as immutable), in no particular order. */
  decoded(): Iterable<[string, unknown]> {
    return this.entries.entries()
  }

  /** Entries whose key starts with `prefix` (a full scan: for audits and tests, not hot paths). */
  *withPrefix(prefix: string): Iterable<[string, unknown]> {
    for (const e of this.entries) if (e[0].startsWith(prefix)) yield e
  }

  /** The state root the overlay's changes would give. */
  previewRoot(overlay: Overlay): Uint8Array {
    return this.merkle.preview(encodeChanges(overlay))
  }

  /** Apply the overlay's changes; returns them encoded, for the storage batch. */
  commit(overlay: Overlay): StateChanges {
    const changes = encodeChanges(overlay)
    for (const [key, value] of overlay.changes) {
      if (value === null) this.entries.delete(key)
      else this.entries.set(key, value)
    }
    this.merkle.update(changes)
    return changes
  }
}

function encodeChanges(overlay: Overlay): StateChanges {
  return [...overlay.changes].map(([k, v]) => [k, v === null ? null : encodeEntry(k, v)])
}

/** Pending changes over a reader. A child overlay makes one transaction all-or-nothing. */
export class Overlay implements StateReader {
  readonly changes = new Map<string, unknown>()

  constructor(private readonly base: StateReader) {}

  get(key: string): unknown {
    if (this.changes.has(key)) return this.changes.get(key) ?? undefined
    return this.base.get(key)
  }

  set(key: string, value: unknown): void {
    this.changes.set(key, value)
  }

  delete(key: string): void {
    this.changes.set(key, null)
  }

  child(): Overlay {
    return new Overlay(this)
  }

  /** Take a child's changes into this overlay. */
  absorb(child: Overlay): void {
    for (const [k, v] of child.changes) this.changes.set(k, v)
  }
}
