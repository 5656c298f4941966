import { test } from 'node:test'
import assert from 'node:assert/strict'
import { cpSync, readFileSync, writeFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { Engine, EngineError, GREEDY, TextModel, type GenerationRequest } from '../../../src/engine/index.js'
import { ROOT, tempDir } from '../../helpers/cli.js'

// Real onnxruntime on the models the repository carries. The expected ids come from PyTorch
// (scripts/model/expected.py), so these tests check tokenizer, chat template, export and decoding
// loop together.

interface Expected {
  prompt: string
  promptIds: number[]
  chat: { messages: Array<{ role: string; content: string }>; text: string; promptIds: number[] }
  models: Record<string, { dir: string; greedyIds: number[]; chatGreedyIds: number[] }>
}

const fixture = JSON.parse(
  readFileSync(join(ROOT, 'test', 'fixtures', 'models', 'expected-greedy.json'), 'utf8'),
) as Expected

/** Generation stops at end-of-sequence; PyTorch's reference loop does not. */
function upToEos(ids: number[], eos: readonly number[]): number[] {
  const i = ids.findIndex((t) => eos.includes(t))
  return i === -1 ? ids : ids.slice(0, i + 1)
}

const greedy = (promptIds: number[], maxTokens = 32): GenerationRequest => ({
  promptIds,
  sampling: GREEDY,
  seed: new Uint8Array(32),
  maxTokens,
  stop: [],
})

for (const [name, expected] of Object.entries(fixture.models)) {
  test(`${name}: tokenizer, chat template and greedy tokens match PyTorch`, async () => {
    const engine = await Engine.start({ models: [join(ROOT, expected.dir)], maxActive: 2, maxQueue: 2 })
    try {
      const model = engine.models()[0]!
      assert.match(model.id, new RegExp(`^${name}@[0-9a-f]{16}$`))
      assert.deepEqual(model.encode(fixture.prompt), fixture.promptIds)
      assert.equal(model.renderChat(fixture.chat.messages), fixture.chat.text)
      assert.deepEqual(model.encode(fixture.chat.text), fixture.chat.promptIds)
      const eos = model.spec.eos
      const plain = await engine.generate(model.id, greedy(fixture.promptIds), () => {})
      assert.deepEqual(plain.tokens, upToEos(expected.greedyIds, eos))
      const chat = await engine.generate(model.id, greedy(fixture.chat.promptIds), () => {})
      assert.deepEqual(chat.tokens, upToEos(expected.chatGreedyIds, eos))
    } finally {
      await engine.stop()
    }
  })
}

test('kjv-small writes English in the style of its corpus', async () => {
  const engine = await Engine.start({
    models: [join(ROOT, 'models', 'kjv-small')],
    maxActive: 1,
    maxQueue: 1,
  })
  try {
    const model = engine.models()[0]!
    const r = await engine.generate(
      model.id,
      greedy(model.encode('And the LORD said unto Moses,'), 40),
      () => {},
    )
    const words = r.text.toLowerCase().match(/[a-z]+/g) ?? []
    // Mostly the words of the King James Bible, not random tokens.
    const common = new Set([
      'the',
      'and',
      'of',
      'unto',
      'lord',
      'thou',
      'thy',
      'shall',
      'i',
      'that',
      'to',
      'in',
      'he',
      'his',
      'him',
      'is',
      'be',
      'a',
      'ye',
      'my',
      'me',
      'for',
      'which',
      'said',
      'them',
      'they',
      'will',
      'not',
      'with',
      'all',
      'hath',
      'god',
      'it',
      'israel',
      'this',
      'was',
      'moses',
      'children',
      'thee',
      'from',
      'upon',
      'out',
      'say',
      'go',
      'land',
      'house',
      'people',
      'king',
      'man',
      'are',
      'come',
      'saying',
      'speak',
      'son',
      'by',
      'have',
    ])
    assert.ok(words.length >= 15, r.text)
    const known = words.filter((w) => common.has(w)).length
    assert.ok(known / words.length > 0.4, `${known} of ${words.length} common words: ${r.text}`)
  } finally {
    await engine.stop()
  }
})

test('seeded sampling is replayable, also when requests run concurrently', async () => {
  const engine = await Engine.start({ models: [join(ROOT, 'models', 'kjv-tiny')], maxActive: 4, maxQueue: 8 })
  try {
    const model = engine.models()[0]!
    const req = (k: number): GenerationRequest => ({
      promptIds: model.encode('In the beginning'),
      sampling: { ...GREEDY, temperature: 0.9, topK: 50, repetitionPenalty: 1.1 },
      seed: new Uint8Array(32).fill(k),
      maxTokens: 24,
      stop: [],
    })
    const one = await Promise.all(
      [1, 2, 3, 4].map(async (k) => (await engine.generate(model.id, req(k), () => {})).tokens),
    )
    for (const [i, k] of [1, 2, 3, 4].entries()) {
      assert.deepEqual((await engine.generate(model.id, req(k), () => {})).tokens, one[i])
    }
    assert.notDeepEqual(one[0], one[1], 'another seed, another output')
  } finally {
    await engine.stop()
  }
})

test('the queue is bounded and a cancelled request stops', async () => {
  const engine = await Engine.start({ models: [join(ROOT, 'models', 'kjv-tiny')], maxActive: 1, maxQueue: 1 })
  try {
    const model = engine.models()[0]!
    const long = { ...greedy(model.encode('And'), 200), sampling: { ...GREEDY, temperature: 1 } }
    const ac = new AbortController()
    const running = engine.generate(model.id, long, () => ac.abort(), ac.signal)
    const waiting = engine.generate(model.id, greedy(model.encode('And'), 4), () => {})
    await assert.rejects(
      engine.generate(model.id, greedy(model.encode('And'), 4), () => {}),
      (e: unknown) => e instanceof EngineError && e.code === 'BUSY',
    )
    await assert.rejects(running, (e: unknown) => e instanceof EngineError && e.code === 'CANCELLED')
    assert.equal((await waiting).completionTokens > 0, true)
    assert.equal(engine.busy, false)
  } finally {
    await engine.stop()
  }
})

test('a model folder whose files differ from its manifest is refused (model pinning)', async () => {
  const dir = tempDir()
  try {
    const copy = join(dir.path, 'kjv-tiny')
    cpSync(join(ROOT, 'models', 'kjv-tiny'), copy, { recursive: true })
    const original = readFileSync(join(copy, 'model.onnx'))
    const onnx = Buffer.from(original)
    onnx[onnx.length - 10] = onnx[onnx.length - 10]! ^ 0xff
    writeFileSync(join(copy, 'model.onnx'), onnx)
    await assert.rejects(
      Engine.start({ models: [copy], maxActive: 1, maxQueue: 1 }),
      (e: unknown) =>
        e instanceof EngineError && e.code === 'MODEL_HASH_MISMATCH' && /model\.onnx/.test(e.message),
    )
    // A file the manifest lists is missing.
    writeFileSync(join(copy, 'model.onnx'), original)
    rmSync(join(copy, 'tokenizer.json'))
    await assert.rejects(
      TextModel.load(copy),
      (e: unknown) => e instanceof EngineError && e.code === 'MODEL_INVALID',
    )
  } finally {
    dir.cleanup()
  }
})
