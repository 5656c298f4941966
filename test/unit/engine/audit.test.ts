import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import {
  auditProducts,
  DEFAULT_REPLAY_EPSILON,
  Engine,
  GREEDY,
  type AuditVerdict,
  type GenerationRequest,
  type GenerationResult,
  type TextModel,
} from '../../../src/engine/index.js'
import {
  deriveChallenge,
  FREIVALDS_DEFAULTS,
  openTrace,
  PrimeField,
  type RowOpening,
} from '../../../src/verify/freivalds/index.js'
import { ROOT } from '../../helpers/cli.js'

// An int8 task end to end in the engine (issue 13, items 3, 4 and 6), on the real kjv-small-int8:
// the executor's generation records and commits every integer product; a verifier's challenge
// (all products, the same 16 positions in each, k = 2) is opened from the kept trace; the
// verifier's audit checks each row with Freivalds, the float glue between products, and the
// output tokens against the committed logits. An honest task passes; each cheat fails, for its
// reason.

const INT8 = join(ROOT, 'models', 'kjv-small-int8')
const FLOAT = join(ROOT, 'models', 'kjv-small')
let engine: Engine
let int8: TextModel
let float: TextModel
const field = new PrimeField(FREIVALDS_DEFAULTS.p)

before(async () => {
  engine = await Engine.start({ models: [INT8, FLOAT], maxActive: 4, maxQueue: 8 })
  int8 = engine.models().find((m) => m.name === 'kjv-small-int8')!
  float = engine.models().find((m) => m.name === 'kjv-small')!
})

after(() => engine.stop())

const request = (prompt: string, over: Partial<GenerationRequest> = {}): GenerationRequest => ({
  promptIds: int8.encode(prompt),
  sampling: GREEDY,
  seed: new Uint8Array(32).fill(3),
  maxTokens: 12,
  stop: [],
  ...over,
})

/** Commit (the executor), challenge and open (`randomness` is the verifier's), audit (the verifier). */
async function audit(
  req: GenerationRequest,
  result: GenerationResult,
  opts: { opened?: number; root?: Uint8Array } = {},
): Promise<AuditVerdict> {
  const root = opts.root ?? result.audit?.root
  const trace = result.audit
  assert.ok(trace !== undefined, 'an int8 generation asked to audit commits')
  const rows = req.promptIds.length + result.tokens.length - 1
  const products = auditProducts(int8.manifest, int8.spec.layers)!
  const shapes = products.map((p) => ({ ...p, rows }))
  assert.deepEqual(trace.shapes, shapes, 'the executor commits the shapes the verifier derives')
  const challenge = deriveChallenge(
    new Uint8Array(32).fill(1),
    root!,
    shapes,
    {
      products: shapes.length,
      rows: opts.opened ?? FREIVALDS_DEFAULTS.rows,
      rounds: FREIVALDS_DEFAULTS.rounds,
      shareRows: true,
    },
    field,
  )
  const openings: RowOpening[] = openTrace(
    trace,
    challenge.map((c) => ({ product: c.product, rows: c.rows })),
  )
  return engine.audit(int8.id, {
    root: root!,
    rows,
    p: field.p,
    challenge,
    openings,
    replay: { ...req, tokens: result.tokens },
    eps: DEFAULT_REPLAY_EPSILON,
  })
}

const failed = (v: AuditVerdict, reason: string): void => {
  assert.equal(v.ok, false, `expected a ${reason} failure, got ${JSON.stringify(v)}`)
  if (!v.ok) assert.equal(v.reason, reason, v.detail)
}

