import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  generate,
  GREEDY,
  EngineError,
  type LoopModel,
  type GenerationChunk,
} from '../../../src/engine/index.js'

// A scripted model (pure logic only): it emits `script` in order, one token per step, and decodes
// ids through `vocab`. Id 0 is end-of-sequence.
function scripted(script: number[], vocab: string[], contextLength = 64): LoopModel & { steps: number } {
  const m = {
    steps: 0,
    eos: [0],
    contextLength,
    // Ids 6 and 7 are the two bytes of 'é': together they decode to it, alone 6 is U+FFFD.
    decode: (ids: readonly number[]) =>
      ids
        .map((i) => vocab[i] ?? '')
        .join('')
        .replaceAll('\u0001\u0002', 'é')
        .replaceAll('\u0001', '\uFFFD'),
    emptyCache: () => ({ past: {}, length: 0 }),
    step: async (cache: { length: number }, tokens: readonly number[]) => {
      const next = script[m.steps++] ?? 0
      const logits = new Float32Array(vocab.length)
      logits[next] = 10
      return { logits, cache: { past: {}, length: cache.length + tokens.length } }
    },
  }
  return m
}

const vocab = ['<eos>', 'Hello', ' world', '!', ' STOP', ' and', '\u0001', '\u0002']
const req = (over: Partial<Parameters<typeof generate>[1]> = {}): Parameters<typeof generate>[1] => ({
  promptIds: [1],
  sampling: GREEDY,
  seed: new Uint8Array(32),
  maxTokens: 16,
  stop: [],
  ...over,
})

test('generation streams chunks until end of sequence; the text is their concatenation', async () => {
  const chunks: GenerationChunk[] = []
  const r = await generate(scripted([1, 2, 3, 0], vocab), req(), (c) => chunks.push(c))
  assert.equal(r.text, 'Hello world!')
  assert.equal(r.finishReason, 'stop')
  assert.deepEqual(r.tokens, [1, 2, 3, 0])
  assert.equal(r.completionTokens, 4)
  assert.equal(chunks.map((c) => c.text).join(''), r.text)
  assert.deepEqual(
    chunks.flatMap((c) => c.tokens),
    r.tokens,
  )
})

test('max_tokens ends with finish reason length', async () => {
  const r = await generate(scripted([1, 5, 5, 5, 5, 5], vocab), req({ maxTokens: 3 }), () => {})
  assert.equal(r.finishReason, 'length')
  assert.equal(r.text, 'Hello and and')
})

test('a stop string ends the output, is not included, and is never streamed in part', async () => {
  const chunks: string[] = []
  const r = await generate(scripted([1, 2, 4, 5, 5], vocab), req({ stop: [' STOP'] }), (c) =>
    chunks.push(c.text),
  )
  assert.equal(r.text, 'Hello world')
  assert.equal(r.finishReason, 'stop')
  assert.equal(chunks.join(''), 'Hello world')
  assert.ok(!chunks.join('').includes('STOP'))
})

test('the context limit ends generation before a position past it is fed', async () => {
  const m = scripted([5, 5, 5, 5, 5, 5, 5, 5], vocab, 4)
  const r = await generate(m, req({ promptIds: [1, 1] }), () => {})
  // Prompt and output together stay within 4 positions: 2 + 2.
  assert.equal(r.finishReason, 'length')
  assert.equal(r.completionTokens, 2)
})

test('a prompt that leaves no room, an empty prompt and bad stop lists are refused', async () => {
  const reject = (p: Promise<unknown>, code: string): Promise<void> =>
    assert.rejects(p, (e: unknown) => e instanceof EngineError && e.code === code)
  await reject(
    generate(scripted([], vocab, 4), req({ promptIds: [1, 1, 1, 1] }), () => {}),
    'CONTEXT_OVERFLOW',
  )
  await reject(
    generate(scripted([], vocab), req({ promptIds: [] }), () => {}),
    'BAD_PARAMS',
  )
  await reject(
    generate(scripted([], vocab), req({ stop: [''] }), () => {}),
    'BAD_PARAMS',
  )
  await reject(
    generate(scripted([], vocab), req({ stop: ['a', 'b', 'c', 'd', 'e'] }), () => {}),
    'BAD_PARAMS',
  )
})

test('cancellation stops at the next step', async () => {
  const ac = new AbortController()
  const m = scripted(Array(50).fill(5), vocab)
  await assert.rejects(
    generate(m, req({ maxTokens: 50 }), () => ac.abort(), ac.signal),
    (e: unknown) => e instanceof EngineError && e.code === 'CANCELLED',
  )
  assert.ok(m.steps < 5)
})

test('a partial character is held back until it completes', async () => {
  // Token 6 alone is an incomplete UTF-8 sequence (U+FFFD): nothing is streamed until 7 completes it.
  const chunks: GenerationChunk[] = []
  const r = await generate(scripted([1, 6, 7, 0], vocab), req(), (c) => chunks.push(c))
  assert.deepEqual(
    chunks.slice(0, 2).map((c) => [c.text, c.tokens]),
    [
      ['Hello', [1]],
      ['é', [6, 7]],
    ],
  )
  assert.equal(r.text, 'Helloé')
})

test('the wrongTokens cheat replaces the first token always and a share of the others, leaving no output honest', async () => {
  const honest = [1, 2, 3, 5, 1, 2, 3, 5]
  const seed = (i: number): Uint8Array => new Uint8Array(32).fill(i)
  let replacedAfterFirst = 0
  for (let i = 0; i < 50; i++) {
    // One token before the end of sequence: the shortest output there is still comes back wrong.
    const short = await generate(
      scripted([1, 0], vocab),
      req({ seed: seed(i), wrongTokenRate: 0.01 }),
      () => {},
    )
    assert.notEqual(short.tokens[0], 1)
    const long = await generate(
      scripted(honest, vocab),
      req({ seed: seed(i), maxTokens: 8, wrongTokenRate: 0.5 }),
      () => {},
    )
    assert.notEqual(long.tokens[0], honest[0])
    // The scripted model's next token does not depend on what was fed, so the rest line up.
    replacedAfterFirst += long.tokens.slice(1).filter((t, j) => t !== honest[j + 1]).length
  }
  // 350 positions after the first at rate 0.5: far from none and far from all.
  assert.ok(replacedAfterFirst > 100 && replacedAfterFirst < 250, `${replacedAfterFirst} of 350 replaced`)
  const clean = await generate(scripted(honest, vocab), req({ maxTokens: 8 }), () => {})
  assert.deepEqual(clean.tokens, honest, 'no cheat: the honest tokens')
})
