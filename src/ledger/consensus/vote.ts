import { CodecError } from '../errors.js'
import { encode, decode, read } from '../codec.js'
import { signingBytes, verifySignature, toHex, type Signer } from '../crypto.js'

export enum VoteType {
  Prevote = 1,
  Precommit = 2,
}

/** A signed prevote or precommit for a block hash, or for nothing (null). */
export interface Vote {
  type: VoteType
  height: number
  round: number
  blockHash: Uint8Array | null
  validator: string
  sig: Uint8Array
}

export const MAX_VOTE_BYTES = 512

function voteSigningBytes(chainId: string, v: Omit<Vote, 'validator' | 'sig'>): Uint8Array {
  return signingBytes('vote', encode([chainId, v.type, v.height, v.round, v.blockHash]))
}

export function signVote(chainId: string, signer: Signer, v: Omit<Vote, 'validator' | 'sig'>): Vote {
  return { ...v, validator: signer.peerId, sig: signer.sign(voteSigningBytes(chainId, v)) }
}

export function verifyVote(chainId: string, v: Vote): boolean {
  return verifySignature(v.validator, voteSigningBytes(chainId, v), v.sig)
}

export function voteToWire(v: Vote): unknown {
  return [v.type, v.height, v.round, v.blockHash, v.validator, v.sig]
}

export function voteFromWire(value: unknown): Vote {
  const [type, height, round, hash, validator, sig] = read.array(value, 6, 'vote')
  const t = read.uint(type, 'vote type')
  if (t !== VoteType.Prevote && t !== VoteType.Precommit)
    throw new CodecError('BAD_SHAPE', 'vote type: not prevote or precommit', { what: 'vote type' })
  return {
    type: t,
    height: read.uint(height, 'height'),
    round: read.uint(round, 'round'),
    blockHash: hash === null ? null : read.bytes(hash, 'block hash', 32),
    validator: read.string(validator, 64, 'validator'),
    sig: read.bytes(sig, 'signature', 64),
  }
}

export function encodeVote(v: Vote): Uint8Array {
  return encode(voteToWire(v))
}

export function decodeVote(bytes: Uint8Array): Vote {
  return voteFromWire(decode(bytes, MAX_VOTE_BYTES, 'vote'))
}

/** Key of what a vote is for: a block hash in hex, or "nil". */
export function voteKey(hash: Uint8Array | null): string {
  return hash === null ? 'nil' : toHex(hash)
}