test('an honest int8 task passes its audit, greedy and sampled; the chain counts its ±1 requantizations', async (t) => {
  for (const sampling of [GREEDY, { ...GREEDY, temperature: 0.8, topP: 0.95 }]) {
    const req = request('And it came to pass,', { sampling, maxTokens: 24 })
    const r = await engine.generate(int8.id, { ...req, audit: true }, () => {})
    // The committed generation is the plain one: auditing changes no token.
    assert.deepEqual((await engine.generate(int8.id, req, () => {})).tokens, r.tokens)
    const v = await audit(req, r)
    assert.equal(v.ok, true, JSON.stringify(v))
    if (v.ok) {
      const T = req.promptIds.length + r.tokens.length - 1
      assert.equal(
        v.positions,
        Math.min(FREIVALDS_DEFAULTS.rows, T),
        'every opened position’s chain is checked',
      )
      assert.equal(v.rows, v.positions * v.products)
      assert.ok(v.tokensChecked > 0, 'output positions were among the opened ones')
      t.diagnostic(
        `temperature ${sampling.temperature}: T = ${T}, ${v.rows} rows, ${v.tokensChecked} tokens checked, ${v.offByOne} ±1 requantizations`,
      )
    }
    // A plain model is not asked to commit, and commits nothing.
    assert.equal((await engine.generate(float.id, { ...req, audit: true }, () => {})).audit, undefined)
  }
})

test('a corrupted product is caught by Freivalds’ check; openings under another root are refused', async () => {
  const req = request('In the beginning')
  failed(
    await audit(
      req,
      await engine.generate(int8.id, { ...req, audit: true, auditCheat: 'corruptProduct' }, () => {}),
    ),
    'product',
  )
  // Honest rows, but the receipt's root is another task's.
  const a = await engine.generate(int8.id, { ...req, audit: true }, () => {})
  const b = await engine.generate(int8.id, { ...request('And God said,'), audit: true }, () => {})
  failed(await audit(req, a, { root: b.audit!.root }), 'product')
})

test('a block fed another block’s input is caught by the chain, though each product holds', async () => {
  const req = request('Blessed is the man')
  failed(
    await audit(
      req,
      await engine.generate(int8.id, { ...req, audit: true, auditCheat: 'skipLayer' }, () => {}),
    ),
    'chain',
  )
})

test('wrong tokens, or the float model’s tokens, over honestly committed products are caught by the committed logits', async () => {
  const req = request('And the LORD spake unto Moses, saying,')
  failed(
    await audit(req, await engine.generate(int8.id, { ...req, audit: true, wrongTokenRate: 0.5 }, () => {})),
    'token',
  )
  // The float model's greedy output differs from the int8 model's in the first 12 tokens of some
  // prompts (1 of 25 prompts tried: "And when", at its 7th token): find them, then commit the int8
  // model's products over the float model's tokens, as a host that ran the float model would.
  const prompts = [
    'In the beginning',
    'And God said,',
    'And when',
    'Now the serpent was',
    'Blessed is the man',
  ]
  let found = false
  for (const prompt of prompts) {
    const r = request(prompt)
    const f = await engine.generate(float.id, r, () => {})
    const i = await engine.generate(int8.id, r, () => {})
    if (f.tokens.join() === i.tokens.join()) continue
    found = true
    const forced = await engine.generate(int8.id, { ...r, audit: true, forceTokens: f.tokens }, () => {})
    assert.deepEqual(forced.tokens, f.tokens)
    // Every position opened: only where the two models part is the output wrong.
    failed(await audit(r, forced, { opened: 1 << 16 }), 'token')
  }
  assert.ok(found, 'some prompt’s greedy output differs between the float and the int8 model')
})

test('int8 tasks decoded together in one batch each commit their own products: honest ones pass, a cheat among them fails alone', async () => {
  const reqs = [
    request('And it came to pass,', { maxTokens: 20 }),
    request('In the beginning', { sampling: { ...GREEDY, temperature: 0.8, topP: 0.95 }, maxTokens: 16 }),
    request('And God said,', { maxTokens: 8 }),
    request('Blessed is the man', { maxTokens: 20 }),
  ]
  const results = await Promise.all(
    reqs.map((r, i) =>
      engine.generate(
        int8.id,
        { ...r, audit: true, ...(i === 3 ? { auditCheat: 'corruptProduct' as const } : {}) },
        () => {},
      ),
    ),
  )
  for (let i = 0; i < 3; i++) {
    const v = await audit(reqs[i]!, results[i]!)
    assert.equal(v.ok, true, `task ${i}: ${JSON.stringify(v)}`)
  }
  failed(await audit(reqs[3]!, results[3]!), 'product')
})
