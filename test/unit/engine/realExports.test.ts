import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import onnxProto from 'onnx-proto'
import {
  Engine,
  EngineError,
  GREEDY,
  OrtDecoder,
  TextModel,
  externalDataLocations,
  sha256Hex,
  type GenerationRequest,
  type ReplayEpsilon,
} from '../../../src/engine/index.js'
import { ROOT, tempDir } from '../../helpers/cli.js'

// The forms in which common tools export a decoder (issue 11, item 5), as tiny random-weight
// fixtures written by scripts/model/real-exports.mjs from llama-tiny. Every variant holds the same
// weights (snapped to a 4-bit grid, so that the q4 form loses nothing), so each must generate what
// the fp32 reference generates, up to its own rounding.

const { onnx } = onnxProto
const MODELS = join(ROOT, 'test', 'fixtures', 'models')
const dirOf = (name: string): string => join(MODELS, name)
const REFERENCE = 'llama-tiny-external'
const VARIANTS = ['llama-tiny-fp16', 'llama-tiny-q4', 'llama-tiny-merged'] as const

const fixture = JSON.parse(readFileSync(join(MODELS, 'expected-greedy.json'), 'utf8')) as {
  promptIds: number[]
}

const greedy = (maxTokens = 40): GenerationRequest => ({
  promptIds: fixture.promptIds,
  sampling: GREEDY,
  seed: new Uint8Array(32),
  maxTokens,
  stop: [],
})

/**
 * float16 noise, measured on these fixtures: logits differ from the fp32 reference's by up to
 * 3.4e-2 (teacher-forced, 48 positions), and the fp16 model's own KV-cache steps from its
 * teacher-forced pass by up to 7.8e-3. The default epsilon (1e-4) is for float32 arithmetic.
 */
const HALF: ReplayEpsilon = { logit: 0.05, draw: 0.05 }

let engine: Engine
const ids = new Map<string, string>()
const outputs = new Map<string, number[]>()

before(async () => {
  engine = await Engine.start({ models: [REFERENCE, ...VARIANTS].map(dirOf), maxActive: 4, maxQueue: 8 })
  for (const m of engine.models()) ids.set(m.name, m.id)
  for (const name of [REFERENCE, ...VARIANTS]) {
    const r = await engine.generate(ids.get(name)!, greedy(), () => {})
    outputs.set(name, r.tokens)
  }
})

after(() => engine.stop())

test('every export kind loads and generates', () => {
  assert.deepEqual([...ids.keys()].sort(), [REFERENCE, ...VARIANTS].sort())
  for (const [name, tokens] of outputs) assert.equal(tokens.length, 40, name)
  // Not a constant: a broken cache or a misread float16 logit row tends to repeat one id.
  assert.ok(new Set(outputs.get(REFERENCE)).size > 5)
})

test('ONNX external data: model.onnx_data is read, pinned by the manifest, and its weights used', async () => {
  const model = await TextModel.load(dirOf(REFERENCE))
  assert.ok(model.manifest.files['model.onnx_data'] !== undefined)
  assert.deepEqual(externalDataLocations(readFileSync(join(dirOf(REFERENCE), 'model.onnx'))), [
    'model.onnx_data',
  ])
  // The weights live in model.onnx_data only: the same tokens as the inline q4 form of the same
  // weights (below) show that they were read.
  const v = await engine.replay(ids.get(REFERENCE)!, { ...greedy(), tokens: outputs.get(REFERENCE)! })
  assert.equal(v.ok, true, JSON.stringify(v))
})

test('MatMulNBits (4-bit) gives the fp32 tokens: its weights are the reference weights', async () => {
  assert.deepEqual(outputs.get('llama-tiny-q4'), outputs.get(REFERENCE))
  const v = await engine.replay(ids.get(REFERENCE)!, { ...greedy(), tokens: outputs.get('llama-tiny-q4')! })
  assert.equal(v.ok, true, JSON.stringify(v))
})

test('merged decoder: use_cache_branch is fed, and both branches agree with the plain decoder', async () => {
  const model = await TextModel.load(dirOf('llama-tiny-merged'))
  const decoder = await OrtDecoder.open(model.dir, model.spec)
  try {
    assert.equal(decoder.io.cacheBranch, true)
  } finally {
    await decoder.close()
  }
  // Generation takes the with-past branch after the first step; a replay's teacher-forced pass
  // takes the no-past one. Its else-branch ignores the past: feeding it on a later step would
  // lose the context and change the tokens.
  assert.deepEqual(outputs.get('llama-tiny-merged'), outputs.get('llama-tiny-q4'))
  const v = await engine.replay(ids.get('llama-tiny-merged')!, {
    ...greedy(),
    tokens: outputs.get('llama-tiny-merged')!,
  })
  assert.equal(v.ok, true, JSON.stringify(v))
})

