import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Sampler, GREEDY, argmax, EngineError, type SamplingParams } from '../../../src/engine/index.js'

const seed = (n: number): Uint8Array => new Uint8Array(32).fill(n)
const logits = Float32Array.from([1, 3, 2, 3, 0.5])
const sampled: SamplingParams = { ...GREEDY, temperature: 1 }

test('greedy picks the largest logit, the lowest id on ties, and needs no seed stream', () => {
  assert.equal(argmax(logits), 1)
  const s = new Sampler(GREEDY, seed(0), [])
  assert.equal(s.next(logits), 1)
})

test('sampling is a pure function of the seed: same seed, same tokens; another seed, other tokens', () => {
  const run = (k: number): number[] => {
    const s = new Sampler(sampled, seed(k), [])
    return Array.from({ length: 64 }, () => s.next(logits))
  }
  assert.deepEqual(run(1), run(1))
  assert.notDeepEqual(run(1), run(2))
})

test('draws follow the softmax of logits over temperature', () => {
  const s = new Sampler({ ...GREEDY, temperature: 0.7 }, seed(3), [])
  const counts = new Array<number>(logits.length).fill(0)
  const N = 20_000
  for (let i = 0; i < N; i++) counts[s.next(logits)]!++
  const w = Array.from(logits, (x) => Math.exp(x / 0.7))
  const total = w.reduce((a, b) => a + b, 0)
  w.forEach((x, i) => {
    const p = x / total
    const sd = Math.sqrt(N * p * (1 - p))
    assert.ok(Math.abs(counts[i]! - N * p) < 5 * sd + 1, `token ${i}: ${counts[i]} vs ${N * p}`)
  })
})

test('top_k 1 and a tiny top_p are greedy; top_k 2 never leaves the two best', () => {
  const k1 = new Sampler({ ...sampled, topK: 1 }, seed(4), [])
  const p0 = new Sampler({ ...sampled, topP: 1e-9 }, seed(4), [])
  const k2 = new Sampler({ ...sampled, topK: 2 }, seed(4), [])
  for (let i = 0; i < 200; i++) {
    assert.equal(k1.next(logits), 1)
    assert.equal(p0.next(logits), 1)
    assert.ok([1, 3].includes(k2.next(logits)))
  }
})

test('penalties push seen tokens down: repetition (prompt included), frequency and presence', () => {
  // Token 1 is in the prompt: a repetition penalty of 2 halves its logit (3 → 1.5), so 3 wins.
  assert.equal(new Sampler({ ...GREEDY, repetitionPenalty: 2 }, seed(0), [1]).next(logits), 3)
  // Frequency: after choosing 1 once, 1 loses 2 and 3 wins; then 3 loses 2 and 2 wins.
  const f = new Sampler({ ...GREEDY, frequencyPenalty: 2 }, seed(0), [])
  assert.deepEqual([f.next(logits), f.next(logits), f.next(logits)], [1, 3, 2])
  const p = new Sampler({ ...GREEDY, presencePenalty: 1.5 }, seed(0), [])
  assert.deepEqual([p.next(logits), p.next(logits)], [1, 3])
})

test('out-of-range parameters and a short seed are refused with BAD_PARAMS', () => {
  const bad: Array<Partial<SamplingParams>> = [
    { temperature: -1 },
    { temperature: 3 },
    { topP: 0 },
    { topK: 1.5 },
    { repetitionPenalty: 0.5 },
    { frequencyPenalty: 3 },
    { presencePenalty: -3 },
  ]
  for (const b of bad) {
    assert.throws(
      () => new Sampler({ ...sampled, ...b }, seed(0), []),
      (e: unknown) => e instanceof EngineError && e.code === 'BAD_PARAMS',
      JSON.stringify(b),
    )
  }
  assert.throws(() => new Sampler(sampled, new Uint8Array(8), []), /32 bytes/)
})
