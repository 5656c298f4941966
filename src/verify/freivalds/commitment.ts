import { createHash } from 'node:crypto'
import { FreivaldsError } from './errors.js'
import { MAX_DIM } from './field.js'

/**
 * The executor's commitment to a task's audited products (SPEC 6.2): one Merkle tree over every
 * row of every product, in product order then row order, made before any challenge exists.
 *
 * Hashes (`H(tag, bytes)` as `taggedHash` in src/ledger/crypto.ts; `u32` big-endian):
 * - leaf of row `i` of product `(layer, projection)` with depth K and width N:
 *   `H("cordex/freivalds/leaf", u32(layer) ‖ u32(projection) ‖ u32(i) ‖ u32(K) ‖ u32(N) ‖ x ‖ y ‖ s)`,
 *   `x` the K int8 inputs, `y` the N int32 outputs little-endian (as they sit in memory), `s` the
 *   row's input scale as a little-endian float32 (what dequantizes `y`: the check of the float
 *   glue between products needs it where it cannot recompute it, after attention);
 * - node: `H("cordex/freivalds/node", L ‖ R)`; a level of odd width promotes its last node;
 * - root: `H("cordex/freivalds/root", u32(P) ‖ (u32(layer) ‖ u32(projection) ‖ u32(T) ‖ u32(K) ‖
 *   u32(N)) for each product ‖ top)`, so the root binds the count, order and shapes too.
 */

/** One audited product `Y = X·W`: which weight (layer, projection) and its shape T×K → T×N. */
export interface ProductShape {
  layer: number
  /** Index of the projection in the model's list (e.g. q, k, v, o, gate, up, down). */
  projection: number
  /** T: rows (token positions). */
  rows: number
  /** K: depth (the input row's length). */
  inner: number
  /** N: width (the output row's length). */
  cols: number
}

/** One opened row: the product's index in the shape list, the row, its integers, its scale and its path. */
export interface RowOpening {
  product: number
  row: number
  x: Int8Array
  y: Int32Array
  /** The row's input scale s_x (float32): `x ≈ input / s_x`. */
  scale: number
  /** Sibling hashes from the leaf up (32 bytes each); promoted levels have none. */
  path: Uint8Array[]
}

/** Most rows in one commitment (2^32: indexes fit u32). */
export const MAX_LEAVES = 2 ** 32 - 1

const HASH_BYTES = 32
const LEAF = prefix('cordex/freivalds/leaf')
const NODE = prefix('cordex/freivalds/node')
const ROOT = prefix('cordex/freivalds/root')

/** Validates a shape list; returns each product's first leaf and the leaf count. Throws `BAD_ARGUMENT`. */
export function layout(shapes: readonly ProductShape[]): { offsets: number[]; leaves: number } {
  if (shapes.length === 0) throw new FreivaldsError('BAD_ARGUMENT', 'commitment: no products')
  const seen = new Set<string>()
  const offsets: number[] = []
  let leaves = 0
  for (const s of shapes) {
    for (const [name, v, max] of [
      ['layer', s.layer, 2 ** 32 - 1],
      ['projection', s.projection, 2 ** 32 - 1],
      ['rows', s.rows, 2 ** 32 - 1],
      ['inner', s.inner, MAX_DIM],
      ['cols', s.cols, MAX_DIM],
    ] as const) {
      const min = name === 'layer' || name === 'projection' ? 0 : 1
      if (!Number.isSafeInteger(v) || v < min || v > max)
        throw new FreivaldsError('BAD_ARGUMENT', `commitment: ${name} ${v} outside ${min}..${max}`)
    }
    const key = `${s.layer}/${s.projection}`
    if (seen.has(key)) throw new FreivaldsError('BAD_ARGUMENT', `commitment: product ${key} twice`)
    seen.add(key)
    offsets.push(leaves)
    leaves += s.rows
  }
  if (leaves > MAX_LEAVES) throw new FreivaldsError('BAD_ARGUMENT', `commitment: ${leaves} rows`)
  return { offsets, leaves }
}

/**
 * Builds the tree row by row while the executor generates: `add` hashes a row at once (the rows
 * themselves need not be kept), `finish` builds the levels and the root.
 */
export class RowCommitter {
  readonly shapes: readonly ProductShape[]
  private readonly offsets: number[]
  private readonly leaves: Uint8Array
  private readonly filled: Uint8Array
  private count = 0

  constructor(shapes: readonly ProductShape[]) {
    const { offsets, leaves } = layout(shapes)
    this.shapes = shapes.map((s) => ({ ...s }))
    this.offsets = offsets
    this.leaves = new Uint8Array(leaves * HASH_BYTES)
    this.filled = new Uint8Array(leaves)
  }

