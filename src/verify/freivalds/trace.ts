import { FreivaldsError } from './errors.js'
import {
  layout,
  RowCommitter,
  shapeList,
  treeFromLeaves,
  type ProductShape,
  type RowOpening,
} from './commitment.js'

/**
 * What an executor keeps of one task's audited products (SPEC 6.2): every row's integers and
 * scale, and the commitment's leaf hashes, so that it can open any challenged row later without
 * running the task again. Rows are packed per product, then per row: `x` (K int8), `y` (N int32
 * little-endian), `s` (float32 little-endian); `rowBytes` each.
 *
 * Encoded (`encodeTrace`): `"CDXT"`, u32 version 1, u32 P, then P × (u32 layer, projection, T, K,
 * N), the 32-byte root, the leaves (32 bytes per row of every product) and the packed rows; u32
 * big-endian.
 */
export interface AuditTrace {
  shapes: ProductShape[]
  root: Uint8Array
  leaves: Uint8Array
  rows: Uint8Array
}

/** A challenge as the executor sees it: which rows of which product to open. */
export interface RowRequest {
  product: number
  rows: number[]
}

const MAGIC = 0x43445854 // "CDXT"
const VERSION = 1
const HASH = 32
/** All Node targets are little-endian: int32 rows are copied as they sit in memory. */
const LITTLE = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1

/** Bytes one packed row of `s` takes. */
export function rowBytes(s: ProductShape): number {
  return s.inner + 4 * s.cols + 4
}

/**
 * Collects a task's products step by step as the executor generates (a prefill of many rows, then
 * one row per token), then commits to them. The row count T is known only at the end.
 */
export class TraceRecorder {
  private readonly parts: Array<Array<{ x: Int8Array; y: Int32Array; scale: Float32Array }>>
  private readonly rowsOf: number[]

  constructor(private readonly products: ReadonlyArray<Omit<ProductShape, 'rows'>>) {
    this.parts = products.map(() => [])
    this.rowsOf = products.map(() => 0)
  }

  /** Rows of product `product` from one step: `n` rows of x (n×K), y (n×N) and scale (n). Copied. */
  append(product: number, x: Int8Array, y: Int32Array, scale: Float32Array): void {
    const p = this.products[product]
    if (p === undefined) throw new FreivaldsError('BAD_ARGUMENT', `trace: no product ${product}`)
    const n = scale.length
    if (x.length !== n * p.inner || y.length !== n * p.cols)
      throw new FreivaldsError('BAD_ARGUMENT', `trace: a step of ${n} rows is not ${p.inner}→${p.cols} wide`)
    this.parts[product]!.push({ x: x.slice(), y: y.slice(), scale: scale.slice() })
    this.rowsOf[product]! += n
  }

  /** Commit: every product must hold the same T rows, T ≥ 1. */
  finish(): AuditTrace {
    const T = this.rowsOf[0] ?? 0
    if (this.rowsOf.some((n) => n !== T) || T === 0)
      throw new FreivaldsError('BAD_ARGUMENT', `trace: products hold ${this.rowsOf.join(', ')} rows`)
    const shapes = this.products.map((p) => ({ ...p, rows: T }))
    const committer = new RowCommitter(shapes)
    const size = shapes.reduce((n, s) => n + T * rowBytes(s), 0)
    const rows = new Uint8Array(size)
    const view = new DataView(rows.buffer)
    let at = 0
    shapes.forEach((s, product) => {
      let row = 0
      for (const part of this.parts[product]!) {
        for (let i = 0; i < part.scale.length; i++, row++) {
          const x = part.x.subarray(i * s.inner, (i + 1) * s.inner)
          const y = part.y.subarray(i * s.cols, (i + 1) * s.cols)
          const scale = part.scale[i]!
          committer.add(product, row, x, y, scale)
          rows.set(new Uint8Array(x.buffer, x.byteOffset, x.length), at)
          if (LITTLE) rows.set(new Uint8Array(y.buffer, y.byteOffset, y.byteLength), at + s.inner)
          else for (let n = 0; n < s.cols; n++) view.setInt32(at + s.inner + 4 * n, y[n]!, true)
          view.setFloat32(at + s.inner + 4 * s.cols, scale, true)
          at += rowBytes(s)
        }
      }
    })
    const tree = committer.finish()
    return { shapes, root: tree.root, leaves: tree.leaves, rows }
  }
}

