import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import onnxProto from 'onnx-proto'
import {
  argmax,
  EngineError,
  loadInt8Weights,
  OrtDecoder,
  TextModel,
  type Int8Weights,
} from '../../../src/engine/index.js'
import { checkChain, type ChainFail, type ChainRow } from '../../../src/verify/freivalds/index.js'
import { ROOT } from '../../helpers/cli.js'

const { onnx } = onnxProto

// The chain check of issue 13, item 4: at an opened position, each product's committed input
// must follow from the committed outputs before it through the float glue. Honest rows come from
// the engine's own int8 decoder, run as generation runs it (a prefill of the prompt, then one
// greedy token at a time); the cheats below falsify them the ways a host would.

const DIRS = {
  'kjv-small-int8': join(ROOT, 'models', 'kjv-small-int8'),
  'llama-tiny-int8': join(ROOT, 'test', 'fixtures', 'models', 'llama-tiny-int8'),
} as const
type Name = keyof typeof DIRS

const fixture = JSON.parse(
  readFileSync(join(ROOT, 'test', 'fixtures', 'models', 'expected-greedy.json'), 'utf8'),
) as { promptIds: number[] }
const PROMPT = fixture.promptIds
/** Output tokens generated; every token but the last is fed, so T = prompt + STEPS − 1 positions. */
const STEPS = 6

interface Run {
  weights: Int8Weights
  /** The tokens fed, one per position. */
  fed: number[]
  /** The engine's greedy choice after each position (the token at t + 1). */
  greedy: number[]
  /** rows[t][product]: the committed row at position t. */
  rows: ChainRow[][]
}

const runs = new Map<Name, Run>()

async function generate(name: Name): Promise<Run> {
  const dir = DIRS[name]
  const weights = await loadInt8Weights(dir)
  const model = await TextModel.load(dir)
  const d = await OrtDecoder.open(model.dir, model.spec, { threads: 1 })
  const fed: number[] = []
  const greedy: number[] = []
  const rows: ChainRow[][] = []
  try {
    let cache = d.emptyCache()
    let feed = PROMPT
    for (let s = 0; s < STEPS; s++) {
      const step = await d.stepAudited(cache, feed)
      cache = step.cache
      for (let r = 0; r < feed.length; r++) {
        rows.push(
          weights.products.map((p) => {
            const part = (k: string): ArrayLike<number> & { slice(a: number, b: number): unknown } =>
              step.audit[`${p.name}/${k}`]!.data as Int8Array
            return {
              x: part('x').slice(r * p.inner, (r + 1) * p.inner) as Int8Array,
              y: (step.audit[`${p.name}/y`]!.data as Int32Array).slice(r * p.cols, (r + 1) * p.cols),
              scale: (step.audit[`${p.name}/scale`]!.data as Float32Array)[r]!,
            }
          }),
        )
      }
      fed.push(...feed)
      // The engine's greedy rule on the engine's logits of the last fed position.
      const next = argmax(step.logits)
      greedy.push(next)
      feed = [next]
    }
  } finally {
    await d.close()
  }
  return { weights, fed, greedy, rows }
}

before(async () => {
  for (const name of Object.keys(DIRS) as Name[]) runs.set(name, await generate(name))
})

const copy = (rows: ChainRow[]): ChainRow[] =>
  rows.map((r) => ({ x: r.x.slice(), y: r.y.slice(), scale: r.scale }))
const index = (w: Int8Weights, name: string): number => w.products.findIndex((p) => p.name === name)
const chainAt = (run: Run, t: number, rows = run.rows[t]!, token = run.fed[t]!) =>
  checkChain(run.weights, run.weights.products, { position: t, token, rows })

function assertFails(result: ReturnType<typeof chainAt>, product: string, what: string): ChainFail {
  assert.equal(result.ok, false, `${what}: passed`)
  const fail = result as ChainFail
  assert.equal(fail.product, product, `${what}: ${fail.why}`)
  return fail
}

