// The KV caches of the sequences decoding on one model, in place (issue 14, item 6): one buffer
// per cache input, [rows, kvHeads, width, headDim], each sequence a row with its positions from
// the left and the rest masked out. The decoding graph (decodeGraph.ts) reads a prefix of rows as
// it lies and returns only each step's new key and value, which are written into the row.
//
// Its memory follows its use: the rows allocated double as sequences arrive (up to `capacity`),
// the width follows the longest sequence (in steps of WIDTH_GRANULE), and the buffers are freed
// when the last sequence leaves.

/** A float cache's elements, of its own type (float16 as Uint16Array bit patterns). */
export type CacheData = Float32Array | Uint16Array

/** One sequence's row. `row` moves when another row is released (rows stay packed from 0). */
export interface KvSlot {
  row: number
  /** Positions written. */
  length: number
  live: boolean
}

/** How wide the buffers grow at a time: the width is the longest row's need rounded up to this. */
export const WIDTH_GRANULE = 64

export class KvArena {
  private readonly slots: KvSlot[] = []
  private readonly data = new Map<string, CacheData>()
  private cols = 0
  /** Rows the buffers hold (`used` ≤ this ≤ `capacity`). */
  private allocated = 0

  constructor(
    private readonly names: readonly string[],
    private readonly half: boolean,
    private readonly kvHeads: number,
    private readonly headDim: number,
    /** Rows at most. */
    readonly capacity: number,
    /** Positions a row can hold at most (the model's context). */
    private readonly maxWidth: number,
  ) {}

  /** Rows in use: 0 to used − 1. */
  get used(): number {
    return this.slots.length
  }

  /** Positions each row has room for now. */
  get width(): number {
    return this.cols
  }

  /** The row in position `row`. */
  slot(row: number): KvSlot {
    return this.slots[row]!
  }

  /** The buffer of cache input `name`, [rows allocated, kvHeads, width, headDim]. */
  buffer(name: string): CacheData {
    return this.data.get(name)!
  }

  /** The first `rows` rows of cache input `name`, [rows, kvHeads, width, headDim] (a view). */
  view(name: string, rows: number): CacheData {
    return this.buffer(name).subarray(0, rows * this.kvHeads * this.cols * this.headDim)
  }

  /** Index in a buffer of position `pos` of head `h` of row `row`. */
  offset(row: number, h: number, pos: number): number {
    return ((row * this.kvHeads + h) * this.cols + pos) * this.headDim
  }

  /**
   * A new row with room for `length` positions, not yet written (its length is set: the caller
   * fills it); null when every row is taken.
   */
  admit(length: number): KvSlot | null {
    if (this.slots.length >= this.capacity) return null
    const rows =
      this.slots.length < this.allocated
        ? this.allocated
        : Math.min(this.capacity, Math.max(1, 2 * this.allocated))
    this.resize(rows, this.widthFor(Math.max(length, ...this.slots.map((s) => s.length))))
    const slot: KvSlot = { row: this.slots.length, length, live: true }
    this.slots.push(slot)
    return slot
  }

  /**
   * Give a row back: the last row moves into its place; the buffers go with the last row.
   * Releasing twice does nothing.
   */
  release(slot: KvSlot): void {
    if (!slot.live) return
    slot.live = false
    const last = this.slots.pop()!
    if (this.slots.length === 0) {
      this.data.clear()
      this.allocated = 0
      this.cols = 0
      return
    }
    if (last === slot) return
    for (const buf of this.data.values())
      for (let h = 0; h < this.kvHeads; h++) {
        const from = this.offset(last.row, h, 0)
        buf.copyWithin(this.offset(slot.row, h, 0), from, from + last.length * this.headDim)
      }
    last.row = slot.row
    this.slots[slot.row] = last
  }

  /**
   * Room for `positions` in every row: the width becomes `positions` rounded up to the granule
   * (within the model's context), growing or shrinking.
   */
  fit(positions: number): void {
    this.resize(this.allocated, this.widthFor(positions))
  }

  private widthFor(positions: number): number {
    const want = Math.min(
      this.maxWidth,
      Math.max(WIDTH_GRANULE, Math.ceil(positions / WIDTH_GRANULE) * WIDTH_GRANULE),
    )
    if (positions > want) throw new RangeError(`${positions} positions: the context holds ${this.maxWidth}`)
    return want
  }

  /** Buffers of `rows` rows of `cols` positions, the rows in use copied into them. */
  private resize(rows: number, cols: number): void {
    if (rows === this.allocated && cols === this.cols) return
    const old = this.cols
    for (const name of this.names) {
      const size = rows * this.kvHeads * cols * this.headDim
      const next = this.half ? new Uint16Array(size) : new Float32Array(size)
      const prev = this.data.get(name)
      if (prev !== undefined)
        for (const s of this.slots)
          for (let h = 0; h < this.kvHeads; h++) {
            const from = (s.row * this.kvHeads + h) * old * this.headDim
            next.set(
              prev.subarray(from, from + s.length * this.headDim),
              (s.row * this.kvHeads + h) * cols * this.headDim,
            )
          }
      this.data.set(name, next)
    }
    this.allocated = rows
    this.cols = cols
  }
}
