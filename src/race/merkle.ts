import { createHash } from 'node:crypto'

/**
 * A Race proof as a commitment (SPEC 4, step 4: "a Merkle root and count with the list served
 * over `proof`"): a Merkle tree over the prover's strictly increasing nonce list in which every
 * node also carries the interval `[min, max]` of the nonces below it.
 *
 * Hashes (`H(tag, bytes)` as `taggedHash` in src/ledger/crypto.ts; `u64` big-endian):
 * - leaf at position `i` with nonce `n`: `h = H("cordex/race/nonces/leaf", u64(i) ‖ u64(n))`, interval `[n, n]`;
 * - node over children `L`, `R`: `h = H("cordex/race/nonces/node", L.h ‖ u64(L.min) ‖ u64(L.max) ‖ R.h ‖ u64(R.min) ‖ u64(R.max))`,
 *   interval `[L.min, R.max]`;
 * - root: `H("cordex/race/nonces/root", u64(count) ‖ top.h ‖ u64(top.min) ‖ u64(top.max))`.
 *
 * Levels are paired left to right; a level of odd width promotes its last node unchanged (never
 * duplicated), so the shape depends on the count alone.
 *
 * Why intervals, and not only a neighbour check. Checking that a sampled nonce is below the next
 * one only proves the list increasing where it is sampled: the list `v1…vn v1…vn` descends once
 * and would pass at all but one position of 2n, doubling a prover's weight. Here an opening checks,
 * at every level of its path, that the left child's `max` is below the right child's `min`.
 * Call a position good when its opening verifies. For two good positions `i < j`, below their
 * lowest common ancestor `A`: `nonce_i ≤ A.L.max < A.R.min ≤ nonce_j` (each bound is checked on
 * the respective path, and the hashes bind the same committed intervals to both). So the good
 * positions hold strictly increasing, hence distinct, nonces, whatever the prover committed: with
 * `n` distinct valid nonces, at least `count − n` positions fail when sampled (an opening that does
 * not verify, or an invalid nonce), exactly as if the list had been padded with `count − n`
 * invalid nonces (docs/race.md, "Padding a proof does not pay").
 */

/** One position's opening: its nonce and the sibling at each level from the leaf up. */
export interface NonceSample {
  /** Position in the list, 0-based. */
  index: number
  nonce: number
  /**
   * The siblings from the leaf up, `PATH_ELEMENT_BYTES` each: hash (32) ‖ u64(min) ‖ u64(max).
   * Levels where the node is promoted have no sibling; about ⌈log2(count)⌉ elements in all.
   */
  path: Uint8Array[]
}

/** Bytes of one path element: a sibling's hash and its interval. */
export const PATH_ELEMENT_BYTES = 48

/** Path elements an opening of a list of `count` (< 2^53) nonces holds at most: ⌈log2(count)⌉ ≤ 53. */
export const MAX_PATH_ELEMENTS = 64

const HASH_BYTES = 32

/** Builds a tree of a list in any order (`NonceTree.unchecked`); private to this file. */
const ANY_ORDER = Symbol('any order')

const LEAF = prefix('cordex/race/nonces/leaf')
const NODE = prefix('cordex/race/nonces/node')
const ROOT = prefix('cordex/race/nonces/root')

/**
 * The tree of one prover's nonce list, all levels built once (about 2·count hashes: 100,000
 * nonces in a fraction of a second), so that any position opens without hashing.
 */
export class NonceTree {
  /** 32 bytes, binding the count, every nonce and its position. */
  readonly root: Uint8Array
  readonly count: number
  /** A copy of the list: the caller's array may change, the commitment may not. */
  private readonly nonces: Float64Array
  /** Per level from the leaves up: hashes (32 bytes each), mins and maxes. */
  private readonly levels: Level[]

  /**
   * The tree of `nonces`: 1 to 2^53 − 1 of them, each an integer in [0, 2^53), strictly
   * increasing. Throws RangeError otherwise (a prover checks its own list).
   */
  constructor(nonces: readonly number[], mode?: typeof ANY_ORDER) {
    checkNonces(nonces)
    if (mode !== ANY_ORDER) {
      for (let i = 1; i < nonces.length; i++) {
        if (!(nonces[i]! > nonces[i - 1]!))
          throw new RangeError(`nonce list: not strictly increasing at position ${i}`)
      }
    }
    this.nonces = Float64Array.from(nonces)
    this.count = nonces.length
    this.levels = build(this.nonces)
    const top = this.levels[this.levels.length - 1]!
    this.root = rootOf(this.count, top.hashes, top.mins[0]!, top.maxs[0]!)
  }

