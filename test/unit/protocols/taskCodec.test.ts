import { test } from 'node:test'
import assert from 'node:assert/strict'
import { encode } from '../../../src/ledger/codec.js'
import { CodecError, encodeReceipt } from '../../../src/ledger/index.js'
import { maxRequestBytes } from '../../../src/protocols/infer/codec.js'
import {
  decodeTaskRecord,
  decodeTaskRequest,
  decodeTaskResponse,
  encodeTaskRecord,
  encodeTaskRequest,
  encodeTaskResponse,
  maxTaskResponseBytes,
  MAX_RECORD_TOKENS,
  MAX_TASK_REQUEST_BYTES,
} from '../../../src/protocols/task/codec.js'
import { testSigner } from '../../helpers/chainSim.js'
import { testRecord, testRequest } from '../../helpers/taskRecord.js'

const executor = testSigner(1)
const record = testRecord(executor, testRequest(testSigner(2).peerId, 1))

const codecError = (code?: string) => (err: unknown) =>
  err instanceof CodecError && (code === undefined || err.code === code)

test('a request names one 32-byte task id and round-trips; anything else is a CodecError', () => {
  const id = record.receipt.taskId
  const bytes = encodeTaskRequest(id)
  assert.ok(bytes.length <= MAX_TASK_REQUEST_BYTES)
  assert.deepEqual(decodeTaskRequest(bytes), id)
  assert.throws(() => encodeTaskRequest(new Uint8Array(31)), codecError('BAD_SHAPE'))
  assert.throws(() => decodeTaskRequest(encode(new Uint8Array(31))), codecError('BAD_SHAPE'))
  assert.throws(() => decodeTaskRequest(encode([id])), codecError('BAD_SHAPE'))
  assert.throws(() => decodeTaskRequest(bytes.subarray(0, 20)), codecError('MALFORMED'))
  assert.throws(() => decodeTaskRequest(new Uint8Array(MAX_TASK_REQUEST_BYTES + 1)), codecError('TOO_LARGE'))
})

test('a record and a not-found answer round-trip', () => {
  assert.deepEqual(decodeTaskResponse(encodeTaskResponse({ found: true, record })), { found: true, record })
  assert.deepEqual(decodeTaskResponse(encodeTaskResponse({ found: false })), { found: false })
  assert.deepEqual(decodeTaskRecord(encodeTaskRecord(record)), record)
  assert.throws(() => decodeTaskRecord(encodeTaskResponse({ found: false })), codecError('BAD_SHAPE'))
})

test('a record of the largest size fits the response bound', () => {
  const big = {
    ...record,
    request: new Uint8Array(maxRequestBytes()),
    tokens: new Array<number>(MAX_RECORD_TOKENS).fill(2 ** 40),
    receipt: { ...record.receipt, modelId: 'm'.repeat(128) },
  }
  const bytes = encodeTaskRecord(big)
  assert.ok(bytes.length <= maxTaskResponseBytes())
  assert.deepEqual(decodeTaskRecord(bytes).tokens.length, MAX_RECORD_TOKENS)
})

test('truncated answers are typed errors', () => {
  const bytes = encodeTaskRecord(record)
  for (const n of [0, 1, 2, 10, bytes.length >> 1, bytes.length - 1])
    assert.throws(() => decodeTaskResponse(bytes.subarray(0, n)), codecError('MALFORMED'), `${n} bytes`)
})

test('malformed answers are typed errors', () => {
  const r = encodeReceipt(record.receipt)
  const { request, tokens, sig, executor: who } = record
  const bad: Array<[unknown, string]> = [
    ['just a string', 'BAD_SHAPE'],
    [[], 'BAD_SHAPE'],
    [[2], 'BAD_SHAPE'],
    [[0, 'extra'], 'BAD_SHAPE'],
    [[1, request, tokens, r, sig], 'BAD_SHAPE'],
    [[1, 'not bytes', tokens, r, sig, who], 'BAD_SHAPE'],
    [[1, request, [1, -1], r, sig, who], 'BAD_SHAPE'],
    [[1, request, tokens, [1, 2, 3], sig, who], 'BAD_SHAPE'],
    [[1, request, tokens, r, sig.subarray(0, 63), who], 'BAD_SHAPE'],
    [[1, request, tokens, r, sig, 'x'.repeat(129)], 'BAD_SHAPE'],
  ]
  for (const [value, code] of bad)
    assert.throws(() => decodeTaskResponse(encode(value)), codecError(code), JSON.stringify(value))
  assert.throws(() => decodeTaskResponse(new Uint8Array([0xff, 0x00])), codecError('MALFORMED'))
  // Not canonical: the not-found kind as a two-byte integer (the strict decoder refuses it).
  assert.throws(() => decodeTaskResponse(new Uint8Array([0x81, 0x18, 0x00])), codecError('MALFORMED'))
})

test('oversized answers are refused on both sides', () => {
  const tooMany = new Array<number>(MAX_RECORD_TOKENS + 1).fill(1)
  assert.throws(() => encodeTaskRecord({ ...record, tokens: tooMany }), codecError('TOO_LARGE'))
  const r = encodeReceipt(record.receipt)
  assert.throws(
    () => decodeTaskResponse(encode([1, record.request, tooMany, r, record.sig, record.executor])),
    codecError('BAD_SHAPE'),
  )
  const hugeFrame = new Uint8Array(maxRequestBytes() + 1)
  assert.throws(
    () => decodeTaskResponse(encode([1, hugeFrame, record.tokens, r, record.sig, record.executor])),
    codecError('TOO_LARGE'),
  )
  assert.throws(() => encodeTaskRecord(record, 100), codecError('TOO_LARGE'))
  assert.throws(() => decodeTaskResponse(encodeTaskRecord(record), 100), codecError('TOO_LARGE'))
  assert.throws(() => decodeTaskResponse(new Uint8Array(maxTaskResponseBytes() + 1)), codecError('TOO_LARGE'))
})
