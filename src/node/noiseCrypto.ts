import { createPrivateKey, createPublicKey, diffieHellman, randomBytes, type KeyObject } from 'node:crypto'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'

/** A placeholder `x` for the JWK import of a private key: required there, and not used (see below). */
const NO_X = Buffer.alloc(32).toString('base64url')

/**
 * The private keys this module generated, with the key objects they came from. Keyed by the array
 * itself: Noise keeps the pair it generated and passes the same array to every Diffie-Hellman.
 */
const keyObjects = new WeakMap<Uint8Array, KeyObject>()

/** A key as Noise passes it: one array, or a list of them. */
type KeyBytes = Parameters<ICryptoInterface['generateX25519SharedKey']>[0]

function bytes(data: KeyBytes): Uint8Array {
  return data instanceof Uint8Array ? data : data.subarray()
}

/**
 * An X25519 private key object from its 32 bytes, through JWK: Node derives the key from `d` and
 * requires an `x` it does not use (a wrong one would show: the public key exported from the result
 * is the one derived from `d`, which the unit test checks against the library's). From PKCS #8 the
 * same import takes about 0.7 ms under Node 20's OpenSSL 3, twenty times as long.
 */
function privateKeyObject(privateKey: Uint8Array): KeyObject {
  return createPrivateKey({
    key: { kty: 'OKP', crv: 'X25519', d: Buffer.from(privateKey).toString('base64url'), x: NO_X },
    format: 'jwk',
  })
}

/**
 * A fresh key pair: 32 random bytes, and the public key derived from them. Not
 * `generateKeyPairSync('x25519')`: under Node 20 the generation job locks its key's mutex when the
 * garbage collector frees it, and an export of that key holds the same mutex while it allocates, so
 * a collection during the export deadlocks the thread for good (gdb: `~KeyGenJob` under
 * `InvokeFirstPassWeakCallbacks`, waiting on a mutex its own thread holds). A loop of that
 * generation and a JWK export hung within 100,000 rounds here, and so did `bench:net`'s handshakes;
 * the import below makes no generation job, and 300,000 rounds of it ran through.
 */
function generateX25519KeyPair(): { publicKey: Uint8Array; privateKey: Uint8Array } {
  const privateKey = new Uint8Array(randomBytes(32))
  const key = privateKeyObject(privateKey)
  const x = createPublicKey(key).export({ format: 'jwk' }).x
  if (x === undefined) throw new Error('X25519 public key export lacks x')
  keyObjects.set(privateKey, key)
  return { publicKey: new Uint8Array(Buffer.from(x, 'base64url')), privateKey }
}

function generateX25519SharedKey(privateKey: KeyBytes, publicKey: KeyBytes): Uint8Array {
  const own =
    (privateKey instanceof Uint8Array ? keyObjects.get(privateKey) : undefined) ??
    privateKeyObject(bytes(privateKey))
  const peer = createPublicKey({
    key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(bytes(publicKey)).toString('base64url') },
    format: 'jwk',
  })
  return diffieHellman({ privateKey: own, publicKey: peer })
}

/**
 * The Noise library's Node crypto with a faster X25519, and without the key generation that can
 * deadlock (generateX25519KeyPair). The library imports both keys of every Diffie-Hellman from DER,
 * and under Node 20's OpenSSL 3 the import of an X25519 private key from PKCS #8 takes about 0.7 ms,
 * ten times the exchange itself; a handshake does three exchanges on each side. Here a key pair's
 * key object is kept for its exchanges (the private bytes still go to Noise, which needs nothing
 * else of them), and keys are imported from JWK (the peer's public key in about 0.02 ms against
 * 0.15 ms from DER), a private key this module did not generate (a static key given as a seed)
 * included. The results are the same bytes: the unit test checks them against the library's own.
 */
export const noiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  generateX25519KeyPair,
  generateX25519SharedKey,
}