  /**
   * The tree a prover could commit to for any list of nonces, in any order, with repeats: for
   * tests and simulations of cheating provers. Openings through an out-of-order pair fail.
   */
  static unchecked(nonces: readonly number[]): NonceTree {
    return new NonceTree(nonces, ANY_ORDER)
  }

  /** The opening of position `index` (0 ≤ index < count); throws RangeError otherwise. */
  sample(index: number): NonceSample {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.count)
      throw new RangeError(`nonce list: no position ${index} in ${this.count}`)
    const path: Uint8Array[] = []
    let pos = index
    for (let l = 0; l < this.levels.length - 1; l++) {
      const level = this.levels[l]!
      const sibling = pos % 2 === 0 ? pos + 1 : pos - 1
      if (sibling < level.width) path.push(element(level, sibling))
      pos = Math.floor(pos / 2)
    }
    return { index, nonce: this.nonces[index]!, path }
  }
}

/**
 * True when `s` opens position `s.index` of the list of `count` nonces committed by `root`: the
 * index is in range, the path has exactly the shape `count` fixes, every interval on it is
 * ordered (left below right, each sibling's min ≤ max) and it hashes to the root. Never throws.
 */
export function verifySample(root: Uint8Array, count: number, s: NonceSample): boolean {
  const { index, nonce, path } = s
  if (!(root instanceof Uint8Array) || root.length !== HASH_BYTES) return false
  if (!Number.isSafeInteger(count) || count < 1) return false
  if (!Number.isSafeInteger(index) || index < 0 || index >= count) return false
  if (!Number.isSafeInteger(nonce) || nonce < 0) return false
  if (!Array.isArray(path) || path.length > MAX_PATH_ELEMENTS) return false
  let h = hashLeaf(index, nonce)
  let min = nonce
  let max = nonce
  let pos = index
  let width = count
  let used = 0
  const buf = new Uint8Array(2 * PATH_ELEMENT_BYTES)
  while (width > 1) {
    const sibling = pos % 2 === 0 ? pos + 1 : pos - 1
    if (sibling < width) {
      const e = path[used++]
      if (!(e instanceof Uint8Array) || e.length !== PATH_ELEMENT_BYTES) return false
      const sMin = readU64(e, HASH_BYTES)
      const sMax = readU64(e, HASH_BYTES + 8)
      if (sMin === undefined || sMax === undefined || sMin > sMax) return false
      if (sibling > pos) {
        // This node is the left child: everything below it precedes everything in the sibling.
        if (!(max < sMin)) return false
        put(buf, 0, h, min, max)
        buf.set(e, PATH_ELEMENT_BYTES)
        max = sMax
      } else {
        if (!(sMax < min)) return false
        buf.set(e, 0)
        put(buf, PATH_ELEMENT_BYTES, h, min, max)
        min = sMin
      }
      h = digest(NODE, buf)
    }
    pos = Math.floor(pos / 2)
    width = Math.ceil(width / 2)
  }
  if (used !== path.length) return false
  const expected = rootOf(count, h, min, max)
  for (let i = 0; i < HASH_BYTES; i++) if (expected[i] !== root[i]) return false
  return true
}

interface Level {
  width: number
  hashes: Uint8Array
  mins: ArrayLike<number>
  maxs: ArrayLike<number>
}

function checkNonces(nonces: readonly number[]): void {
  if (nonces.length === 0) throw new RangeError('nonce list: empty')
  for (let i = 0; i < nonces.length; i++) {
    const n = nonces[i]
    if (!Number.isSafeInteger(n) || n! < 0)
      throw new RangeError(`nonce list: position ${i} is not an integer in [0, 2^53)`)
  }
}

