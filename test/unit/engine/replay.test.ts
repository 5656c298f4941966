import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import {
  Engine,
  GREEDY,
  Sampler,
  replayRule,
  type GenerationRequest,
  type ReplayContext,
  type ReplayEpsilon,
  type ReplayVerdict,
  type SamplingParams,
  type TextModel,
} from '../../../src/engine/index.js'
import { ROOT } from '../../helpers/cli.js'

// The replay rule against the real engine (kjv-small, with kjv-tiny as the cheaper substitute: the
// same tokenizer), then on hand-built logits where the near-tie cases can be set exactly.

const seed = (n: number): Uint8Array => new Uint8Array(32).fill(n)
const EPS: ReplayEpsilon = { logit: 1e-4, draw: 1e-4 }

const SETTINGS: Array<{ name: string; sampling: SamplingParams; stop: string[] }> = [
  { name: 'greedy', sampling: GREEDY, stop: [] },
  { name: 'greedy, repetition 1.3, stop ";"', sampling: { ...GREEDY, repetitionPenalty: 1.3 }, stop: [';'] },
  { name: 't 0.8, top-k 40', sampling: { ...GREEDY, temperature: 0.8, topK: 40 }, stop: [] },
  {
    name: 't 1, top-p 0.9, repetition 1.2, stop "LORD"/","',
    sampling: { ...GREEDY, temperature: 1, topP: 0.9, repetitionPenalty: 1.2 },
    stop: ['LORD', ','],
  },
  {
    name: 't 0.6, frequency 0.5, presence 0.4, top-p 0.95, top-k 100',
    sampling: {
      ...GREEDY,
      temperature: 0.6,
      topP: 0.95,
      topK: 100,
      frequencyPenalty: 0.5,
      presencePenalty: 0.4,
    },
    stop: ['.'],
  },
  { name: 't 1.5 (flat)', sampling: { ...GREEDY, temperature: 1.5 }, stop: [] },
]
const PROMPTS = [
  'And the LORD said unto Moses,',
  'In the beginning God created the heaven and the earth. And the earth was without form',
  'Blessed are',
]

let one: Engine
let two: Engine
let small: TextModel
let tiny: TextModel

before(async () => {
  const models = [join(ROOT, 'models', 'kjv-small'), join(ROOT, 'models', 'kjv-tiny')]
  const opts = { models, maxActive: 2, maxQueue: 16, spinning: false }
  ;[one, two] = await Promise.all([
    Engine.start({ ...opts, threads: 1 }),
    Engine.start({ ...opts, threads: 2 }),
  ])
  small = one.model('kjv-small')!
  tiny = one.model('kjv-tiny')!
})
after(async () => {
  await Promise.all([one?.stop(), two?.stop()])
})

const request = (prompt: string, sampling: SamplingParams, stop: string[], k: number): GenerationRequest => ({
  promptIds: small.encode(prompt),
  sampling,
  seed: seed(k),
  maxTokens: 48,
  stop,
})

const failed = (v: ReplayVerdict): Extract<ReplayVerdict, { ok: false }> => {
  assert.equal(v.ok, false, 'the replay should fail')
  return v as Extract<ReplayVerdict, { ok: false }>
}

test('honest outputs pass, generated and replayed on 1 and 2 threads', async () => {
  let k = 0
  let sampledStops = 0
  for (const s of SETTINGS) {
    for (const prompt of PROMPTS) {
      const req = request(prompt, s.sampling, s.stop, ++k)
      for (const gen of [one, two]) {
        const r = await gen.generate(small.id, req, () => {})
        if (s.stop.length > 0 && r.finishReason === 'stop') sampledStops++
        for (const rep of [one, two]) {
          const v = await rep.replay(small.id, { ...req, tokens: r.tokens }, EPS)
          assert.ok(v.ok, `${s.name} / ${prompt}: ${JSON.stringify(v)}`)
          assert.equal(v.positions, r.tokens.length)
          assert.equal(v.mode, s.sampling.temperature === 0 ? 'greedy' : 'sampled')
        }
      }
    }
  }
  // The stop-string path was exercised, not only max_tokens.
  assert.ok(sampledStops > 0)
})

