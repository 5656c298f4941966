import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import {
  EngineError,
  MAX_CHAT_MESSAGES,
  TextModel,
  TokenizerPool,
  maxCharsPerToken,
} from '../../../src/engine/index.js'
import { ROOT } from '../../helpers/cli.js'

// The per-model prompt bound (refuse before tokenizing) and the tokenizer worker (tokenize off
// the event loop, within per-caller budgets), on the tokenizers the repository carries.

let kjv: TextModel
let llama: TextModel
let pool: TokenizerPool

before(async () => {
  kjv = await TextModel.load(join(ROOT, 'models', 'kjv-small'))
  llama = await TextModel.load(join(ROOT, 'test', 'fixtures', 'models', 'llama-tiny'))
  // Every prompt goes to the worker here; the inline path has its own pools below.
  pool = await TokenizerPool.start([kjv, llama], { maxQueue: 6, maxPerKey: 3, inlineMaxChars: 0 })
})

after(async () => {
  await pool?.stop()
})

const expectCode = (code: string) => (err: unknown) => err instanceof EngineError && err.code === code

/** Deterministic text of `n` characters drawn from ASCII, CJK, emoji, special tokens and whitespace runs. */
function mixedText(seed: number, n: number): string {
  const pieces = [
    'a',
    'the ',
    'LORD',
    ' ',
    '   ',
    '\n',
    '中',
    '文字',
    '😀',
    '<|endoftext|>',
    'é',
    '\u0301',
    '!?',
  ]
  let x = seed
  let s = ''
  while (s.length < n) {
    x = (x * 1103515245 + 12345) % 2 ** 31
    s += pieces[x % pieces.length]
  }
  return s
}

test('a prompt never has fewer tokens than its length over the longest token', () => {
  assert.equal(kjv.maxCharsPerToken, 14, "kjv-small's longest tokens: 'Ġrighteousness', 'Ġunderstanding'")
  assert.ok(Number.isFinite(llama.maxCharsPerToken))
  for (const model of [kjv, llama]) {
    for (let seed = 1; seed <= 40; seed++) {
      const text = mixedText(seed, 50 + seed * 37)
      assert.ok(model.encode(text).length >= model.minTokens(text), `${model.name}, seed ${seed}`)
    }
    // The longest token alone is the tightest case.
    assert.ok(model.encode('righteousness'.repeat(20)).length >= model.minTokens('righteousness'.repeat(20)))
  }
  // So a prompt of 256 Ki CJK characters cannot fit kjv-small's 256 tokens, and that is known at once.
  assert.ok(kjv.minTokens('中'.repeat(262_144)) > kjv.spec.contextLength)
  assert.equal(kjv.maxPromptChars, 255 * 14)
})

