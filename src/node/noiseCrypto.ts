import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'

/** DER prefix of a PKCS #8 X25519 private key (the library's own import path, kept as the fallback). */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex')

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

function generateX25519KeyPair(): { publicKey: Uint8Array; privateKey: Uint8Array } {
  const { privateKey: key } = generateKeyPairSync('x25519')
  const jwk = key.export({ format: 'jwk' })
  if (jwk.d === undefined || jwk.x === undefined) throw new Error('X25519 key export lacks d or x')
  const privateKey = new Uint8Array(Buffer.from(jwk.d, 'base64url'))
  keyObjects.set(privateKey, key)
  return { publicKey: new Uint8Array(Buffer.from(jwk.x, 'base64url')), privateKey }
}

function generateX25519SharedKey(privateKey: KeyBytes, publicKey: KeyBytes): Uint8Array {
  const own =
    (privateKey instanceof Uint8Array ? keyObjects.get(privateKey) : undefined) ??
    createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, bytes(privateKey)]), format: 'der', type: 'pkcs8' })
  const peer = createPublicKey({
    key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(bytes(publicKey)).toString('base64url') },
    format: 'jwk',
  })
  return diffieHellman({ privateKey: own, publicKey: peer })
}

/**
 * The Noise library's Node crypto with a faster X25519. The library imports both keys of every
 * Diffie-Hellman from DER, and under Node 20's OpenSSL 3 the import of an X25519 private key from
 * PKCS #8 takes about 0.7 ms, ten times the exchange itself; a handshake does three exchanges on
 * each side. Here a key pair is generated as a key object that is kept for its exchanges (the private
 * bytes still go to Noise, which needs nothing else of them), and the peer's public key is imported
 * from JWK (about 0.02 ms against 0.15 ms from DER). A private key this module did not generate (a
 * static key given as a seed) is imported from DER as before. The results are the same bytes:
 * the unit test checks them against the library's own.
 */
export const noiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  generateX25519KeyPair,
  generateX25519SharedKey,
}
