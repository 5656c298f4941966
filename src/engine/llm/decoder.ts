import { readFile } from 'node:fs/promises'
import path from 'node:path'
import ort from 'onnxruntime-node'
import { EngineError } from './errors.js'
import { decoderIo, type DecoderIo, type IndexType } from './decoderIo.js'
import { decodeGraph, stepOutput } from './decodeGraph.js'
import { halfToFloat } from './float16.js'
import { KvArena, type CacheData, type KvSlot } from './kvArena.js'
import type { DecoderSpec } from './model.js'

/**
 * One sequence's KV cache: the `past_key_values.*` inputs of its next step, and its length. After
 * a batched prefill, or a batched step of an export decoded as it is, the tensors are the whole
 * batch's, [rows, kvHeads, width, headDim], shared by its sequences: this one is row `row`
 * (default 0), and its positions are the last `length` of the width (the batch is left-padded).
 * After a step decoded in place (see OrtDecoder), `past` is empty and the cache is the first
 * `length` positions of `slot`, a row of the decoder's KvArena.
 */
export interface DecoderCache {
  past: Record<string, ort.Tensor>
  length: number
  row?: number
  slot?: KvSlot
}

/** The `past` of every cache that lives in the decoder's arena. */
const IN_ARENA: Record<string, ort.Tensor> = Object.freeze({})

/** One sequence's part of a step's audited outputs (an int8 export): rows of x, y and scale, views. */
export type AuditRows = Record<string, Int8Array | Int32Array | Float32Array>

/** Where onnxruntime runs the graph. WebGPU falls back to the CPU node by node for what it lacks. */
export type ExecutionProvider = 'cpu' | 'webgpu'

export interface DecoderOptions {
  /** Intra-op threads (default: onnxruntime's choice). */
  threads?: number
  /**
   * Let idle threads spin between runs (onnxruntime's default). Faster decoding on an idle
   * machine; off in the daemon, where spinning threads take the CPU from the networking that
   * streams each token out.
   */
  spinning?: boolean
  /** Default 'cpu'. */
  provider?: ExecutionProvider
  /**
   * Sequences decoded in place at once, at most (default 16; 0: never). See OrtDecoder: past
   * that many, or with an export the rewrite does not understand, steps copy their caches.
   */
  arenaRows?: number
}

/** The decoding graph's session and the caches it reads in place. */
interface InPlace {
  session: ort.InferenceSession
  arena: KvArena
  /** Slots released while a step ran: released when it is done (its rows must not move meanwhile). */
  deferred: KvSlot[]
  running: boolean
}

/**
 * onnxruntime's message when its WebGPU provider finds no adapter (no GPU, no driver, no Vulkan
 * loader): "Failed to get a WebGPU adapter: No supported adapters".
 */
const NO_ADAPTER = /Failed to get a WebGPU adapter[^\n]*/

/** An onnxruntime error as a person needs it: its message without onnxruntime's source locations. */
export function ortReason(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err)
  const adapter = NO_ADAPTER.exec(msg)
  if (adapter !== null) return adapter[0].trim()
  return msg.replace(/\/onnxruntime_src\/\S+ /g, '').trim()
}

const indexTensor = (type: IndexType, values: ArrayLike<number>, dims: number[]): ort.Tensor =>
  type === 'int64'
    ? new ort.Tensor('int64', int64Array(values), dims)
    : new ort.Tensor('int32', Int32Array.from(values), dims)

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1

/**
 * `values` (integers of 32 bits) as int64, written as 32-bit halves: a BigInt per element (a heap
 * object each) was half of what a batched decoding step allocated, its attention mask alone
 * thousands of them.
 */
function int64Array(values: ArrayLike<number>): BigInt64Array {
  const out = new BigInt64Array(values.length)
  if (!LITTLE_ENDIAN) {
    for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]!)
    return out
  }
  const halves = new Int32Array(out.buffer)
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!
    halves[2 * i] = v
    halves[2 * i + 1] = v < 0 ? -1 : 0
  }
  return out
}