test('float16 cache and logits: the fp32 tokens up to half-precision noise', async () => {
  const model = await TextModel.load(dirOf('llama-tiny-fp16'))
  const decoder = await OrtDecoder.open(model.dir, model.spec)
  try {
    assert.equal(decoder.io.kv, 'float16')
    assert.equal(decoder.io.logits, 'float16')
  } finally {
    await decoder.close()
  }
  const tokens = outputs.get('llama-tiny-fp16')!
  // The fp32 model accepts them as its own within float16's noise, and so does the fp16 model.
  const v = await engine.replay(ids.get(REFERENCE)!, { ...greedy(), tokens }, HALF)
  assert.equal(v.ok, true, JSON.stringify(v))
  const self = await engine.replay(ids.get('llama-tiny-fp16')!, { ...greedy(), tokens }, HALF)
  assert.equal(self.ok, true, JSON.stringify(self))
  // Not a vacuous tolerance: another model's tokens still fail.
  const other = await engine.replay(
    ids.get(REFERENCE)!,
    { ...greedy(), tokens: tokens.map((t) => (t + 1) % 2048) },
    HALF,
  )
  assert.equal(other.ok, false)
})

/** Copy a fixture to a temporary folder, apply `edit`, and rewrite the manifest's hashes. */
function variantCopy(
  name: string,
  edit: (dir: string, manifest: { files: Record<string, string> }) => void,
): { dir: string; cleanup: () => void } {
  const tmp = tempDir()
  const dir = join(tmp.path, name)
  cpSync(dirOf(name), dir, { recursive: true })
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
    files: Record<string, string>
  }
  edit(dir, manifest)
  for (const f of Object.keys(manifest.files)) manifest.files[f] = sha256Hex(readFileSync(join(dir, f)))
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest))
  return { dir, cleanup: tmp.cleanup }
}

const refusedWith = (code: string, pattern: RegExp) => (e: unknown) =>
  e instanceof EngineError && e.code === code && pattern.test(e.message)

test('weights in an external file the manifest does not list are refused (pinning)', async () => {
  const unlisted = variantCopy(REFERENCE, (_dir, m) => delete m.files['model.onnx_data'])
  try {
    await assert.rejects(
      TextModel.load(unlisted.dir),
      refusedWith('MODEL_INVALID', /keeps tensors in model\.onnx_data, which manifest\.json does not list/),
    )
  } finally {
    unlisted.cleanup()
  }
  // Listed, then changed: a hash mismatch naming the file.
  const tmp = tempDir()
  try {
    const dir = join(tmp.path, 'x')
    cpSync(dirOf(REFERENCE), dir, { recursive: true })
    const data = readFileSync(join(dir, 'model.onnx_data'))
    data[100] = data[100]! ^ 0x01
    writeFileSync(join(dir, 'model.onnx_data'), data)
    await assert.rejects(TextModel.load(dir), refusedWith('MODEL_HASH_MISMATCH', /model\.onnx_data/))
  } finally {
    tmp.cleanup()
  }
  // A location outside the folder, even one the manifest could not name.
  const escaping = variantCopy(REFERENCE, (dir) => {
    const m = onnx.ModelProto.decode(readFileSync(join(dir, 'model.onnx')))
    for (const t of m.graph!.initializer!)
      for (const e of t.externalData ?? []) if (e.key === 'location') e.value = '../model.onnx_data'
    writeFileSync(join(dir, 'model.onnx'), onnx.ModelProto.encode(m).finish())
  })
  try {
    await assert.rejects(
      TextModel.load(escaping.dir),
      refusedWith(
        'MODEL_INVALID',
        /"\.\.\/model\.onnx_data": external data must be a file beside model\.onnx/,
      ),
    )
  } finally {
    escaping.cleanup()
  }
})

test('an export onnxruntime cannot run is refused at load, saying what is unsupported', async () => {
  // A 3-bit MatMulNBits: onnxruntime's CPU kernel has 2, 4 and 8 bits.
  const bits3 = variantCopy('llama-tiny-q4', (dir) => {
    const m = onnx.ModelProto.decode(readFileSync(join(dir, 'model.onnx')))
    for (const n of m.graph!.node!)
      for (const a of n.attribute ?? []) if (n.opType === 'MatMulNBits' && a.name === 'bits') a.i = 3
    writeFileSync(join(dir, 'model.onnx'), onnx.ModelProto.encode(m).finish())
  })
  // An operator of a domain onnxruntime does not know.
  const domain = variantCopy('llama-tiny-q4', (dir) => {
    const m = onnx.ModelProto.decode(readFileSync(join(dir, 'model.onnx')))
    for (const n of m.graph!.node!) if (n.opType === 'MatMulNBits') n.domain = 'com.example'
    m.opsetImport!.push(onnx.OperatorSetIdProto.create({ domain: 'com.example', version: 1 }))
    writeFileSync(join(dir, 'model.onnx'), onnx.ModelProto.encode(m).finish())
  })
  try {
    await assert.rejects(
      Engine.start({ models: [bits3.dir], maxActive: 1, maxQueue: 1 }),
      refusedWith(
        'MODEL_INVALID',
        /onnxruntime cannot load it: .*Only 2b, 4b and 8b quantization is supported for MatMulNBits/,
      ),
    )
    await assert.rejects(
      Engine.start({ models: [domain.dir], maxActive: 1, maxQueue: 1 }),
      refusedWith(
        'MODEL_INVALID',
        /onnxruntime cannot load it: .*com\.example:MatMulNBits\(-1\) is not a registered function\/op/,
      ),
    )
  } finally {
    bits3.cleanup()
    domain.cleanup()
  }
})
