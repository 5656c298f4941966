import { test } from 'node:test'
import assert from 'node:assert/strict'
import { signerFromSeed, verifySignature } from '../../../src/ledger/crypto.js'

// verifySignature remembers signatures it found valid (a vote is checked by gossip, consensus and
// the commit); what it remembers must never make another signature, message or signer pass.

test('a signature checked before passes again; a forged one, another message or another signer never do', () => {
  const alice = signerFromSeed(new Uint8Array(32).fill(1))
  const bob = signerFromSeed(new Uint8Array(32).fill(2))
  const msg = new TextEncoder().encode('vote for block 7')
  const sig = alice.sign(msg)
  for (let i = 0; i < 3; i++) assert.equal(verifySignature(alice.peerId, msg, sig), true)

  const forged = sig.slice()
  forged[10]! ^= 1
  for (let i = 0; i < 2; i++) assert.equal(verifySignature(alice.peerId, msg, forged), false)
  const other = new TextEncoder().encode('vote for block 8')
  assert.equal(verifySignature(alice.peerId, other, sig), false, 'another message with a known signature')
  assert.equal(verifySignature(bob.peerId, msg, sig), false, 'another signer with a known signature')
  assert.equal(verifySignature(alice.peerId, msg, sig.subarray(0, 63)), false, 'a short signature')
  assert.equal(verifySignature('not-a-peer-id', msg, sig), false)

  // Past the memo's bound it starts afresh, and still answers right.
  for (let i = 0; i < 17_000; i++) {
    const m = Uint8Array.of(i & 255, i >> 8)
    assert.equal(verifySignature(bob.peerId, m, bob.sign(m)), true)
  }
  assert.equal(verifySignature(alice.peerId, msg, sig), true)
  assert.equal(verifySignature(alice.peerId, msg, forged), false)
})
