import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import onnxProto from 'onnx-proto'
import { OrtDecoder, TextModel } from '../../../src/engine/index.js'
import type { DecoderCache } from '../../../src/engine/llm/decoder.js'
import { decodeGraph, stepOutput } from '../../../src/engine/llm/decodeGraph.js'
import { KvArena, WIDTH_GRANULE } from '../../../src/engine/llm/kvArena.js'
import { ROOT } from '../../helpers/cli.js'

// Decoding in place (issue 14, item 6): decoding steps run on a rewritten graph over caches kept
// in a fixed buffer, and give what the export gives with its own caches.

const KJV = join(ROOT, 'models', 'kjv-small')
const FIXTURES = join(ROOT, 'test', 'fixtures', 'models')
const pastNames = (layers: number): string[] =>
  Array.from({ length: layers }, (_, l) => [`past_key_values.${l}.key`, `past_key_values.${l}.value`]).flat()

const closers: Array<() => Promise<void>> = []
after(async () => {
  for (const close of closers) await close()
})

async function open(dir: string, arenaRows: number): Promise<{ model: TextModel; decoder: OrtDecoder }> {
  const model = await TextModel.load(dir)
  const decoder = await OrtDecoder.open(dir, model.spec, { threads: 1, arenaRows })
  closers.push(() => decoder.close())
  return { model, decoder }
}

const maxAbsDiff = (a: Float32Array, b: Float32Array): number => {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!))
  return m
}

test('the decoding graph: GPT-2 and Llama exports return their steps’ own keys and values; exports it does not understand are left alone', () => {
  // GPT-2 (kjv-small), and grouped-query attention that repeats the cache's heads (llama-tiny).
  for (const [dir, layers] of [
    [KJV, 4],
    [join(FIXTURES, 'llama-tiny'), 2],
  ] as const) {
    const graph = decodeGraph(readFileSync(join(dir, 'model.onnx')), pastNames(layers))
    assert.ok(graph !== null, `${dir} is rewritten`)
    const outputs = onnxProto.onnx.ModelProto.decode(graph).graph!.output!.map((o) => o.name)
    assert.deepEqual(outputs, [
      'logits',
      ...pastNames(layers).map((n) => stepOutput(n.replace('past_key_values.', 'present.'))),
    ])
  }
  // A merged decoder's caches are read inside its If branches; an export with external weights
  // cannot be loaded from memory.
  for (const dir of ['llama-tiny-merged', 'llama-tiny-external'])
    assert.equal(decodeGraph(readFileSync(join(FIXTURES, dir, 'model.onnx')), pastNames(2)), null, dir)
})

test('the arena: rows stay packed when one is given back, widening or narrowing keeps every row’s positions, and its memory follows its use', () => {
  const H = 2
  const D = 3
  const arena = new KvArena(['k'], false, H, D, 3, 200)
  const fill = (row: number, length: number, base: number): void => {
    for (let h = 0; h < H; h++)
      for (let p = 0; p < length; p++)
        for (let d = 0; d < D; d++)
          arena.buffer('k')[arena.offset(row, h, p) + d] = base + h * 1000 + p * 10 + d
  }
  const read = (row: number, length: number): number[] => {
    const out: number[] = []
    for (let h = 0; h < H; h++)
      for (let p = 0; p < length; p++)
        for (let d = 0; d < D; d++) out.push(arena.buffer('k')[arena.offset(row, h, p) + d]!)
    return out
  }
  const rowSize = H * WIDTH_GRANULE * D
  const a = arena.admit(5)!
  fill(a.row, 5, 100000)
  assert.equal(arena.buffer('k').length, rowSize, 'one row allocated')
  const b = arena.admit(7)!
  fill(b.row, 7, 200000)
  assert.equal(arena.buffer('k').length, 2 * rowSize, 'the rows double')
  const c = arena.admit(2)!
  fill(c.row, 2, 300000)
  assert.equal(arena.buffer('k').length, 3 * rowSize, 'up to the capacity')
  assert.deepEqual(read(a.row, 5).slice(0, 2), [100000, 100001], 'rows kept as the buffers grew')
  assert.equal(arena.admit(1), null, 'three rows, no fourth')
  assert.equal(arena.width, WIDTH_GRANULE)
  const cRows = read(c.row, 2)
  arena.release(a)
  arena.release(a)
  assert.equal(arena.used, 2)
  assert.equal(c.row, 0, 'the last row moved into the freed one')
  assert.deepEqual(read(c.row, 2), cRows)
  const bRows = read(b.row, 7)
  arena.fit(WIDTH_GRANULE + 1)
  assert.equal(arena.width, 2 * WIDTH_GRANULE)
  assert.deepEqual(read(b.row, 7), bRows)
  assert.deepEqual(read(c.row, 2), cRows)
  arena.fit(7)
  assert.equal(arena.width, WIDTH_GRANULE)
  assert.deepEqual(read(b.row, 7), bRows)
  arena.fit(200)
  assert.equal(arena.width, 200, 'never wider than the context')
  assert.throws(() => arena.fit(201), RangeError)
  arena.release(b)
  arena.release(c)
  assert.equal(arena.used, 0)
  assert.equal(arena.width, 0, 'the buffers go with the last row')
  assert.equal(arena.admit(3)!.row, 0)
  assert.equal(arena.buffer('k').length, rowSize)
})