  /** Hashes row `row` of product `product`. Throws `BAD_ARGUMENT` for a wrong shape or a repeat. */
  add(product: number, row: number, x: Int8Array, y: Int32Array, scale: number): void {
    const s = this.shapes[product]
    if (s === undefined) throw new FreivaldsError('BAD_ARGUMENT', `commitment: no product ${product}`)
    if (!Number.isSafeInteger(row) || row < 0 || row >= s.rows)
      throw new FreivaldsError('BAD_ARGUMENT', `commitment: no row ${row} in product ${product}`)
    if (x.length !== s.inner || y.length !== s.cols)
      throw new FreivaldsError(
        'BAD_ARGUMENT',
        `commitment: row is ${x.length}→${y.length}, not ${s.inner}→${s.cols}`,
      )
    const at = this.offsets[product]! + row
    if (this.filled[at] === 1) throw new FreivaldsError('BAD_ARGUMENT', `commitment: row ${row} added twice`)
    this.filled[at] = 1
    this.count++
    this.leaves.set(leafHash(s, row, x, y, scale), at * HASH_BYTES)
  }

  /** The tree; throws `BAD_ARGUMENT` while a row is missing. */
  finish(): RowTree {
    if (this.count !== this.filled.length)
      throw new FreivaldsError('BAD_ARGUMENT', `commitment: ${this.filled.length - this.count} rows missing`)
    return new RowTree(this.shapes, this.offsets, this.leaves)
  }
}

/** A finished commitment: its root, and openings of any row. */
export class RowTree {
  /** 32 bytes, binding every row, its position and the shape list. */
  readonly root: Uint8Array
  readonly shapes: readonly ProductShape[]
  private readonly offsets: number[]
  private readonly levels: Uint8Array[]

  /** Private to this folder: use `RowCommitter`. */
  constructor(shapes: readonly ProductShape[], offsets: number[], leaves: Uint8Array) {
    this.shapes = shapes
    this.offsets = offsets
    this.levels = [leaves]
    for (let below = leaves; below.length > HASH_BYTES;) {
      const width = below.length / HASH_BYTES
      const up = new Uint8Array(Math.ceil(width / 2) * HASH_BYTES)
      for (let k = 0; 2 * k < width; k++) {
        const l = 2 * k
        if (l + 1 === width) up.set(below.subarray(l * HASH_BYTES, (l + 1) * HASH_BYTES), k * HASH_BYTES)
        else up.set(sha256(NODE, below.subarray(l * HASH_BYTES, (l + 2) * HASH_BYTES)), k * HASH_BYTES)
      }
      this.levels.push(up)
      below = up
    }
    this.root = rootOf(shapes, this.levels[this.levels.length - 1]!)
  }

  /** Every row's leaf hash, in commitment order (32 bytes each): what `treeFromLeaves` rebuilds the tree from. */
  get leaves(): Uint8Array {
    return this.levels[0]!
  }

  /** The opening of row `row` of product `product`, with the row's integers and scale as the executor kept them. */
  open(product: number, row: number, x: Int8Array, y: Int32Array, scale: number): RowOpening {
    const s = this.shapes[product]
    if (s === undefined || !Number.isSafeInteger(row) || row < 0 || row >= s.rows)
      throw new FreivaldsError('BAD_ARGUMENT', `commitment: no row ${row} in product ${product}`)
    const path: Uint8Array[] = []
    let pos = this.offsets[product]! + row
    for (let l = 0; l < this.levels.length - 1; l++) {
      const level = this.levels[l]!
      const sibling = pos % 2 === 0 ? pos + 1 : pos - 1
      if (sibling < level.length / HASH_BYTES)
        path.push(level.slice(sibling * HASH_BYTES, (sibling + 1) * HASH_BYTES))
      pos = Math.floor(pos / 2)
    }
    return { product, row, x, y, scale, path }
  }
}

/** The tree of `shapes` over leaf hashes kept from `RowTree.leaves`; throws `BAD_ARGUMENT` for a wrong count. */
export function treeFromLeaves(shapes: readonly ProductShape[], leaves: Uint8Array): RowTree {
  const { offsets, leaves: count } = layout(shapes)
  if (leaves.length !== count * HASH_BYTES)
    throw new FreivaldsError('BAD_ARGUMENT', `commitment: ${leaves.length / HASH_BYTES} leaves, not ${count}`)
  return new RowTree(shapes, offsets, leaves)
}

/**
 * Checks that `o` opens its row under `root` for the shape list `shapes` (which the verifier
 * derives from the model and the task). Throws `BAD_OPENING` for any mismatch: an index out of
 * range, a row of the wrong length, a path of the wrong shape, or hashes that do not reach `root`.
 */