const ones = (type: IndexType, n: number): ort.Tensor =>
  type === 'int64'
    ? new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n])
    : new ort.Tensor('int32', new Int32Array(n).fill(1), [1, n])

/**
 * The largest difference from the export's logits that the decoding graph's self-check accepts,
 * by the caches' type (float16 rounds the split sums by about half a unit of its last place).
 */
const MAX_SELF_CHECK_DIFF = { float32: 1e-3, float16: 0.05 }

const cacheTensor = (type: 'float32' | 'float16', data: CacheData, dims: number[]): ort.Tensor =>
  type === 'float16'
    ? new ort.Tensor('float16', data as Uint16Array, dims)
    : new ort.Tensor('float32', data as Float32Array, dims)

/**
 * Logits from element `from` on, as float32 whatever the export returns (float16 arrives as
 * Uint16Array bit patterns, and is converted: a copy). float32 comes back as a view, or a copy
 * when `copy` is set (so that one row does not keep a whole output alive).
 */
function floatLogits(t: ort.Tensor, from: number, copy: boolean, to = t.size): Float32Array {
  const data = t.data
  if (data instanceof Float32Array) return copy ? data.slice(from, to) : data.subarray(from, to)
  if (data instanceof Uint16Array) return halfToFloat(data.subarray(from, to))
  return Float32Array.from(data as ArrayLike<number>).subarray(from, to)
}

/**
 * A standard ONNX decoder export (the layout Hugging Face Optimum and transformers.js use):
 * inputs `input_ids`, optional `attention_mask` and `position_ids`, and `past_key_values.N.key|value`
 * [batch, kvHeads, past, headDim]; outputs `logits` and `present.N.key|value`. Also accepted: an
 * Optimum merged decoder (a boolean `use_cache_branch` input), float16 caches and logits, int32
 * ids, weights in external data files, and any operator onnxruntime implements (MatMulNBits 4-bit
 * weights among them). One session serves any number of sequences, each with its own cache.
 *
 * Decoding in place: where the export's attention reads its caches as decodeGraph.ts needs (GPT-2
 * exports), and on the CPU, decoding steps run on a rewritten graph over caches kept in a KvArena
 * (`arenaRows` rows), which returns each step's new keys and values instead of the grown caches;
 * a self-check compares it with the export on one step and keeps it only if they agree. It is set
 * up at the first decoding step, in the background (a model that never decodes costs nothing:
 * kjv-small's takes about 0.2 CPU-s and 20 MB); steps copy their caches until it is ready. A
 * sequence's cache moves into the arena at its next decoding step and stays there until `release`.
 * Elsewhere (other exports, a full arena, steps of several tokens), steps copy caches.
 */