export function encodeTrace(t: AuditTrace): Uint8Array {
  const head = 8 + 4 + 20 * t.shapes.length
  const out = new Uint8Array(head + HASH + t.leaves.length + t.rows.length)
  const view = new DataView(out.buffer)
  view.setUint32(0, MAGIC)
  view.setUint32(4, VERSION)
  out.set(shapeList(t.shapes), 8)
  out.set(t.root, head)
  out.set(t.leaves, head + HASH)
  out.set(t.rows, head + HASH + t.leaves.length)
  return out
}

/** A kept trace back; throws `BAD_ARGUMENT` when the bytes are not one (a damaged store). */
export function decodeTrace(input: Uint8Array): AuditTrace {
  // A plain view, so that `slice` copies (a Buffer's `slice` is a view of its whole store).
  const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
  const bad = (why: string): never => {
    throw new FreivaldsError('BAD_ARGUMENT', `trace: ${why}`)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (bytes.length < 12 || view.getUint32(0) !== MAGIC || view.getUint32(4) !== VERSION)
    bad('not a version 1 trace')
  const P = view.getUint32(8)
  const head = 12 + 20 * P
  if (P === 0 || bytes.length < head + HASH) bad('truncated')
  const shapes: ProductShape[] = []
  for (let i = 0; i < P; i++) {
    const o = 12 + 20 * i
    shapes.push({
      layer: view.getUint32(o),
      projection: view.getUint32(o + 4),
      rows: view.getUint32(o + 8),
      inner: view.getUint32(o + 12),
      cols: view.getUint32(o + 16),
    })
  }
  const { leaves } = layout(shapes)
  const rowsSize = shapes.reduce((n, s) => n + s.rows * rowBytes(s), 0)
  if (bytes.length !== head + HASH + leaves * HASH + rowsSize) bad('wrong length')
  return {
    shapes,
    root: bytes.slice(head, head + HASH),
    leaves: bytes.slice(head + HASH, head + HASH + leaves * HASH),
    rows: bytes.subarray(head + HASH + leaves * HASH),
  }
}

/**
 * The openings of the requested rows, with their paths under the trace's root. Throws
 * `BAD_ARGUMENT` for a product or row the trace does not hold, or a trace whose leaves do not
 * rebuild its root (a damaged store: better refuse than open rows under another root).
 */
export function openTrace(t: AuditTrace, requests: readonly RowRequest[]): RowOpening[] {
  const tree = treeFromLeaves(t.shapes, t.leaves)
  if (Buffer.compare(tree.root, t.root) !== 0)
    throw new FreivaldsError('BAD_ARGUMENT', 'trace: the leaves do not rebuild the root')
  const starts: number[] = []
  let at = 0
  for (const s of t.shapes) {
    starts.push(at)
    at += s.rows * rowBytes(s)
  }
  const view = new DataView(t.rows.buffer, t.rows.byteOffset, t.rows.byteLength)
  const out: RowOpening[] = []
  for (const { product, rows } of requests) {
    const s = t.shapes[product]
    if (s === undefined) throw new FreivaldsError('BAD_ARGUMENT', `trace: no product ${product}`)
    for (const row of rows) {
      if (!Number.isSafeInteger(row) || row < 0 || row >= s.rows)
        throw new FreivaldsError('BAD_ARGUMENT', `trace: no row ${row} in product ${product}`)
      const o = starts[product]! + row * rowBytes(s)
      const x = new Int8Array(t.rows.buffer, t.rows.byteOffset + o, s.inner).slice()
      const y = new Int32Array(s.cols)
      for (let n = 0; n < s.cols; n++) y[n] = view.getInt32(o + s.inner + 4 * n, true)
      out.push(tree.open(product, row, x, y, view.getFloat32(o + s.inner + 4 * s.cols, true)))
    }
  }
  return out
}
