import { test } from 'node:test'
import assert from 'node:assert/strict'
import { encode } from '../../../src/ledger/codec.js'
import { CodecError } from '../../../src/ledger/index.js'
import { NonceTree, MAX_PATH_ELEMENTS, PATH_ELEMENT_BYTES } from '../../../src/race/index.js'
import {
  decodeProofRequest,
  decodeProofResponse,
  encodeProofRequest,
  encodeProofResponse,
  MAX_PROOF_INDICES,
  MAX_PROOF_REQUEST_BYTES,
  MAX_PROOF_RESPONSE_BYTES,
} from '../../../src/protocols/proof/codec.js'

const codecError = (code?: string) => (err: unknown) =>
  err instanceof CodecError && (code === undefined || err.code === code)

const tree = new NonceTree(Array.from({ length: 1000 }, (_, i) => 3 * i + 1))
const samples = [0, 17, 999].map((i) => tree.sample(i))

test('a request round-trips; the largest fits its bound; anything else is a CodecError', () => {
  const r = { epoch: 7, indices: [5, 0, 999] }
  assert.deepEqual(decodeProofRequest(encodeProofRequest(r)), r)
  const largest = {
    epoch: Number.MAX_SAFE_INTEGER,
    indices: new Array<number>(MAX_PROOF_INDICES).fill(Number.MAX_SAFE_INTEGER),
  }
  const bytes = encodeProofRequest(largest)
  assert.ok(bytes.length <= MAX_PROOF_REQUEST_BYTES, `${bytes.length} bytes`)
  assert.deepEqual(decodeProofRequest(bytes), largest)
  assert.throws(() => encodeProofRequest({ epoch: 1, indices: [] }), codecError('BAD_SHAPE'))
  assert.throws(
    () => encodeProofRequest({ epoch: 1, indices: new Array<number>(MAX_PROOF_INDICES + 1).fill(0) }),
    codecError('BAD_SHAPE'),
  )
  assert.throws(() => encodeProofRequest({ epoch: -1, indices: [1] }), codecError('BAD_SHAPE'))
  assert.throws(() => encodeProofRequest({ epoch: 1, indices: [0.5] }), codecError('BAD_SHAPE'))
  const bad: unknown[] = [
    [1],
    [1, [1], 2],
    [1, []],
    [-1, [1]],
    ['1', [1]],
    [1, [1, -2]],
    [1, [1, 'x']],
    [1, new Array<number>(MAX_PROOF_INDICES + 1).fill(0)],
    { epoch: 1, indices: [1] },
  ]
  for (const v of bad)
    assert.throws(() => decodeProofRequest(encode(v)), codecError('BAD_SHAPE'), JSON.stringify(v))
  assert.throws(() => decodeProofRequest(bytes.subarray(0, 100)), codecError('MALFORMED'))
  assert.throws(
    () => decodeProofRequest(new Uint8Array(MAX_PROOF_REQUEST_BYTES + 1)),
    codecError('TOO_LARGE'),
  )
})

test('openings and a not-found answer round-trip', () => {
  const back = decodeProofResponse(encodeProofResponse({ found: true, samples }))
  assert.deepEqual(back, { found: true, samples })
  assert.deepEqual(decodeProofResponse(encodeProofResponse({ found: false })), { found: false })
  // Path elements come back as plain Uint8Arrays, not views of a stream's Buffer.
  const fromBuffer = decodeProofResponse(Buffer.from(encodeProofResponse({ found: true, samples })))
  assert.ok(fromBuffer.found && !Buffer.isBuffer(fromBuffer.samples[0]!.path[0]))
})

test('the largest answer (256 openings of 64 elements, nonces near 2^53) fits the response bound', () => {
  const element = new Uint8Array(PATH_ELEMENT_BYTES).fill(0xff)
  const big = Array.from({ length: MAX_PROOF_INDICES }, () => ({
    index: Number.MAX_SAFE_INTEGER,
    nonce: Number.MAX_SAFE_INTEGER,
    path: new Array<Uint8Array>(MAX_PATH_ELEMENTS).fill(element),
  }))
  const bytes = encodeProofResponse({ found: true, samples: big })
  assert.ok(bytes.length <= MAX_PROOF_RESPONSE_BYTES, `${bytes.length} of ${MAX_PROOF_RESPONSE_BYTES}`)
  const back = decodeProofResponse(bytes)
  assert.ok(back.found && back.samples.length === MAX_PROOF_INDICES)
  assert.ok(MAX_PROOF_RESPONSE_BYTES < 1 << 20)
})

test('truncated answers are typed errors', () => {
  const bytes = encodeProofResponse({ found: true, samples })
  for (const n of [0, 1, 2, 10, bytes.length >> 1, bytes.length - 1])
    assert.throws(() => decodeProofResponse(bytes.subarray(0, n)), codecError('MALFORMED'), `${n} bytes`)
})

test('malformed answers are typed errors', () => {
  const [s] = samples
  const ok = [s!.index, s!.nonce, s!.path]
  const bad: unknown[] = [
    'just a string',
    [],
    [2],
    [0, 'extra'],
    [1],
    [1, []],
    [1, [ok], 'extra'],
    [1, ok],
    [1, [[s!.index, s!.nonce]]],
    [1, [[-1, s!.nonce, s!.path]]],
    [1, [[s!.index, 'n', s!.path]]],
    [1, [[s!.index, s!.nonce, 'path']]],
    [1, [[s!.index, s!.nonce, [new Uint8Array(47)]]]],
    [1, [[s!.index, s!.nonce, [new Uint8Array(49)]]]],
    [1, [[s!.index, s!.nonce, [1]]]],
  ]
  for (const v of bad) assert.throws(() => decodeProofResponse(encode(v)), codecError('BAD_SHAPE'))
  assert.throws(() => decodeProofResponse(new Uint8Array([0xff, 0x00])), codecError('MALFORMED'))
  // Not canonical: the not-found kind as a two-byte integer.
  assert.throws(() => decodeProofResponse(new Uint8Array([0x81, 0x18, 0x00])), codecError('MALFORMED'))
})

test('oversized answers are refused on both sides', () => {
  const [s] = samples
  const longPath = new Array<Uint8Array>(MAX_PATH_ELEMENTS + 1).fill(new Uint8Array(PATH_ELEMENT_BYTES))
  assert.throws(
    () => decodeProofResponse(encode([1, [[s!.index, s!.nonce, longPath]]])),
    codecError('BAD_SHAPE'),
  )
  assert.throws(
    () => encodeProofResponse({ found: true, samples: [{ ...s!, path: longPath }] }),
    codecError('BAD_SHAPE'),
  )
  const tooMany = new Array(MAX_PROOF_INDICES + 1).fill([s!.index, s!.nonce, []])
  assert.throws(() => decodeProofResponse(encode([1, tooMany])), codecError('BAD_SHAPE'))
  assert.throws(
    () => encodeProofResponse({ found: true, samples: new Array(MAX_PROOF_INDICES + 1).fill(s) }),
    codecError('TOO_LARGE'),
  )
  assert.throws(
    () => decodeProofResponse(new Uint8Array(MAX_PROOF_RESPONSE_BYTES + 1)),
    codecError('TOO_LARGE'),
  )
})