export class OrtDecoder {
  private inPlace: InPlace | null = null
  /** The decoding graph's set-up, once started (see the class); null: never (not asked for). */
  private setup: { start: () => Promise<void>; done?: Promise<void> } | null = null

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly spec: DecoderSpec,
    readonly io: DecoderIo,
    readonly provider: ExecutionProvider,
  ) {}

  /** Whether decoding steps run in place now (see the class). */
  get decodesInPlace(): boolean {
    return this.inPlace !== null
  }

  /** Set decoding in place up now, if this decoder can, and say whether it decodes in place. */
  async inPlaceReady(): Promise<boolean> {
    await this.startSetup()
    return this.decodesInPlace
  }

  private startSetup(): Promise<void> {
    if (this.setup === null) return Promise.resolve()
    this.setup.done ??= this.setup.start().catch(() => {
      // A graph onnxruntime cannot run: steps keep copying their caches.
    })
    return this.setup.done
  }

  /**
   * Open `dir/model.onnx`. Refuses with MODEL_INVALID an export onnxruntime cannot load (its
   * reason, e.g. an operator it does not implement) or whose inputs and outputs the engine cannot
   * drive (see decoderIo), and with PROVIDER_UNAVAILABLE a provider that cannot start here.
   */
  static async open(dir: string, spec: DecoderSpec, opts: DecoderOptions = {}): Promise<OrtDecoder> {
    const provider = opts.provider ?? 'cpu'
    const file = path.join(dir, 'model.onnx')
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: [provider],
      graphOptimizationLevel: 'all',
      ...(opts.spinning === false
        ? { extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } }
        : {}),
      ...(opts.threads !== undefined ? { intraOpNumThreads: opts.threads, interOpNumThreads: 1 } : {}),
    }
    let session: ort.InferenceSession
    try {
      session = await ort.InferenceSession.create(file, sessionOptions)
    } catch (err) {
      const reason = ortReason(err)
      if (NO_ADAPTER.test(reason))
        throw new EngineError('PROVIDER_UNAVAILABLE', `no WebGPU here: ${reason}`, { provider })
      throw new EngineError('MODEL_INVALID', `${file}: onnxruntime cannot load it: ${reason}`)
    }
    let io: DecoderIo
    try {
      io = decoderIo(session.inputMetadata, session.outputMetadata, spec, file)
    } catch (err) {
      await session.release()
      throw err
    }
    const decoder = new OrtDecoder(session, spec, io, provider)
    const rows = opts.arenaRows ?? 16
    if (provider === 'cpu' && rows > 0)
      decoder.setup = { start: () => decoder.startInPlace(file, rows, sessionOptions) }
    return decoder
  }

  /**
   * Open the decoding graph, when the export has one, and keep it if one step on it gives the
   * export's own logits (a rewrite that matched a graph it does not compute is never used).
   */
  private async startInPlace(
    file: string,
    rows: number,
    options: ort.InferenceSession.SessionOptions,
  ): Promise<void> {
    const graph = decodeGraph(await readFile(file), this.io.pastNames)
    if (graph === null) return
    const session = await ort.InferenceSession.create(graph, options)
    const { vocab } = this.spec
    const arena = (n: number): KvArena =>
      new KvArena(
        this.io.pastNames,
        this.io.kv === 'float16',
        this.spec.kvHeads,
        this.spec.headDim,
        n,
        this.spec.contextLength,
      )
    // The check runs on an arena of its own: the decoder's steps go on copying meanwhile.
    const trial: InPlace = { session, arena: arena(1), deferred: [], running: false }
    let worst = Infinity
    try {
      const prompt = [1 % vocab, 2 % vocab, 3 % vocab]
      const first = await this.step(this.emptyCache(), prompt)
      const copied = await this.step(first.cache, [4 % vocab])
      const slots = this.admit(trial, [first.cache]) as KvSlot[]
      const [inPlace] = await this.decodeInPlace(trial, [first.cache], slots, [4 % vocab], false)
      worst = 0
      for (let i = 0; i < vocab; i++)
        worst = Math.max(worst, Math.abs(copied.logits[i]! - inPlace!.logits[i]!))
    } finally {
      // A check that failed or threw keeps the copying path, and the session goes.
      if (worst <= MAX_SELF_CHECK_DIFF[this.io.kv]) this.inPlace = { ...trial, arena: arena(rows) }
      else await session.release()
    }
  }

  /** An empty cache: past tensors of length 0, which the first step accepts. */
  emptyCache(): DecoderCache {
    return { past: this.emptyPast(1), length: 0 }
  }

  private emptyPast(rows: number): Record<string, ort.Tensor> {
    const { kvHeads, headDim } = this.spec
    const past: Record<string, ort.Tensor> = {}
    for (const n of this.io.pastNames)
      past[n] = cacheTensor(this.io.kv, this.io.kv === 'float16' ? new Uint16Array(0) : new Float32Array(0), [
        rows,
        kvHeads,
        0,
        headDim,
      ])
    return past
  }

  /** Feed `tokens` after the cache; returns the logits of the last position and the grown cache. */
  async step(
    cache: DecoderCache,
    tokens: readonly number[],
  ): Promise<{ logits: Float32Array; cache: DecoderCache }> {
    const { logits, cache: next } = await this.forward(cache, tokens)
    return { logits: this.lastLogits(logits, 0, 1), cache: next }
  }

  /**
   * Whether `decodeBatch` can run sequences of different lengths together: it needs the export to
   * take an attention mask (to hide the padding) and position ids (each row has its own).
   */
  get batchable(): boolean {
    return this.io.mask !== null && this.io.positions !== null
  }

  /**
   * One decoding step of several sequences in one run (continuous batching): sequence i feeds
   * `tokens[i]` after `caches[i]`. Their caches are stacked into [rows, kvHeads, width, headDim],
   * each left-padded to the longest and the padding masked out, unless they already are exactly
   * the previous batch's rows in order, which is fed as it is (no copy). Each sequence gets its
   * logits, its cache (a row of the batch's present tensors), and with `audit` its audited rows.
   * A sequence's output in a batch equals its output alone up to float rounding (the padding
   * shifts its positions within the attention's sums).
   */
  async decodeBatch(
    caches: readonly DecoderCache[],
    tokens: readonly number[],
    audit = false,
  ): Promise<Array<{ logits: Float32Array; cache: DecoderCache; audit: AuditRows }>> {
    const B = caches.length
    if (B === 0 || tokens.length !== B)
      throw new EngineError('BAD_PARAMS', 'decodeBatch: one token per sequence')
    if (B > 1 && !this.batchable)
      throw new EngineError('BAD_PARAMS', 'decodeBatch: the export takes no attention mask or position ids')
    for (const c of caches) this.withinContext(c.length + 1)
    const { inPlace } = this
    if (inPlace === null) {
      void this.startSetup()
      return this.decodeCopied(caches, tokens, audit)
    }
    // The sequences with a row decode in place; any the arena has no room for, as the export is.
    const slots = this.admit(inPlace, caches)
    const here = caches.flatMap((_, b) => (slots[b] !== null ? [b] : []))
    const rest = caches.flatMap((_, b) => (slots[b] === null ? [b] : []))
    const pick = <T>(xs: readonly T[], at: number[]): T[] => at.map((b) => xs[b]!)
    const out = new Array<{ logits: Float32Array; cache: DecoderCache; audit: AuditRows }>(B)
    if (here.length > 0) {
      const done = await this.decodeInPlace(
        inPlace,
        pick(caches, here),
        pick(slots, here) as KvSlot[],
        pick(tokens, here),
        audit,
      )
      here.forEach((b, i) => (out[b] = done[i]!))
    }
    if (rest.length > 0) {
      const done = await this.decodeCopied(pick(caches, rest), pick(tokens, rest), audit)
      rest.forEach((b, i) => (out[b] = done[i]!))
    }
    return out
  }

  /** decodeBatch with the export as it is: the caches stacked (copied unless they are one batch). */
  private async decodeCopied(
    caches: readonly DecoderCache[],
    tokens: readonly number[],
    audit: boolean,
  ): Promise<Array<{ logits: Float32Array; cache: DecoderCache; audit: AuditRows }>> {
    const B = caches.length
    const { io } = this
    const stacked = this.stack(caches)
    const width = stacked.width
    const mask: number[] = []
    for (const c of caches) for (let p = 0; p <= width; p++) mask.push(p >= width - c.length ? 1 : 0)
    const feeds: Record<string, ort.Tensor> = {
      input_ids: indexTensor(io.ids, tokens, [B, 1]),
      ...stacked.past,
    }
    if (io.mask !== null) feeds.attention_mask = indexTensor(io.mask, mask, [B, width + 1])
    if (io.positions !== null)
      feeds.position_ids = indexTensor(
        io.positions,
        caches.map((c) => c.length),
        [B, 1],
      )
    if (io.cacheBranch) feeds.use_cache_branch = new ort.Tensor('bool', [width > 0], [1])
    const extra = audit ? io.auditNames : []
    const out = await this.run(feeds, extra)
    return caches.map((c, b) => ({
      logits: this.lastLogits(out.logits, b, B),
      cache: { past: out.past, length: c.length + 1, row: b },
      audit: auditRows(out.audit, extra, b, B),
    }))
  }

  /**
   * Each cache's row in the arena: its own when it has one and is its latest state; else a new
   * row, into which it is copied (a cache from a prefill, or an earlier state of a row, which then
   * goes on as a sequence of its own); null when no row is left.
   */
  private admit(inPlace: InPlace, caches: readonly DecoderCache[]): Array<KvSlot | null> {
    const { arena } = inPlace
    const slots: Array<KvSlot | null> = []
    for (const c of caches) {
      const own = c.slot
      if (own !== undefined && own.live && own.length === c.length && !slots.includes(own)) {
        slots.push(own)
        continue
      }
      // Checked before a row is taken: a released cache is refused with the arena as it was.
      if (c.slot !== undefined) this.arenaOf(c.slot, c.length)
      const slot = arena.admit(c.length)
      if (slot === null) {
        slots.push(null)
        continue
      }
      for (const name of this.io.pastNames)
        this.copyPositions(c, name, arena.buffer(name), (h) => arena.offset(slot.row, h, 0))
      slots.push(slot)
    }
    return slots
  }

  /**
   * One decoding step on the decoding graph (see the class): every row of the arena in use is fed
   * (a row not in this step is fed a placeholder token that attends to itself, and its result is
   * dropped), each sequence's new key and value are written at its next position.
   */
  private async decodeInPlace(
    inPlace: InPlace,
    caches: readonly DecoderCache[],
    slots: readonly KvSlot[],
    tokens: readonly number[],
    audit: boolean,
  ): Promise<Array<{ logits: Float32Array; cache: DecoderCache; audit: AuditRows }>> {
    const { io } = this
    const { kvHeads: H, headDim: D } = this.spec
    const { arena } = inPlace
    // Room for every row, and for this step's position of each sequence in it.
    let room = 0
    for (let r = 0; r < arena.used; r++) room = Math.max(room, arena.slot(r).length)
    for (const s of slots) room = Math.max(room, s.length + 1)
    arena.fit(room)
    const n = arena.used
    const S = arena.width
    const ids = new Array<number>(n).fill(0)
    const positions = new Array<number>(n).fill(0)
    const mask = new Int32Array(n * (S + 1))
    for (let r = 0; r < n; r++) mask[r * (S + 1) + S] = 1
    // The rows as fed: a release during the run moves rows, so the outputs are read by these.
    const rows = slots.map((s) => s.row)
    slots.forEach((s, b) => {
      const r = rows[b]!
      ids[r] = tokens[b]!
      positions[r] = s.length
      mask.fill(1, r * (S + 1), r * (S + 1) + s.length)
    })
    const feeds: Record<string, ort.Tensor> = { input_ids: indexTensor(io.ids, ids, [n, 1]) }
    for (const name of io.pastNames) feeds[name] = cacheTensor(io.kv, arena.view(name, n), [n, H, S, D])
    if (io.mask !== null) feeds.attention_mask = indexTensor(io.mask, mask, [n, S + 1])
    if (io.positions !== null) feeds.position_ids = indexTensor(io.positions, positions, [n, 1])
    const extra = audit ? io.auditNames : []
    const fetches = ['logits', ...io.presentNames.map(stepOutput), ...extra]
    inPlace.running = true
    let out: ort.InferenceSession.OnnxValueMapType
    try {
      out = await inPlace.session.run(feeds, fetches)
    } finally {
      inPlace.running = false
    }
    io.pastNames.forEach((name, i) => {
      const fresh = out[stepOutput(io.presentNames[i]!)]!.data as CacheData
      const dst = arena.buffer(name)
      slots.forEach((s, b) => {
        for (let h = 0; h < H; h++) {
          const from = (rows[b]! * H + h) * D
          const to = arena.offset(rows[b]!, h, s.length)
          for (let d = 0; d < D; d++) dst[to + d] = fresh[from + d]!
        }
      })
    })
    const logits = out.logits!
    const result = caches.map((c, b) => {
      const r = rows[b]!
      slots[b]!.length = c.length + 1
      return {
        logits: this.lastLogits(logits, r, n),
        cache: { past: IN_ARENA, length: c.length + 1, slot: slots[b]! },
        audit: auditRows(out, extra, r, n),
      }
    })
    for (const s of inPlace.deferred.splice(0)) arena.release(s)
    return result
  }

  /**
   * Done with a sequence: its row of the arena, if it has one, goes back (any cache of it can no
   * longer be fed). Nothing to do for a cache outside the arena.
   */
  release(cache: DecoderCache): void {
    const { inPlace } = this
    if (inPlace === null || cache.slot === undefined) return
    if (inPlace.running) inPlace.deferred.push(cache.slot)
    else inPlace.arena.release(cache.slot)
  }

  /**
   * The prompts of several new sequences in one run (batched prefill): sequence i's prompt
   * `prompts[i]` after an empty cache. The prompts are left-padded to the longest and the padding
   * masked out, so each sequence's cache is a row of the run's present tensors laid out as
   * decodeBatch lays out its own (its positions the last of the width), and its next steps join a
   * batch as they are. Each gets the logits of its last position, equal to its own alone up to
   * float rounding.
   */
  async prefillBatch(
    prompts: ReadonlyArray<readonly number[]>,
  ): Promise<Array<{ logits: Float32Array; cache: DecoderCache }>> {
    const B = prompts.length
    if (B === 0 || prompts.some((p) => p.length === 0))
      throw new EngineError('BAD_PARAMS', 'prefillBatch: one prompt of at least one token per sequence')
    if (B > 1 && !this.batchable)
      throw new EngineError('BAD_PARAMS', 'prefillBatch: the export takes no attention mask or position ids')
    const width = Math.max(...prompts.map((p) => p.length))
    this.withinContext(width)
    const { io } = this
    const ids: number[] = []
    const mask: number[] = []
    const positions: number[] = []
    for (const p of prompts) {
      const pad = width - p.length
      for (let j = 0; j < width; j++) {
        // A padding slot repeats the first token; the mask hides it from every real position.
        ids.push(j < pad ? p[0]! : p[j - pad]!)
        mask.push(j < pad ? 0 : 1)
        positions.push(j < pad ? 0 : j - pad)
      }
    }
    const feeds: Record<string, ort.Tensor> = {
      input_ids: indexTensor(io.ids, ids, [B, width]),
      ...this.emptyPast(B),
    }
    if (io.mask !== null) feeds.attention_mask = indexTensor(io.mask, mask, [B, width])
    if (io.positions !== null) feeds.position_ids = indexTensor(io.positions, positions, [B, width])
    if (io.cacheBranch) feeds.use_cache_branch = new ort.Tensor('bool', [false], [1])
    const out = await this.run(feeds, [])
    return prompts.map((p, b) => ({
      logits: this.lastLogits(out.logits, b, B),
      cache: { past: out.past, length: p.length, row: b },
    }))
  }

  /**
   * The caches as one batch's past inputs: as they are when they are exactly one earlier batch's
   * rows in order, else copied into new tensors, each sequence's positions at the right end.
   */
  private stack(caches: readonly DecoderCache[]): { past: Record<string, ort.Tensor>; width: number } {
    const shared = caches[0]!.past
    const t0 = shared[this.io.pastNames[0]!]
    if (
      t0 !== undefined &&
      caches.every((c, i) => c.past === shared && (c.row ?? 0) === i) &&
      t0.dims[0] === caches.length
    )
      return { past: shared, width: t0.dims[2]! }
    return this.gather(caches)
  }

  /** The past tensors of one sequence alone, unpadded: its own, or its row copied out of a batch's. */
  private own(cache: DecoderCache): Record<string, ort.Tensor> {
    const t = cache.past[this.io.pastNames[0]!]
    return cache.slot === undefined && (t === undefined || (t.dims[0] === 1 && t.dims[2] === cache.length))
      ? cache.past
      : this.gather([cache]).past
  }

  /**
   * Where a cache's positions of input `name` lie: in `src`, a [rows, kvHeads, w, headDim] array,
   * row `row`, from position `start` on (its tensor's right end, or its arena row's left).
   */
  private positions(
    c: DecoderCache,
    name: string,
  ): { src: CacheData; w: number; row: number; start: number } {
    if (c.slot !== undefined) {
      const arena = this.arenaOf(c.slot, c.length)
      return { src: arena.buffer(name), w: arena.width, row: c.slot.row, start: 0 }
    }
    const t = c.past[name]!
    const w = t.dims[2] ?? 0
    return { src: t.data as CacheData, w, row: c.row ?? 0, start: w - c.length }
  }

  /** The arena that holds `slot` with `length` positions; throws BAD_PARAMS when it was released. */
  private arenaOf(slot: KvSlot, length: number): KvArena {
    const arena = this.inPlace?.arena
    if (arena === undefined || !slot.live || slot.length < length)
      throw new EngineError('BAD_PARAMS', 'this cache was released')
    return arena
  }

  /** Copy cache `c`'s positions of input `name` into `dst`, head `h`'s from `dstOffset(h)` on. */
  private copyPositions(
    c: DecoderCache,
    name: string,
    dst: CacheData,
    dstOffset: (h: number) => number,
  ): void {
    const { kvHeads: H, headDim: D } = this.spec
    const { src, w, row, start } = this.positions(c, name)
    for (let h = 0; h < H; h++) {
      const from = ((row * H + h) * w + start) * D
      dst.set(src.subarray(from, from + c.length * D), dstOffset(h))
    }
  }

  private gather(caches: readonly DecoderCache[]): { past: Record<string, ort.Tensor>; width: number } {
    const width = Math.max(...caches.map((c) => c.length))
    const { kvHeads: H, headDim: D } = this.spec
    const past: Record<string, ort.Tensor> = {}
    for (const name of this.io.pastNames) {
      const data: CacheData =
        this.io.kv === 'float16'
          ? new Uint16Array(caches.length * H * width * D)
          : new Float32Array(caches.length * H * width * D)
      caches.forEach((c, b) =>
        this.copyPositions(c, name, data, (h) => ((b * H + h) * width + (width - c.length)) * D),
      )
      past[name] = cacheTensor(this.io.kv, data, [caches.length, H, width, D])
    }
    return { past, width }
  }

  /**
   * `step`, also returning the audited integer products of an int8 export (io.auditNames:
   * `audit/<layer>/<proj>/x` int8 [1, tokens, K], `…/y` int32 [1, tokens, N], `…/scale` float32
   * [1, tokens, 1]; scripts/model/int8-export.mjs), one row per fed token. Empty for other exports.
   */
  async stepAudited(
    cache: DecoderCache,
    tokens: readonly number[],
  ): Promise<{ logits: Float32Array; cache: DecoderCache; audit: Record<string, ort.Tensor> }> {
    const { logits, cache: next, audit } = await this.forward(cache, tokens, this.io.auditNames)
    return { logits: this.lastLogits(logits, 0, 1), cache: next, audit }
  }

  /**
   * Teacher forcing: one pass over `tokens` from an empty cache, no decoding loop. Returns the
   * logits rows of positions `from` to the last, row-major (a view of the pass's output, which
   * holds every position: keep it in the thread that made it).
   */
  async score(tokens: readonly number[], from: number): Promise<Float32Array> {
    if (!(Number.isInteger(from) && from >= 0 && from < tokens.length))
      throw new EngineError('BAD_PARAMS', `score: no position ${from} among ${tokens.length}`)
    const { logits } = await this.forward(this.emptyCache(), tokens)
    // Some exports return the last position's logits only; replay needs every position's.
    if (logits.size !== tokens.length * this.spec.vocab)
      throw new EngineError('MODEL_INVALID', 'the model returns no logits for every position')
    return floatLogits(logits, from * this.spec.vocab, false)
  }

  /** Refuse a step that would put a token at `position`, past the model's context. */
  private withinContext(position: number): void {
    if (position > this.spec.contextLength)
      throw new EngineError(
        'CONTEXT_OVERFLOW',
        `position ${position} is past the context of ${this.spec.contextLength}`,
      )
  }

  /** The logits of row `row`'s last position (of `rows`), a float32 copy of its own. */
  private lastLogits(logits: ort.Tensor, row: number, rows: number): Float32Array {
    const end = ((row + 1) * logits.size) / rows
    return floatLogits(logits, end - this.spec.vocab, true, end)
  }

  private async forward(
    cache: DecoderCache,
    tokens: readonly number[],
    extra: readonly string[] = [],
  ): Promise<{ logits: ort.Tensor; cache: DecoderCache; audit: Record<string, ort.Tensor> }> {
    const n = tokens.length
    const total = cache.length + n
    this.withinContext(total)
    const { io } = this
    const feeds: Record<string, ort.Tensor> = {
      input_ids: indexTensor(io.ids, tokens, [1, n]),
      // A row of a batch is copied out into a cache of its own.
      ...this.own(cache),
    }
    if (io.mask !== null) feeds.attention_mask = ones(io.mask, total)
    if (io.positions !== null)
      feeds.position_ids = indexTensor(
        io.positions,
        Array.from({ length: n }, (_, i) => cache.length + i),
        [1, n],
      )
    // The merged decoder's else-branch ignores the past: take it only when there is one.
    if (io.cacheBranch) feeds.use_cache_branch = new ort.Tensor('bool', [cache.length > 0], [1])
    const { logits, past, audit } = await this.run(feeds, extra)
    return { logits, cache: { past, length: total }, audit }
  }

  private async run(
    feeds: Record<string, ort.Tensor>,
    extra: readonly string[],
  ): Promise<{ logits: ort.Tensor; past: Record<string, ort.Tensor>; audit: Record<string, ort.Tensor> }> {
    const { io } = this
    // Only what is used comes back: an int8 export's audit outputs are copied out when asked for.
    const out = await this.session.run(feeds, ['logits', ...io.presentNames, ...extra])
    const logits = out.logits
    if (logits === undefined) throw new EngineError('ENGINE_FAILED', 'the model returned no logits')
    const past: Record<string, ort.Tensor> = {}
    for (const name of io.pastNames) {
      const t = out[name.replace('past_key_values.', 'present.')]
      if (t === undefined) throw new EngineError('ENGINE_FAILED', `the model returned no ${name} successor`)
      past[name] = t
    }
    const audit: Record<string, ort.Tensor> = {}
    for (const name of extra) audit[name] = out[name]!
    return { logits, past, audit }
  }

  async close(): Promise<void> {
    await this.setup?.done
    await this.session.release()
    await this.inPlace?.session.release()
  }
}

/** Row `row` of `rows` of each audited output in `names` (views, not copies). */
function auditRows(
  out: Record<string, ort.Tensor>,
  names: readonly string[],
  row: number,
  rows: number,
): AuditRows {
  const picked: AuditRows = {}
  for (const name of names) {
    const data = out[name]!.data as Int8Array | Int32Array | Float32Array
    const per = data.length / rows
    picked[name] = data.subarray(row * per, (row + 1) * per)
  }
  return picked
}
