import { test } from 'node:test'
import assert from 'node:assert/strict'
import { encode } from 'cborg'
import { encodeInfo, decodeInfo } from '../../../src/protocols/info/codec.js'
import { ProtocolError } from '../../../src/protocols/errors.js'
import { protocolId, topicName } from '../../../src/protocols/ids.js'

const P = '/cordex/devnet/info/1.0.0'

test('protocol ids and topics carry the network id', () => {
  assert.equal(protocolId('devnet', 'info'), P)
  assert.equal(protocolId('mainnet', 'sync', '2.0.0'), '/cordex/mainnet/sync/2.0.0')
  assert.equal(topicName('devnet', 'tx'), '/cordex/devnet/tx')
})

test('info round-trips', () => {
  const info = { network: 'devnet', version: '0.1.0', uptimeMs: 1234 }
  assert.deepEqual(decodeInfo(encodeInfo(info), P), info)
})

test('malformed, oversized or ill-typed info is a MALFORMED ProtocolError telling to reject the peer', () => {
  const bad = [
    new Uint8Array([0xff, 0x00, 0x13]),
    encode('just a string'),
    encode({ network: 'devnet' }),
    encode({ network: 'devnet', version: '1', uptimeMs: -1 }),
    encode({ network: 'devnet', version: '1', uptimeMs: 1.5 }),
    new Uint8Array(2048),
  ]
  for (const bytes of bad) {
    assert.throws(
      () => decodeInfo(bytes, P),
      (err: unknown) =>
        err instanceof ProtocolError && err.code === 'MALFORMED' && err.meta.action === 'reject',
    )
  }
})
