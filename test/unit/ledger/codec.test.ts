import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decode, encode, MAX_DEPTH } from '../../../src/ledger/codec.js'
import { CodecError } from '../../../src/ledger/errors.js'
import { baseRegistry, decodeTx, signTx } from '../../../src/ledger/tx/index.js'
import { decodeRequest, encodeRequest, type InferRequest } from '../../../src/protocols/infer/codec.js'
import { testSigner } from '../../helpers/chainSim.js'

const BOM = '\ufeff'

test('a string that begins with U+FEFF decodes to itself, alone or inside anything', () => {
  for (const value of [BOM, `${BOM}hi`, [`${BOM}a`, { k: `${BOM}${'中'.repeat(40)}` }], `a${BOM}`]) {
    assert.deepEqual(decode(encode(value), 1 << 16, 'value'), value)
  }
})

test('text that is not UTF-8 is refused as malformed, not replaced', () => {
  // A text string of two bytes, 0xff 0xfe: no UTF-8 decoder may turn it into U+FFFD quietly.
  assert.throws(
    () => decode(new Uint8Array([0x62, 0xff, 0xfe]), 100, 'value'),
    (err: unknown) => err instanceof CodecError && err.code === 'MALFORMED',
  )
  // An unpaired surrogate half encoded as three bytes (CESU style) is not UTF-8 either.
  assert.throws(
    () => decode(new Uint8Array([0x63, 0xed, 0xa0, 0x80]), 100, 'value'),
    (err: unknown) => err instanceof CodecError && err.code === 'MALFORMED',
  )
})

test('an infer request whose prompt and stop strings begin with U+FEFF reaches the executor whole', () => {
  const req: InferRequest = {
    taskId: new Uint8Array(32).fill(1),
    model: 'kjv-small@0123456789abcdef',
    prompt: `${BOM}And the LORD said`,
    maxTokens: 8,
    tokenPrice: 10n,
    sampling: {
      temperature: 0,
      topP: 1,
      topK: 0,
      repetitionPenalty: 1,
      frequencyPenalty: 0,
      presencePenalty: 0,
    },
    stop: [`${BOM}\n`],
    open: new Uint8Array(0),
  }
  const bytes = encodeRequest(req)
  const back = decodeRequest(bytes, 1 << 20)
  assert.equal(back.prompt, req.prompt)
  assert.deepEqual(back.stop, req.stop)
})

test('a HostAnnounce whose fingerprint begins with U+FEFF is decoded by every peer as it was signed', () => {
  const registry = baseRegistry()
  const tx = signTx(registry, 'cordex-test', testSigner(1), {
    type: 'HostAnnounce',
    nonce: 0,
    fee: 10n,
    body: { models: [], priceVote: 1n, fingerprint: `${BOM}ort/1.30`, addrs: [] },
  })
  const back = decodeTx(registry, tx.bytes, 4096)
  assert.equal(back.hashHex, tx.hashHex)
  assert.equal((back.body as { fingerprint: string }).fingerprint, `${BOM}ort/1.30`)
})

test('amounts beyond 2^53 decode, up to 2^64 - 1', () => {
  for (const v of [2n ** 53n, 2n ** 63n, 2n ** 64n - 1n]) assert.equal(decode(encode(v), 16, 'amount'), v)
})

test('nesting deeper than MAX_DEPTH is refused as malformed, however small the input', () => {
  let deep: unknown = 0
  for (let i = 0; i < MAX_DEPTH; i++) deep = [deep]
  assert.deepEqual(decode(encode(deep), 1024, 'value'), deep)
  // 3,200 bytes of 0x81 then 0x00: arrays of one, 3,200 deep.
  const bytes = new Uint8Array(3201).fill(0x81)
  bytes[3200] = 0
  assert.throws(
    () => decode(bytes, 1 << 16, 'value'),
    (err: unknown) => err instanceof CodecError && err.code === 'MALFORMED',
  )
  // Maps count too, and a deep value inside a wide one.
  assert.throws(() => decode(encode([1, 2, { a: [[[deep]]] }]), 1 << 16, 'value'), CodecError)
})
