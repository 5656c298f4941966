import { encode, decode, read } from '../codec.js'
import { equalBytes, signingBytes, verifySignature, type Signer } from '../crypto.js'
import {
  blockHash,
  blockToWire,
  blockFromWire,
  commitHash,
  evidenceHash,
  txRoot,
  type Block,
  type BlockLimits,
} from '../block.js'
import type { TxRegistry } from '../tx/index.js'

/** A proposer's signed offer of a block for (height, round). `validRound` is -1 when none. */
export interface Proposal {
  height: number
  round: number
  validRound: number
  block: Block
  proposer: string
  sig: Uint8Array
}

function proposalSigningBytes(chainId: string, p: Omit<Proposal, 'sig' | 'proposer'>): Uint8Array {
  return signingBytes(
    'proposal',
    encode([chainId, p.height, p.round, p.validRound + 1, blockHash(p.block.header)]),
  )
}

export function signProposal(
  chainId: string,
  signer: Signer,
  p: Omit<Proposal, 'sig' | 'proposer'>,
): Proposal {
  return { ...p, proposer: signer.peerId, sig: signer.sign(proposalSigningBytes(chainId, p)) }
}

export function verifyProposal(chainId: string, p: Proposal): boolean {
  return (
    p.block.header.height === p.height &&
    // A re-proposal (validRound >= 0) carries a block that another round's proposer built.
    (p.validRound >= 0 || p.block.header.proposer === p.proposer) &&
    verifySignature(p.proposer, proposalSigningBytes(chainId, p), p.sig) &&
    // The signature covers the header only: the body must be the one it names, or anyone relaying
    // it could swap the body and make the genuine block look invalid for the rest of the height.
    equalBytes(p.block.header.txRoot, txRoot(p.block.txs)) &&
    equalBytes(p.block.header.evidenceHash, evidenceHash(p.block.evidence)) &&
    equalBytes(p.block.header.lastCommitHash, commitHash(p.block.lastCommit))
  )
}

export function encodeProposal(p: Proposal): Uint8Array {
  return encode([p.height, p.round, p.validRound + 1, blockToWire(p.block), p.proposer, p.sig])
}

export function decodeProposal(bytes: Uint8Array, registry: TxRegistry, limits: BlockLimits): Proposal {
  const [height, round, vr, block, proposer, sig] = read.array(
    decode(bytes, limits.maxBlockBytes + 64 * 1024, 'proposal'),
    6,
    'proposal',
  )
  return {
    height: read.uint(height, 'height'),
    round: read.uint(round, 'round'),
    validRound: read.uint(vr, 'validRound') - 1,
    block: blockFromWire(block, registry, limits),
    proposer: read.string(proposer, 64, 'proposer'),
    sig: read.bytes(sig, 'signature', 64),
  }
}
