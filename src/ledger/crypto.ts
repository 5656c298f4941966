import {
  createHash,
  createPrivateKey,
  createPublicKey,
  sign as edSign,
  verify as edVerify,
  type KeyObject,
} from 'node:crypto'
import { base58btc } from 'multiformats/bases/base58'

/**
 * SPEC 1: `H(tag, bytes) = SHA-256(len(tag) ‖ tag ‖ bytes)`, with a fixed ASCII tag per use, so a
 * hash made for one purpose can never be taken for another.
 */
export function taggedHash(tag: string, ...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256')
  const t = Buffer.from(tag, 'ascii')
  h.update(Uint8Array.of(t.length))
  h.update(t)
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex')
}

export function fromHex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'))
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0
}

export function u64(n: number | bigint): Uint8Array {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, BigInt(n))
  return b
}

// An Ed25519 peer id is base58btc(identity multihash of the protobuf public key):
// 0x00 0x24 | 0x08 0x01 (KeyType Ed25519) 0x12 0x20 (32 bytes) | key.
const PEER_ID_PREFIX = Uint8Array.of(0x00, 0x24, 0x08, 0x01, 0x12, 0x20)
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

/** The 32-byte Ed25519 public key inside a peer id string, or undefined if it is not one. */
export function publicKeyOfPeerId(peerId: string): Uint8Array | undefined {
  if (peerId.length > 64 || !peerId.startsWith('12D3KooW')) return undefined
  let bytes: Uint8Array
  try {
    bytes = base58btc.baseDecode(peerId)
  } catch {
    return undefined
  }
  if (bytes.length !== 38 || !PEER_ID_PREFIX.every((b, i) => bytes[i] === b)) return undefined
  return bytes.subarray(6)
}

export function peerIdOfPublicKey(publicKey: Uint8Array): string {
  const bytes = new Uint8Array(38)
  bytes.set(PEER_ID_PREFIX)
  bytes.set(publicKey, 6)
  return base58btc.baseEncode(bytes)
}

/** Verification keys, parsed once per account (parsing costs more than verifying). */
const keyCache = new Map<string, KeyObject>()
const KEY_CACHE_MAX = 100_000

function publicKeyObject(peerId: string): KeyObject | undefined {
  let key = keyCache.get(peerId)
  if (key !== undefined) return key
  const raw = publicKeyOfPeerId(peerId)
  if (raw === undefined) return undefined
  key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' })
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear()
  keyCache.set(peerId, key)
  return key
}

/**
 * Signatures found valid lately, by signer, signature and message digest. A vote is checked when
 * it arrives by gossip, again when consensus takes it and again in the commit of its block; a
 * transaction when the mempool admits it and again when its block runs. A check found here costs
 * about a quarter of a full one (8 µs against 30 µs on this machine: the message's hash and a
 * lookup). Only valid signatures are kept, so a forged one is checked in full each time.
 */
const verified = new Set<string>()
const VERIFIED_MAX = 16_384

/** Ed25519 verification of `sig` over `msg` by the key inside `peerId`; false on any malformation. */
export function verifySignature(peerId: string, msg: Uint8Array, sig: Uint8Array): boolean {
  if (sig.length !== 64) return false
  const memo = `${peerId}:${Buffer.from(sig).toString('base64')}:${createHash('sha256').update(msg).digest('base64')}`
  if (verified.has(memo)) return true
  const key = publicKeyObject(peerId)
  if (key === undefined) return false
  let ok: boolean
  try {
    ok = edVerify(null, msg, key, sig)
  } catch {
    return false
  }
  if (ok) {
    if (verified.size >= VERIFIED_MAX) verified.clear()
    verified.add(memo)
  }
  return ok
}

/** Something that signs with a peer's Ed25519 key (the daemon passes its libp2p key). */
export interface Signer {
  peerId: string
  sign(msg: Uint8Array): Uint8Array
}

/** A Signer from a 32-byte Ed25519 seed (tests, simulations, and the daemon's key). */
export function signerFromSeed(seed: Uint8Array): Signer {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' })
  const peerId = peerIdOfPublicKey(new Uint8Array(spki.subarray(SPKI_PREFIX.length)))
  return { peerId, sign: (msg) => new Uint8Array(edSign(null, msg, key)) }
}

/** SPEC 1: signatures are over `H("cordex/sig/<type>", canonical(body))`. */
export function signingBytes(type: string, body: Uint8Array): Uint8Array {
  return taggedHash(`cordex/sig/${type}`, body)
}