test('no bound is claimed for a tokenizer that can drop or merge characters', () => {
  const bpe = (extra: Record<string, unknown>, model: Record<string, unknown> = {}) => ({
    model: { type: 'BPE', vocab: { a: 0, abc: 1 }, byte_fallback: true, ...model },
    normalizer: null,
    pre_tokenizer: null,
    added_tokens: [{ content: '<|longest|>' }],
    ...extra,
  })
  assert.equal(maxCharsPerToken(bpe({})), '<|longest|>'.length)
  assert.equal(
    maxCharsPerToken(
      bpe({ normalizer: { type: 'Replace', pattern: { String: ' ' }, content: '▁' }, pre_tokenizer: null }),
    ),
    11,
  )
  for (const unsafe of [
    bpe({ normalizer: { type: 'Strip', strip_left: true, strip_right: true } }),
    bpe({ normalizer: { type: 'NFKC' } }),
    bpe({ normalizer: { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' } }),
    bpe({ pre_tokenizer: { type: 'Whitespace' } }),
    bpe({ pre_tokenizer: { type: 'Split', behavior: 'Removed', pattern: { String: ' ' } } }),
    bpe({}, { byte_fallback: false, unk_token: '<unk>', fuse_unk: true }),
    bpe({}, { byte_fallback: false }),
    { model: { type: 'WordPiece', vocab: { a: 0 } } },
    { model: { type: 'Unigram', vocab: [['a', 0]] } },
  ]) {
    assert.equal(maxCharsPerToken(unsafe as Record<string, unknown>), Infinity, JSON.stringify(unsafe))
  }
})

test('a chat is bounded before its template runs', () => {
  const many = Array.from({ length: MAX_CHAT_MESSAGES + 1 }, () => ({ role: 'user', content: 'hi' }))
  assert.throws(() => kjv.renderChat(many), expectCode('BAD_PARAMS'))
  assert.throws(
    () => kjv.renderChat([{ role: 'user', content: '中'.repeat(kjv.maxPromptChars + 1) }]),
    expectCode('CONTEXT_OVERFLOW'),
  )
  assert.throws(() => kjv.renderChat([{ role: 'x'.repeat(65), content: 'hi' }]), expectCode('BAD_PARAMS'))
  assert.match(kjv.renderChat([{ role: 'user', content: 'hi' }]), /hi/)
})

test('the worker gives the same ids as the model, for every model it holds', async () => {
  for (const model of [kjv, llama]) {
    for (const text of ['And the LORD said unto Moses,', mixedText(7, 500), '<|endoftext|>x']) {
      assert.deepEqual(await pool.encode(model.id, text, 'test'), model.encode(text))
    }
  }
  await assert.rejects(pool.encode('nope@0', 'x', 'test'), expectCode('MODEL_NOT_FOUND'))
})

test('a long prompt is tokenized while the event loop keeps running', async () => {
  let ticks = 0
  const timer = setInterval(() => ticks++, 1)
  let ticksWhenDone = -1
  try {
    const ids = await pool.encode(kjv.id, '中'.repeat(262_144), 'big').then((x) => {
      ticksWhenDone = ticks
      return x
    })
    assert.ok(ids.length > 0)
  } finally {
    clearInterval(timer)
  }
  // On the main thread, no timer could fire until the tokenizer returned.
  assert.ok(ticksWhenDone > 0, 'timers fired while the prompt was being tokenized')
})

test('one caller cannot queue unbounded work, and waits behind its own jobs, not others', async () => {
  const long = '中'.repeat(100_000)
  const order: string[] = []
  const mine = [1, 2, 3].map((i) => pool.encode(kjv.id, long, 'greedy').then(() => order.push(`greedy-${i}`)))
  // Its fourth is refused at once; another caller still gets in, and is served before its third.
  await assert.rejects(pool.encode(kjv.id, 'x', 'greedy'), expectCode('BUSY'))
  const other = pool.encode(kjv.id, 'And God said,', 'polite').then(() => order.push('polite'))
  await Promise.all([...mine, other])
  assert.ok(order.indexOf('polite') < order.indexOf('greedy-3'), order.join(','))
  assert.equal(pool.pending, 0)
})

test('the whole queue is bounded, and a waiting job can be cancelled', async () => {
  const long = '中'.repeat(50_000)
  const jobs = Array.from({ length: 6 }, (_, i) => pool.encode(kjv.id, long, `k${i}`))
  await assert.rejects(pool.encode(kjv.id, 'x', 'late'), expectCode('BUSY'))
  await Promise.all(jobs)
  const ac = new AbortController()
  const first = pool.encode(kjv.id, long, 'a')
  const second = pool.encode(kjv.id, long, 'b', { signal: ac.signal })
  ac.abort()
  await assert.rejects(second, expectCode('CANCELLED'))
  await first
  assert.equal(pool.pending, 0)
})

test('a short prompt is tokenized on the calling thread while the worker is idle and the budget lasts', async () => {
  // A clock that moves 1 ms each time it is read: each inline tokenization costs 1 ms of a budget
  // of 10 ms a second.
  let t = 0
  const inline = await TokenizerPool.start([kjv], { inlineMaxChars: 64, inlineMsPerSecond: 10 }, () => ++t)
  try {
    const text = 'And the LORD said unto Moses,'
    const ids = kjv.encode(text)
    // In turn: inline until the budget is spent, then in the worker.
    let calls = 0
    while (inline.inlined === calls) {
      assert.deepEqual(await inline.encode(kjv.id, text, 'api'), ids)
      calls++
      assert.ok(calls < 100, 'the budget never ran out')
    }
    const spent = inline.inlined
    assert.ok(spent >= 5 && spent <= 11, `${spent} inline tokenizations on a 10-ms budget`)
    assert.deepEqual(await inline.encode(kjv.id, text, 'api'), ids)
    assert.equal(inline.inlined, spent, 'no budget left: the worker')
    // A second later the budget is back.
    t += 1000
    assert.deepEqual(await inline.encode(kjv.id, text, 'api'), ids)
    assert.equal(inline.inlined, spent + 1)
    // Longer than inlineMaxChars, or while a job waits for the worker: the worker, in turn.
    t += 1000
    const long = 'And the LORD spake unto Moses, saying, Speak unto the children of Israel,'
    assert.deepEqual(await inline.encode(kjv.id, long, 'api'), kjv.encode(long))
    const busy = inline.encode(kjv.id, '中'.repeat(50_000), 'peer')
    assert.deepEqual(await inline.encode(kjv.id, text, 'api'), ids)
    await busy
    assert.equal(inline.inlined, spent + 1)
  } finally {
    await inline.stop()
  }
})
