import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseBatchFile, BatchError, checkLine } from '../../../src/node/batch/index.js'

const limits = { maxBytes: 10_000, maxLines: 5 }
const chat = (id: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({
    custom_id: id,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'kjv-small', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, ...extra },
  })
const completion = (id: string): string =>
  JSON.stringify({
    custom_id: id,
    method: 'POST',
    url: '/v1/completions',
    body: { model: 'kjv-small', prompt: 'In the beginning', max_tokens: 4 },
  })
const parse = (text: string, l = limits) => parseBatchFile(Buffer.from(text), l, checkLine)

/** The BatchError `fn` throws. */
function refusal(fn: () => unknown): BatchError {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof BatchError, `a BatchError, not ${String(err)}`)
    return err
  }
  assert.fail('expected a refusal')
}

test('a file of chat and completion requests parses in file order, empty lines skipped', () => {
  const lines = parse(`${chat('a')}\n\n${completion('b')}\n`)
  assert.deepEqual(
    lines.map((l) => [l.line, l.customId, l.url, l.model]),
    [
      [1, 'a', '/v1/chat/completions', 'kjv-small'],
      [3, 'b', '/v1/completions', 'kjv-small'],
    ],
  )
})

test('a line that is not JSON is refused with its line number, counting empty lines', () => {
  const e = refusal(() => parse(`${chat('a')}\n\n{"custom_id": "b",\n`))
  assert.equal(e.code, 'INVALID_FILE')
  assert.equal(e.meta.line, 3)
  assert.match(e.message, /^line 3: not valid JSON/)
})

test('a body the endpoint would refuse is refused at upload with the route’s own message', () => {
  const e = refusal(() => parse(`${chat('a')}\n${chat('b', { temperature: 'hot' })}\n`))
  assert.equal(e.meta.line, 2)
  assert.match(e.message, /^line 2: temperature must be a number/)
  const p = refusal(() =>
    parse(JSON.stringify({ custom_id: 'c', method: 'POST', url: '/v1/completions', body: { model: 'm' } })),
  )
  assert.match(p.message, /^line 1: prompt must be a string/)
})

test('the shape of a line: custom_id, method, url, body, no streaming', () => {
  const line = (o: Record<string, unknown>): string =>
    JSON.stringify({
      custom_id: 'x',
      method: 'POST',
      url: '/v1/completions',
      body: { model: 'm', prompt: 'p' },
      ...o,
    })
  assert.match(refusal(() => parse(line({ custom_id: '' }))).message, /custom_id must be a string/)
  assert.match(
    refusal(() => parse(line({ custom_id: 'x'.repeat(65) }))).message,
    /custom_id must be a string/,
  )
  assert.match(refusal(() => parse(line({ method: 'GET' }))).message, /method must be "POST"/)
  assert.match(refusal(() => parse(line({ url: '/v1/embeddings' }))).message, /url must be one of/)
  assert.match(refusal(() => parse(line({ body: [] }))).message, /body must be a JSON object/)
  assert.match(
    refusal(() => parse(line({ body: { model: 'm', prompt: 'p', stream: true } }))).message,
    /stream is not supported/,
  )
  assert.match(refusal(() => parse('[1, 2]')).message, /line 1: not a JSON object/)
})

test('a custom_id used twice is refused at its second line', () => {
  const e = refusal(() => parse(`${chat('a')}\n${completion('b')}\n${chat('a')}\n`))
  assert.equal(e.meta.line, 3)
  assert.match(e.message, /custom_id "a" is used by an earlier line/)
})

test('size, line count, encoding and emptiness are bounded', () => {
  const big = refusal(() => parse(chat('a'), { maxBytes: 50, maxLines: 5 }))
  assert.equal(big.code, 'FILE_TOO_LARGE')
  assert.match(big.message, /over the limit of 50/)
  const many = refusal(() =>
    parse(['a', 'b', 'c'].map((id) => chat(id)).join('\n'), { maxBytes: 10_000, maxLines: 2 }),
  )
  assert.equal(many.code, 'TOO_MANY_LINES')
  assert.match(many.message, /more than 2 requests/)
  assert.equal(
    refusal(() => parseBatchFile(Buffer.from([0xff, 0xfe, 0x0a]), limits, checkLine)).code,
    'INVALID_FILE',
  )
  assert.match(refusal(() => parse('\n\n')).message, /holds no requests/)
})