function build(nonces: Float64Array): Level[] {
  const count = nonces.length
  const leaves = new Uint8Array(count * HASH_BYTES)
  const leafBuf = new Uint8Array(16)
  for (let i = 0; i < count; i++) {
    writeU64(leafBuf, 0, i)
    writeU64(leafBuf, 8, nonces[i]!)
    leaves.set(sha256(LEAF, leafBuf), i * HASH_BYTES)
  }
  const levels: Level[] = [{ width: count, hashes: leaves, mins: nonces, maxs: nonces }]
  const buf = new Uint8Array(2 * PATH_ELEMENT_BYTES)
  for (let below = levels[0]!; below.width > 1;) {
    const width = Math.ceil(below.width / 2)
    const hashes = new Uint8Array(width * HASH_BYTES)
    const mins = new Float64Array(width)
    const maxs = new Float64Array(width)
    for (let k = 0; k < width; k++) {
      const l = 2 * k
      if (l + 1 === below.width) {
        // The last node of an odd level goes up unchanged.
        hashes.set(below.hashes.subarray(l * HASH_BYTES, (l + 1) * HASH_BYTES), k * HASH_BYTES)
        mins[k] = below.mins[l]!
        maxs[k] = below.maxs[l]!
        continue
      }
      put(buf, 0, below.hashes.subarray(l * HASH_BYTES, (l + 1) * HASH_BYTES), below.mins[l]!, below.maxs[l]!)
      put(
        buf,
        PATH_ELEMENT_BYTES,
        below.hashes.subarray((l + 1) * HASH_BYTES, (l + 2) * HASH_BYTES),
        below.mins[l + 1]!,
        below.maxs[l + 1]!,
      )
      hashes.set(sha256(NODE, buf), k * HASH_BYTES)
      mins[k] = below.mins[l]!
      maxs[k] = below.maxs[l + 1]!
    }
    below = { width, hashes, mins, maxs }
    levels.push(below)
  }
  return levels
}

function element(level: Level, i: number): Uint8Array {
  const e = new Uint8Array(PATH_ELEMENT_BYTES)
  put(e, 0, level.hashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES), level.mins[i]!, level.maxs[i]!)
  return e
}

function rootOf(count: number, top: Uint8Array, min: number, max: number): Uint8Array {
  const buf = new Uint8Array(8 + PATH_ELEMENT_BYTES)
  writeU64(buf, 0, count)
  put(buf, 8, top, min, max)
  return digest(ROOT, buf)
}

function hashLeaf(index: number, nonce: number): Uint8Array {
  const buf = new Uint8Array(16)
  writeU64(buf, 0, index)
  writeU64(buf, 8, nonce)
  return digest(LEAF, buf)
}

/** hash ‖ u64(min) ‖ u64(max) at `offset`. */
function put(out: Uint8Array, offset: number, hash: Uint8Array, min: number, max: number): void {
  out.set(hash, offset)
  writeU64(out, offset + HASH_BYTES, min)
  writeU64(out, offset + HASH_BYTES + 8, max)
}

/** Big-endian `n` (an integer in [0, 2^53)) at `offset`. */
function writeU64(out: Uint8Array, offset: number, n: number): void {
  const hi = Math.floor(n / 2 ** 32)
  const lo = n >>> 0
  out[offset] = hi >>> 24
  out[offset + 1] = hi >>> 16
  out[offset + 2] = hi >>> 8
  out[offset + 3] = hi
  out[offset + 4] = lo >>> 24
  out[offset + 5] = lo >>> 16
  out[offset + 6] = lo >>> 8
  out[offset + 7] = lo
}

/** The u64 at `offset`, or undefined when it is 2^53 or more (no nonce is). */
function readU64(b: Uint8Array, offset: number): number | undefined {
  const view = new DataView(b.buffer, b.byteOffset + offset, 8)
  const hi = view.getUint32(0)
  if (hi >= 2 ** 21) return undefined
  return hi * 2 ** 32 + view.getUint32(4)
}

/** `len(tag) ‖ tag`: the start of `H(tag, …)` (SPEC 1), encoded once. */
function prefix(tag: string): Uint8Array {
  const t = Buffer.from(tag, 'ascii')
  return Buffer.concat([Uint8Array.of(t.length), t])
}

/** `H(tag, bytes)` with the tag's prefix ready: the same bytes as `taggedHash(tag, bytes)`. */
function digest(tagPrefix: Uint8Array, bytes: Uint8Array): Uint8Array {
  return new Uint8Array(sha256(tagPrefix, bytes))
}

/** As `digest`, as a Buffer (no copy), for hashes copied at once into a level. */
function sha256(tagPrefix: Uint8Array, bytes: Uint8Array): Buffer {
  return createHash('sha256').update(tagPrefix).update(bytes).digest()
}
