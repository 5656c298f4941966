import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'
import { noiseCrypto } from '../../../src/node/noiseCrypto.js'

const hex = (b: Uint8Array | Uint8ArrayList): string => Buffer.from(b.subarray()).toString('hex')

test('X25519 key pairs and shared keys are the Noise library’s, whichever side made the keys', () => {
  for (let i = 0; i < 20; i++) {
    const ours = noiseCrypto.generateX25519KeyPair()
    const theirs = defaultCrypto.generateX25519KeyPair()
    assert.equal(ours.privateKey.length, 32)
    assert.equal(ours.publicKey.length, 32)
    // Our public key is the one the library derives from our private key.
    assert.equal(
      hex(defaultCrypto.generateX25519KeyPairFromSeed(ours.privateKey).publicKey),
      hex(ours.publicKey),
    )
    const expected = hex(defaultCrypto.generateX25519SharedKey(theirs.privateKey, ours.publicKey))
    assert.equal(hex(defaultCrypto.generateX25519SharedKey(ours.privateKey, theirs.publicKey)), expected)
    // A key this module generated, one it did not (the fallback), and keys given as lists.
    assert.equal(hex(noiseCrypto.generateX25519SharedKey(ours.privateKey, theirs.publicKey)), expected)
    assert.equal(hex(noiseCrypto.generateX25519SharedKey(theirs.privateKey, ours.publicKey)), expected)
    assert.equal(
      hex(
        noiseCrypto.generateX25519SharedKey(
          new Uint8ArrayList(ours.privateKey.subarray(0, 7), ours.privateKey.subarray(7)),
          new Uint8ArrayList(theirs.publicKey.subarray(0, 20), theirs.publicKey.subarray(20)),
        ),
      ),
      expected,
    )
  }
})

test('a key from a seed works as the library’s does', () => {
  const seed = new Uint8Array(randomBytes(32))
  const pair = noiseCrypto.generateX25519KeyPairFromSeed(seed)
  const other = noiseCrypto.generateX25519KeyPair()
  assert.equal(
    hex(noiseCrypto.generateX25519SharedKey(pair.privateKey, other.publicKey)),
    hex(defaultCrypto.generateX25519SharedKey(other.privateKey, pair.publicKey)),
  )
})

test('a malformed public key is refused, not taken as some other key', () => {
  const own = noiseCrypto.generateX25519KeyPair()
  for (const bad of [new Uint8Array(31), new Uint8Array(33), new Uint8Array(0)]) {
    assert.throws(() => noiseCrypto.generateX25519SharedKey(own.privateKey, bad))
  }
  // The all-zero point is of small order: the exchange would give a zero key, which OpenSSL refuses.
  assert.throws(() => noiseCrypto.generateX25519SharedKey(own.privateKey, new Uint8Array(32)))
})

test('making key pairs never deadlocks, however the garbage collector falls', async () => {
  // Node 20's generateKeyPairSync('x25519') followed by an export of the key deadlocks when a
  // collection during the export frees the generation job (noiseCrypto.ts); a loop like this one
  // hung within 100,000 rounds with it. Run in a child process, so that a hang is a failure here
  // rather than a stuck test run.
  const module = new URL('../../../src/node/noiseCrypto.js', import.meta.url).href
  const script = `
    const { noiseCrypto } = await import(${JSON.stringify(module)})
    let kept = []
    for (let i = 0; i < 100000; i++) {
      const pair = noiseCrypto.generateX25519KeyPair()
      kept.push(pair.publicKey.toString() + i)
      if (kept.length > 1000) kept = []
    }
    console.log('done')`
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  // A bound only so that a deadlock ends the test; a healthy run takes seconds.
  const limit = setTimeout(() => child.kill('SIGKILL'), 180_000)
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null]
  clearTimeout(limit)
  assert.equal(signal, null, '100,000 key pairs made without a hang')
  assert.equal(code, 0)
  assert.equal(out.trim(), 'done')
})