test('loadInt8Weights lists the products in manifest order, with weights that give the committed products', () => {
  const { weights: w, rows } = runs.get('kjv-small-int8')!
  assert.deepEqual(w.projections, ['c_attn', 'attn_proj', 'c_fc', 'mlp_proj', 'lm_head'])
  assert.equal(w.layers, 4)
  assert.deepEqual(w.products[0], { name: 'audit/0/c_attn', layer: 0, projection: 0, inner: 256, cols: 768 })
  assert.deepEqual(w.products[16], {
    name: 'audit/head/lm_head',
    layer: 4,
    projection: 4,
    inner: 256,
    cols: 2048,
  })
  assert.equal(w.glue.blocks.length, 4)
  assert.equal(w.glue.blocks[0]!.activation.kind, 'gelu_tanh')
  assert.equal(w.glue.finalNorm.kind, 'layer')
  const llama = runs.get('llama-tiny-int8')!.weights
  assert.deepEqual(llama.projections, [
    'q_proj',
    'k_proj',
    'v_proj',
    'o_proj',
    'gate_proj',
    'up_proj',
    'down_proj',
    'lm_head',
  ])
  assert.deepEqual(llama.glue.blocks[1]!.attnIn, [7, 8, 9])
  assert.equal(llama.glue.blocks[1]!.activation.kind, 'silu_mul')
  assert.equal(llama.glue.positionEmbedding, null)
  // W8 is what the decoder multiplied by: one row of 1/mlp_proj, exactly.
  const i = index(w, 'audit/1/mlp_proj')
  const { inner: K, cols: N } = w.products[i]!
  const W = w.weight(1, 3)
  const { x, y } = rows[3]![i]!
  for (let n = 0; n < N; n++) {
    let acc = 0
    for (let k = 0; k < K; k++) acc += x[k]! * W[k * N + n]!
    assert.equal(acc, y[n], `y[${n}]`)
  }
  assert.equal(w.weightScale(4, 4).length, 2048)
  assert.throws(() => w.weight(9, 0), EngineError)
})

