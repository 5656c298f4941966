import { taggedHash } from '../crypto.js'

/** log2 of the bucket count: 2^12 buckets, so a path from a bucket to the root has 12 hashes. */
const DEPTH = 12
const BUCKETS = 1 << DEPTH
const EMPTY = taggedHash('cordex/state/empty')

/**
 * SPEC 3.4: the state root, a Merkle root over every state entry, kept incrementally. Each entry
 * `key → value` is a leaf `H(key ‖ value)` filed in one of 2^12 buckets by the hash of its key; a
 * bucket's hash covers its leaves sorted by key hash; the buckets are the leaves of a binary tree
 * of depth 12. Changing an entry re-hashes one bucket and the 12 nodes above it.
 */
export class StateMerkle {
  /** buckets[i]: key → leaf hash. */
  private readonly buckets: Bucket[] = []
  /** Binary tree in an array: node 1 is the root, nodes BUCKETS..2*BUCKETS-1 are the buckets. */
  private readonly nodes: Uint8Array[] = new Array<Uint8Array>(2 * BUCKETS)

  constructor() {
    for (let i = 0; i < BUCKETS; i++) this.buckets.push(new Map())
    for (let i = BUCKETS; i < 2 * BUCKETS; i++) this.nodes[i] = bucketHash(new Map())
    for (let i = BUCKETS - 1; i >= 1; i--) this.nodes[i] = parent(this.nodes[2 * i]!, this.nodes[2 * i + 1]!)
  }

  get root(): Uint8Array {
    return this.nodes[1]!
  }

  /** Apply changes (value null: delete) and return the new root. */
  update(changes: Iterable<[string, Uint8Array | null]>): Uint8Array {
    const touched = new Set<number>()
    for (const [key, value] of changes) touched.add(setLeaf((i) => this.buckets[i]!, key, value))
    propagate(
      [...touched].map((index) => [index, bucketHash(this.buckets[index]!)]),
      (i) => this.nodes[i]!,
      (i, h) => (this.nodes[i] = h),
    )
    return this.root
  }

  /** The root that `update(changes)` would give, without changing anything. */
  preview(changes: Iterable<[string, Uint8Array | null]>): Uint8Array {
    // Copy only the buckets the changes touch.
    const touchedCopies = new Map<number, Bucket>()
    const copyOf = (i: number): Bucket => {
      let copy = touchedCopies.get(i)
      if (copy === undefined) touchedCopies.set(i, (copy = new Map(this.buckets[i])))
      return copy
    }
    for (const [key, value] of changes) setLeaf(copyOf, key, value)
    const nodes = new Map<number, Uint8Array>()
    propagate(
      [...touchedCopies].map(([index, bucket]) => [index, bucketHash(bucket)]),
      (i) => nodes.get(i) ?? this.nodes[i]!,
      (i, h) => nodes.set(i, h),
    )
    return nodes.get(1) ?? this.root
  }
}

type Bucket = Map<string, { sortKey: string; leaf: Uint8Array }>

/** File one entry in its bucket (or remove it); returns the bucket's index. */
function setLeaf(bucketAt: (i: number) => Bucket, key: string, value: Uint8Array | null): number {
  const { index, sortKey } = locate(key)
  const bucket = bucketAt(index)
  if (value === null) bucket.delete(key)
  else bucket.set(key, { sortKey, leaf: leafHash(key, value) })
  return index
}

/** Write new bucket hashes and re-hash every node above them, level by level up to the root. */
function propagate(
  buckets: Array<[number, Uint8Array]>,
  get: (i: number) => Uint8Array,
  set: (i: number, h: Uint8Array) => void,
): void {
  let level = new Set<number>()
  for (const [index, hash] of buckets) {
    set(BUCKETS + index, hash)
    level.add((BUCKETS + index) >> 1)
  }
  while (level.size > 0) {
    const next = new Set<number>()
    for (const i of level) {
      set(i, parent(get(2 * i), get(2 * i + 1)))
      if (i > 1) next.add(i >> 1)
    }
    level = next
  }
}

function locate(key: string): { index: number; sortKey: string } {
  const h = taggedHash('cordex/state/key', Buffer.from(key, 'utf8'))
  return { index: ((h[0]! << 8) | h[1]!) >> (16 - DEPTH), sortKey: Buffer.from(h).toString('hex') }
}

function leafHash(key: string, value: Uint8Array): Uint8Array {
  const k = Buffer.from(key, 'utf8')
  const len = new Uint8Array(4)
  new DataView(len.buffer).setUint32(0, k.length)
  return taggedHash('cordex/state/leaf', len, k, value)
}

function bucketHash(bucket: Bucket): Uint8Array {
  if (bucket.size === 0) return EMPTY
  const leaves = [...bucket.values()].sort((a, b) =>
    a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0,
  )
  return taggedHash('cordex/state/bucket', ...leaves.map((l) => l.leaf))
}

function parent(left: Uint8Array, right: Uint8Array): Uint8Array {
  return taggedHash('cordex/state/node', left, right)
}