test('one changed token is caught at its position, with the pick and the token', async () => {
  for (const s of [SETTINGS[0]!, SETTINGS[3]!]) {
    const req = { ...request(PROMPTS[1]!, s.sampling, [], 7), maxTokens: 24 }
    const r = await one.generate(small.id, req, () => {})
    assert.equal(r.tokens.length, 24)
    const at = 10
    const tokens = [...r.tokens]
    tokens[at] = (tokens[at]! + 1) % 2000
    const v = failed(await two.replay(small.id, { ...req, tokens }, EPS))
    assert.deepEqual([v.reason, v.position, v.expected, v.actual], ['token', at, r.tokens[at], tokens[at]])
    assert.ok(v.margin > EPS.logit)
  }
})

test('a truncated output is caught at its end; an output that runs on is too', async () => {
  const req = { ...request(PROMPTS[0]!, SETTINGS[2]!.sampling, [], 3), maxTokens: 20 }
  const r = await one.generate(small.id, req, () => {})
  assert.equal(r.finishReason, 'length')
  const half = failed(await one.replay(small.id, { ...req, tokens: r.tokens.slice(0, 10) }, EPS))
  assert.deepEqual([half.reason, half.position, half.expected, half.actual], ['end', 10, r.tokens[10], -1])
  const longer = failed(await one.replay(small.id, { ...req, maxTokens: 19, tokens: r.tokens }, EPS))
  assert.deepEqual([longer.reason, longer.position, longer.expected], ['end', 19, -1])
})

test('kjv-tiny served in place of kjv-small is caught, greedy or sampled', async () => {
  for (const s of [SETTINGS[0]!, SETTINGS[2]!]) {
    const req = request(PROMPTS[0]!, s.sampling, [], 11)
    const r = await one.generate(tiny.id, req, () => {})
    const v = failed(await two.replay(small.id, { ...req, tokens: r.tokens }, EPS))
    assert.equal(v.reason, 'token')
  }
})

test('greedy decoding when sampling was asked is caught', async () => {
  const req = request(PROMPTS[1]!, SETTINGS[3]!.sampling, [], 5)
  const r = await one.generate(small.id, { ...req, sampling: GREEDY }, () => {})
  assert.equal(failed(await one.replay(small.id, { ...req, tokens: r.tokens }, EPS)).reason, 'token')
})

test('replays are jobs: BUSY past the queue, like generations', async () => {
  const busy = await Engine.start({ models: [join(ROOT, 'models', 'kjv-tiny')], maxActive: 1, maxQueue: 1 })
  try {
    const id = busy.models()[0]!.id
    const req = { promptIds: [5, 6, 7], sampling: GREEDY, seed: seed(0), maxTokens: 8, stop: [], tokens: [1] }
    const a = busy.replay(id, req)
    const b = busy.replay(id, req)
    await assert.rejects(busy.replay(id, req), /busy/)
    assert.equal((await a).ok, false)
    assert.equal((await b).ok, false)
  } finally {
    await busy.stop()
  }
})

// ---- the pure rule on hand-built logits ----

// Vocabulary: 0 'a', 1 'b', 2 'c', 3 '.', 4 end-of-sequence.
const ctx: ReplayContext = {
  vocab: 5,
  eos: [4],
  contextLength: 64,
  decode: (ids) => ids.map((i) => 'abc.'[i] ?? '').join(''),
}
const rows = (...r: number[][]): Float32Array => Float32Array.from(r.flat())
const pure = (
  sampling: SamplingParams,
  tokens: number[],
  logits: Float32Array,
  eps = EPS,
  k = 0,
  stop: string[] = [],
) =>
  replayRule(
    ctx,
    { promptIds: [0], sampling, seed: seed(k), maxTokens: tokens.length, stop, tokens },
    logits,
    eps,
  )

test('greedy: an exact tie goes to the lower id; near-ties pass within epsilon only', () => {
  const tie = rows([0, 2, 2, 0, 0])
  assert.deepEqual(pure(GREEDY, [1], tie), {
    ok: true,
    mode: 'greedy',
    positions: 1,
    nearTies: 0,
    minMargin: 0,
  })
  assert.equal(failed(pure(GREEDY, [2], tie, { logit: 0, draw: 0 })).expected, 1)
  assert.equal((pure(GREEDY, [2], tie) as { nearTies: number }).nearTies, 1)
  assert.equal(pure(GREEDY, [2], rows([0, 2, 2 - 5e-5, 0, 0])).ok, true)
  const beyond = failed(pure(GREEDY, [2], rows([0, 2, 1.999, 0, 0])))
  assert.deepEqual([beyond.reason, beyond.position, beyond.expected, beyond.actual], ['token', 0, 1, 2])
  assert.ok(Math.abs(beyond.margin - 1e-3) < 1e-6)
})