test('a model without int8 audit outputs, or with glue of an unknown shape, is refused', async () => {
  const refused = (pattern: RegExp) => (err: unknown) => {
    assert.ok(err instanceof EngineError)
    assert.equal(err.code, 'MODEL_INVALID')
    assert.match(err.message, pattern)
    return true
  }
  await assert.rejects(loadInt8Weights(join(ROOT, 'models', 'kjv-small')), refused(/not an int8 export/))
  // The Llama fixture with block 0's SiLU turned into a tanh: no activation the chain knows.
  const src = DIRS['llama-tiny-int8']
  const model = onnx.ModelProto.decode(readFileSync(join(src, 'model.onnx')))
  const sigmoid = model.graph!.node!.find((n) => n.opType === 'Sigmoid')!
  sigmoid.opType = 'Tanh'
  const bytes = onnx.ModelProto.encode(model).finish()
  const dir = mkdtempSync(join(tmpdir(), 'cordex-chain-'))
  try {
    const manifest = JSON.parse(readFileSync(join(src, 'manifest.json'), 'utf8')) as {
      files: Record<string, string>
    }
    manifest.files['model.onnx'] = createHash('sha256').update(bytes).digest('hex')
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest))
    writeFileSync(join(dir, 'model.onnx'), bytes)
    await assert.rejects(
      loadInt8Weights(dir),
      refused(/block 0: the input of audit\/0\/down_proj is no known activation/),
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

for (const name of Object.keys(DIRS) as Name[]) {
  test(`${name}: honest rows follow at every position, and the logits give the greedy tokens`, (ctx) => {
    const run = runs.get(name)!
    const T = PROMPT.length + STEPS - 1
    assert.equal(run.rows.length, T)
    let checked = 0
    let offByOne = 0
    for (let t = 0; t < T; t++) {
      const r = chainAt(run, t)
      assert.ok(r.ok, r.ok ? '' : r.why)
      checked += r.checked
      offByOne += r.offByOne
      // Position t's logits pick the token at t + 1: the engine's greedy choice.
      if (t >= PROMPT.length - 1)
        assert.equal(argmax(r.logits), run.greedy[t - PROMPT.length + 1], `t = ${t}`)
    }
    ctx.diagnostic(`${name}: ${T} positions, ${checked} integers compared, ${offByOne} off by one`)
    assert.ok(checked > 0)
  })
}

test('one input of c_fc changed by 2 is caught, naming it; by 1 it passes and is counted', () => {
  const run = runs.get('kjv-small-int8')!
  const i = index(run.weights, 'audit/1/c_fc')
  const t = PROMPT.length - 1
  const base = chainAt(run, t)
  assert.ok(base.ok)
  const rows = copy(run.rows[t]!)
  const k = rows[i]!.x.findIndex((v) => Math.abs(v) < 100)
  rows[i]!.x[k] = rows[i]!.x[k]! + 2
  const two = assertFails(chainAt(run, t, rows), 'audit/1/c_fc', 'x + 2')
  assert.equal(two.code, 'INPUT_MISMATCH')
  assert.equal(two.element, k)
  assert.equal(two.actual, run.rows[t]![i]!.x[k]! + 2)
  rows[i]!.x[k] = run.rows[t]![i]!.x[k]! + 1
  const one = chainAt(run, t, rows)
  assert.ok(one.ok)
  assert.ok(one.offByOne >= 1 && one.offByOne <= base.offByOne + 1)
  // The row's scale off by 0.1%: a scale failure on the same product.
  const scaled = copy(run.rows[t]!)
  scaled[i]!.scale *= 1.001
  const fail = assertFails(chainAt(run, t, scaled), 'audit/1/c_fc', 'scale')
  assert.equal(fail.code, 'SCALE_MISMATCH')
  assert.equal(fail.element, null)
})

test('a skipped layer is caught at the first product after it', () => {
  const run = runs.get('kjv-small-int8')!
  const w = run.weights
  const t = 4
  // Block 2 did nothing: its rows are block 1's (each product on its own still exact).
  const reused = copy(run.rows[t]!)
  for (const proj of ['c_attn', 'attn_proj', 'c_fc', 'mlp_proj'])
    reused[index(w, `audit/2/${proj}`)] = run.rows[t]![index(w, `audit/1/${proj}`)]!
  assertFails(chainAt(run, t, reused), 'audit/2/c_attn', 'block 2 reuses block 1')
  // Block 3's input in block 2's place.
  const shifted = copy(run.rows[t]!)
  shifted[index(w, 'audit/2/c_attn')] = run.rows[t]![index(w, 'audit/3/c_attn')]!
  assertFails(chainAt(run, t, shifted), 'audit/2/c_attn', "block 3's input in block 2")
  // Block 1's MLP added nothing to the residual stream.
  const zeroed = copy(run.rows[t]!)
  zeroed[index(w, 'audit/1/mlp_proj')]!.y.fill(0)
  assertFails(chainAt(run, t, zeroed), 'audit/2/c_attn', "block 1's MLP skipped")
})

test("the head's input must follow from the last block", () => {
  const run = runs.get('kjv-small-int8')!
  const head = index(run.weights, 'audit/head/lm_head')
  const t = PROMPT.length
  // The head row of another position (a real quantized row, but not this position's).
  const rows = copy(run.rows[t]!)
  rows[head] = run.rows[t - 2]![head]!
  assertFails(chainAt(run, t, rows), 'audit/head/lm_head', 'head of another position')
  // The last block's MLP output falsified: the head's input no longer follows.
  const down = copy(run.rows[t]!)
  const y = down[index(run.weights, 'audit/3/mlp_proj')]!.y
  for (let n = 0; n < y.length; n++) y[n] = y[n]! + (n % 2 === 0 ? 3000 : -3000)
  assertFails(chainAt(run, t, down), 'audit/head/lm_head', 'last block falsified')
})

test('a wrong token id at a position fails at the first product (the embedding)', () => {
  for (const name of Object.keys(DIRS) as Name[]) {
    const run = runs.get(name)!
    const t = 3
    const first = run.weights.products[0]!.name
    assertFails(
      chainAt(run, t, run.rows[t], (run.fed[t]! + 1) % run.weights.glue.vocab),
      first,
      `${name} token`,
    )
    // And at the wrong position (GPT-2's learned positions; Llama's rotary positions touch only attention).
    if (run.weights.glue.positionEmbedding !== null)
      assertFails(
        checkChain(run.weights, run.weights.products, {
          position: t + 1,
          token: run.fed[t]!,
          rows: run.rows[t]!,
        }),
        first,
        `${name} position`,
      )
  }
})

test("llama-tiny-int8: gate's output falsified is caught at down_proj; o_proj's input must be quantized", () => {
  const run = runs.get('llama-tiny-int8')!
  const w = run.weights
  const t = 5
  const rows = copy(run.rows[t]!)
  const y = rows[index(w, 'audit/0/gate_proj')]!.y
  for (let n = 0; n < y.length; n++) y[n] = -y[n]!
  assertFails(chainAt(run, t, rows), 'audit/0/down_proj', 'gate negated')
  const scaled = copy(run.rows[t]!)
  const o = scaled[index(w, 'audit/1/o_proj')]!
  for (let k = 0; k < o.x.length; k++) o.x[k] = Math.trunc(o.x[k]! / 2)
  const fail = assertFails(chainAt(run, t, scaled), 'audit/1/o_proj', 'o_proj x halved')
  assert.equal(fail.code, 'NOT_QUANTIZED')
})