export function verifyOpening(root: Uint8Array, shapes: readonly ProductShape[], o: RowOpening): void {
  const { offsets, leaves } = layout(shapes)
  const s = shapes[o.product]
  const meta = { row: o.row }
  if (s === undefined || !Number.isSafeInteger(o.row) || o.row < 0 || o.row >= s.rows)
    throw new FreivaldsError('BAD_OPENING', `opening: no row ${o.row} in product ${o.product}`, meta)
  const fail = (why: string): never => {
    throw new FreivaldsError('BAD_OPENING', `opening: ${why}`, {
      layer: s.layer,
      projection: s.projection,
      row: o.row,
    })
  }
  if (!(root instanceof Uint8Array) || root.length !== HASH_BYTES) fail('root is not 32 bytes')
  if (
    !(o.x instanceof Int8Array) ||
    !(o.y instanceof Int32Array) ||
    o.x.length !== s.inner ||
    o.y.length !== s.cols ||
    typeof o.scale !== 'number'
  )
    fail(`row is not ${s.inner} int8 → ${s.cols} int32 with a scale`)
  if (!Array.isArray(o.path) || o.path.length > 64) fail('bad path')
  let h: Uint8Array = leafHash(s, o.row, o.x, o.y, o.scale)
  let pos = offsets[o.product]! + o.row
  let width = leaves
  let used = 0
  const buf = new Uint8Array(2 * HASH_BYTES)
  while (width > 1) {
    const sibling = pos % 2 === 0 ? pos + 1 : pos - 1
    if (sibling < width) {
      const e = o.path[used++]
      if (!(e instanceof Uint8Array) || e.length !== HASH_BYTES) fail('path too short or malformed')
      buf.set(sibling > pos ? h : e!, 0)
      buf.set(sibling > pos ? e! : h, HASH_BYTES)
      h = sha256(NODE, buf)
    }
    pos = Math.floor(pos / 2)
    width = Math.ceil(width / 2)
  }
  if (used !== o.path.length) fail('path too long')
  if (Buffer.compare(rootOf(shapes, h), root) !== 0) fail('does not hash to the root')
}

function leafHash(s: ProductShape, row: number, x: Int8Array, y: Int32Array, scale: number): Buffer {
  const head = new Uint8Array(20)
  const view = new DataView(head.buffer)
  view.setUint32(0, s.layer)
  view.setUint32(4, s.projection)
  view.setUint32(8, row)
  view.setUint32(12, s.inner)
  view.setUint32(16, s.cols)
  return createHash('sha256')
    .update(LEAF)
    .update(head)
    .update(new Uint8Array(x.buffer, x.byteOffset, x.byteLength))
    .update(littleEndian(y))
    .update(float32le(scale))
    .digest()
}

/** The int32 bytes little-endian whatever the platform's order (all Node targets are LE: no copy). */
function littleEndian(y: Int32Array): Uint8Array {
  if (LITTLE) return new Uint8Array(y.buffer, y.byteOffset, y.byteLength)
  const out = new Uint8Array(y.length * 4)
  const view = new DataView(out.buffer)
  for (let i = 0; i < y.length; i++) view.setInt32(i * 4, y[i]!, true)
  return out
}

function float32le(v: number): Uint8Array {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setFloat32(0, v, true)
  return out
}

const LITTLE = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1

function rootOf(shapes: readonly ProductShape[], top: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(ROOT).update(shapeList(shapes)).update(top).digest())
}

/** `u32(P) ‖ (u32 layer ‖ projection ‖ T ‖ K ‖ N) per product`, big-endian: what the root binds (and a kept trace's header). */
export function shapeList(shapes: readonly ProductShape[]): Uint8Array {
  const buf = new Uint8Array(4 + 20 * shapes.length)
  const view = new DataView(buf.buffer)
  view.setUint32(0, shapes.length)
  shapes.forEach((s, i) => {
    const o = 4 + 20 * i
    view.setUint32(o, s.layer)
    view.setUint32(o + 4, s.projection)
    view.setUint32(o + 8, s.rows)
    view.setUint32(o + 12, s.inner)
    view.setUint32(o + 16, s.cols)
  })
  return buf
}

/** `len(tag) ‖ tag`: the start of `H(tag, …)` (SPEC 1). */
function prefix(tag: string): Uint8Array {
  const t = Buffer.from(tag, 'ascii')
  return Buffer.concat([Uint8Array.of(t.length), t])
}

function sha256(tagPrefix: Uint8Array, bytes: Uint8Array): Buffer {
  return createHash('sha256').update(tagPrefix).update(bytes).digest()
}