for (const [dir, tolerance] of [
  [KJV, 1e-4],
  [join(FIXTURES, 'llama-tiny'), 1e-4],
  // float16 caches and logits: the split sums move rounding by about half a unit of the last place.
  [join(FIXTURES, 'llama-tiny-fp16'), 0.05],
] as const)
  test(`decoding in place gives the export’s own logits, alone, in a batch, past a full arena, from an earlier state, and while rows are given back (${dir.split('/').at(-1)})`, async (t) => {
    const inPlace = await open(dir, 3)
    const copied = await open(dir, 0)
    // Set up at the first decoding step, in the background; or now, when asked.
    assert.equal(inPlace.decoder.decodesInPlace, false)
    assert.equal(await inPlace.decoder.inPlaceReady(), true)
    assert.equal(await copied.decoder.inPlaceReady(), false)
    const prompts = [
      'And the LORD said unto Moses,',
      'In the beginning',
      'Blessed are the',
      'Thou shalt not',
    ].map((p) => inPlace.model.encode(p))
    const start = async (d: OrtDecoder): Promise<DecoderCache[]> => {
      const caches: DecoderCache[] = []
      for (const p of prompts) caches.push((await d.step(d.emptyCache(), p)).cache)
      return caches
    }
    const a = await start(inPlace.decoder)
    const b = await start(copied.decoder)
    let worst = 0
    const stepBoth = async (which: number[], token: number): Promise<void> => {
      const x = await inPlace.decoder.decodeBatch(
        which.map((i) => a[i]!),
        which.map(() => token),
      )
      const y = await copied.decoder.decodeBatch(
        which.map((i) => b[i]!),
        which.map(() => token),
      )
      which.forEach((i, k) => {
        worst = Math.max(worst, maxAbsDiff(x[k]!.logits, y[k]!.logits))
        a[i] = x[k]!.cache
        b[i] = y[k]!.cache
      })
    }
    // Three sequences fill the arena's three rows; each step of one alone, then of two of them.
    await stepBoth([0, 1, 2], 5)
    assert.ok(a.slice(0, 3).every((c) => c.slot !== undefined))
    await stepBoth([1], 6)
    await stepBoth([2, 0], 7)
    // A fourth sequence finds no row: that step copies its caches, and the sequences go on.
    await stepBoth([0, 1, 2, 3], 8)
    assert.equal(a[3]!.slot, undefined, 'no row was left for the fourth')
    for (let i = 0; i < 70; i++) await stepBoth([0, 1, 2], 9 + (i % 5))
    // A cache of an earlier state goes on as a sequence of its own, in a row of its own; the
    // latest state of its sequence is untouched.
    inPlace.decoder.release(a[2]!)
    const earlier = a[0]!
    await stepBoth([0], 20)
    const [fork] = await inPlace.decoder.decodeBatch([earlier], [21])
    const [forkCopied] = await copied.decoder.decodeBatch([await copiedAt(earlier.length)], [21])
    worst = Math.max(worst, maxAbsDiff(fork!.logits, forkCopied!.logits))
    assert.notEqual(fork!.cache.slot, a[0]!.slot)
    a[2] = fork!.cache
    b[2] = forkCopied!.cache
    await stepBoth([0, 1, 2], 22)
    // A row given back during a step is given back after it: the last row, which moves into its
    // place, is in that step and gets its new position where it went.
    assert.equal(a[2]!.slot!.row, 2)
    const running = stepBoth([1, 2], 23)
    inPlace.decoder.release(a[0]!)
    await running
    assert.equal(a[2]!.slot!.row, 0)
    await stepBoth([1, 2], 24)
    await stepBoth([2, 1], 25)
    // A released cache cannot be fed again.
    await assert.rejects(inPlace.decoder.decodeBatch([a[0]!], [1]), { code: 'BAD_PARAMS' })
    assert.ok(worst < tolerance, `logits differ by ${worst} from the export's own`)
    t.diagnostic(`largest difference from the export's own logits ${worst.toExponential(2)}`)

    async function copiedAt(length: number): Promise<DecoderCache> {
      // Sequence 0 with the copying decoder, replayed to `length` positions.
      let c = (await copied.decoder.step(copied.decoder.emptyCache(), prompts[0]!)).cache
      const tokens = [5, 7, 8, ...Array.from({ length: 70 }, (_, i) => 9 + (i % 5))]
      for (const t of tokens.slice(0, length - prompts[0]!.length))
        c = (await copied.decoder.decodeBatch([c], [t]))[0]!.cache
      return c
    }
  })

test('decoding in place is set up at a decoder’s first decoding step, in the background; the sequence moves into the arena once it is ready', async () => {
  const { model, decoder } = await open(KJV, 4)
  let { cache } = await decoder.step(decoder.emptyCache(), model.encode('In the beginning'))
  ;({ cache } = (await decoder.decodeBatch([cache], [5]))[0]!)
  for (let i = 0; i < 3000 && !decoder.decodesInPlace; i++) await new Promise((r) => setTimeout(r, 10))
  assert.equal(decoder.decodesInPlace, true, 'set up without being asked')
  ;({ cache } = (await decoder.decodeBatch([cache], [6]))[0]!)
  assert.notEqual(cache.slot, undefined, 'the sequence decodes in place now')
  decoder.release(cache)
})