test('sampled: a draw within epsilon of the boundary passes, one beyond fails', () => {
  const sampling = { ...GREEDY, temperature: 1 }
  const word = (k: number): number => new Sampler(sampling, seed(k), [0]).nextWord() / 4294967296
  // A seed whose first draw u is above one half, so that token 0 (p0 > u) sorts first.
  const k = [...Array(64).keys()].find((i) => word(i) > 0.55 && word(i) < 0.95)!
  const u = word(k)
  // Two tokens; token 0 holds [0, p0), so the draw picks 0 when p0 > u.
  const two = (p0: number): Float32Array =>
    rows([Math.log(p0), Math.log(1 - p0), -Infinity, -Infinity, -Infinity])
  assert.equal(pure(sampling, [0], two(u + 5e-5), EPS, k).ok, true)
  const near = pure(sampling, [1], two(u + 5e-5), EPS, k)
  assert.equal(near.ok && near.nearTies, 1)
  assert.equal(pure(sampling, [1], two(u + 5e-5), { logit: 1e-4, draw: 0 }, k).ok, false)
  const far = failed(pure(sampling, [1], two(u + 1e-2), EPS, k))
  assert.deepEqual([far.expected, far.actual], [0, 1])
  assert.ok(Math.abs(far.margin - 1e-2) < 1e-5)
})

test('sampled: a token within epsilon below the top-k cut may take the last place, no other', () => {
  const sampling = { ...GREEDY, temperature: 1, topK: 2 }
  const logits = rows([3, 2, 2 - 5e-5, -10, -10])
  const first = (k: number): number => new Sampler(sampling, seed(k), [0]).next(logits)
  const lands1 = [...Array(64).keys()].find((k) => first(k) === 1)!
  const lands0 = [...Array(64).keys()].find((k) => first(k) === 0)!
  assert.equal(pure(sampling, [2], logits, EPS, lands1).ok, true)
  assert.equal(failed(pure(sampling, [2], logits, { logit: 0, draw: 1e-4 }, lands1)).expected, 1)
  assert.equal(failed(pure(sampling, [2], logits, EPS, lands0)).expected, 0)
  assert.equal(failed(pure(sampling, [3], logits, EPS, lands1)).margin, Infinity)
})

test('ends: an end-of-sequence or a stop string ends the output; tokens after either are caught', () => {
  const r = (...winners: number[]): Float32Array =>
    rows(...winners.map((w) => [0, 1, 2, 3, 4].map((t) => (t === w ? 5 : 0))))
  const stop = (tokens: number[], logits: Float32Array, stops: string[]) =>
    replayRule(
      ctx,
      { promptIds: [0], sampling: GREEDY, seed: seed(0), maxTokens: 9, stop: stops, tokens },
      logits,
      EPS,
    )
  assert.equal(stop([0, 1, 4], r(0, 1, 4), []).ok, true)
  assert.deepEqual(failed(stop([0, 4, 1], r(0, 4, 1), [])), {
    ok: false,
    reason: 'end',
    position: 2,
    expected: -1,
    actual: 1,
    margin: Infinity,
  })
  assert.equal(stop([0, 3], r(0, 3), ['.']).ok, true)
  assert.equal(failed(stop([0, 3, 1], r(0, 3, 1), ['.'])).position, 2)
  // Truncated: neither an end token, nor a stop string, nor max_tokens: the pick at 2 is wanted.
  assert.deepEqual(
    [failed(stop([0, 1], r(0, 1, 2), ['.'])).position, failed(stop([0, 1], r(0, 1, 2), ['.'])).expected],
    [2, 2],
  )
  // An id outside the vocabulary is a wrong token, never a crash.
  assert.equal(failed(stop([0, 99], r(0, 1), [])).reason, 'token')
})
