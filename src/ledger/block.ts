import { encode, decode, read } from './codec.js'
import { taggedHash } from './crypto.js'
import { decodeTx, type SignedTx, type TxRegistry } from './tx/index.js'
import { VoteType, voteFromWire, voteToWire, voteKey, verifyVote, type Vote } from './consensus/vote.js'
import type { ValidatorSet } from './consensus/validatorSet.js'

/** SPEC 3.3 header, plus the hashes that bind the block's commit of its parent and its evidence. */
export interface Header {
  chainId: string
  height: number
  /** Proposer's clock, ms since the Unix epoch; strictly increasing. */
  time: number
  prevHash: Uint8Array
  txRoot: Uint8Array
  /** State root after this block's transactions. */
  stateRoot: Uint8Array
  proposer: string
  epoch: number
  lastCommitHash: Uint8Array
  evidenceHash: Uint8Array
}

/** More than 2/3 of the power's precommits for one block: the proof that it is final. */
export interface Commit {
  height: number
  round: number
  blockHash: Uint8Array
  /** (validator, signature) pairs, sorted by validator. */
  sigs: Array<[string, Uint8Array]>
}

/** Two conflicting votes signed by one validator for the same height, round and step. */
export interface Evidence {
  a: Vote
  b: Vote
}

export interface Block {
  header: Header
  txs: SignedTx[]
  evidence: Evidence[]
  /** The commit of the previous block (null at height 1). */
  lastCommit: Commit | null
}

const ZERO = new Uint8Array(32)

function headerToWire(h: Header): unknown {
  return [
    h.chainId,
    h.height,
    h.time,
    h.prevHash,
    h.txRoot,
    h.stateRoot,
    h.proposer,
    h.epoch,
    h.lastCommitHash,
    h.evidenceHash,
  ]
}

function headerFromWire(v: unknown): Header {
  const f = read.array(v, 10, 'header')
  return {
    chainId: read.string(f[0], 64, 'chainId'),
    height: read.uint(f[1], 'height'),
    time: read.uint(f[2], 'time'),
    prevHash: read.bytes(f[3], 'prevHash', 32),
    txRoot: read.bytes(f[4], 'txRoot', 32),
    stateRoot: read.bytes(f[5], 'stateRoot', 32),
    proposer: read.string(f[6], 64, 'proposer'),
    epoch: read.uint(f[7], 'epoch'),
    lastCommitHash: read.bytes(f[8], 'lastCommitHash', 32),
    evidenceHash: read.bytes(f[9], 'evidenceHash', 32),
  }
}

export function blockHash(h: Header): Uint8Array {
  return taggedHash('cordex/block', encode(headerToWire(h)))
}

export function commitToWire(c: Commit): unknown {
  return [c.height, c.round, c.blockHash, c.sigs]
}

export function commitFromWire(v: unknown, maxSigs: number): Commit {
  const [height, round, hash, sigs] = read.array(v, 4, 'commit')
  return {
    height: read.uint(height, 'height'),
    round: read.uint(round, 'round'),
    blockHash: read.bytes(hash, 'block hash', 32),
    sigs: read.list(sigs, maxSigs, 'commit signatures').map((e) => {
      const [id, sig] = read.array(e, 2, 'commit signature')
      return [read.string(id, 64, 'validator'), read.bytes(sig, 'signature', 64)] as [string, Uint8Array]
    }),
  }
}

export function commitHash(c: Commit | null): Uint8Array {
  return c === null ? ZERO : taggedHash('cordex/commit', encode(commitToWire(c)))
}

export function evidenceHash(list: Evidence[]): Uint8Array {
  return list.length === 0 ? ZERO : taggedHash('cordex/evidence', encode(list.map(evidenceToWire)))
}

export function evidenceToWire(e: Evidence): unknown {
  return [voteToWire(e.a), voteToWire(e.b)]
}

export function evidenceFromWire(v: unknown): Evidence {
  const [a, b] = read.array(v, 2, 'evidence')
  return { a: voteFromWire(a), b: voteFromWire(b) }
}

/** Binary Merkle root over the transactions' hashes (SPEC 3.3 txRoot). */
export function txRoot(txs: readonly SignedTx[]): Uint8Array {
  if (txs.length === 0) return ZERO
  let level = txs.map((t) => taggedHash('cordex/txroot/leaf', t.hash))
  while (level.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < level.length; i += 2) {
      const right = level[i + 1]
      next.push(right === undefined ? level[i]! : taggedHash('cordex/txroot/node', level[i]!, right))
    }
    level = next
  }
  return level[0]!
}

export function blockToWire(b: Block): unknown {
  return [
    headerToWire(b.header),
    b.txs.map((t) => t.bytes),
    b.evidence.map(evidenceToWire),
    b.lastCommit === null ? null : commitToWire(b.lastCommit),
  ]
}

export function encodeBlock(b: Block): Uint8Array {
  return encode(blockToWire(b))
}

export interface BlockLimits {
  maxBlockBytes: number
  maxBlockTxs: number
  maxTxBytes: number
  maxValidators: number
}

export function blockFromWire(v: unknown, registry: TxRegistry, limits: BlockLimits): Block {
  const [header, txs, evidence, lastCommit] = read.array(v, 4, 'block')
  return {
    header: headerFromWire(header),
    txs: read
      .list(txs, limits.maxBlockTxs, 'transactions')
      .map((t) => decodeTx(registry, read.bytes(t, 'transaction'), limits.maxTxBytes)),
    evidence: read.list(evidence, 64, 'evidence').map(evidenceFromWire),
    lastCommit: lastCommit === null ? null : commitFromWire(lastCommit, limits.maxValidators),
  }
}

/** Decode a block; throws CodecError or TxRejectedError. */
export function decodeBlock(bytes: Uint8Array, registry: TxRegistry, limits: BlockLimits): Block {
  return blockFromWire(decode(bytes, limits.maxBlockBytes + 64 * 1024, 'block'), registry, limits)
}

export function encodeCommit(c: Commit): Uint8Array {
  return encode(commitToWire(c))
}

export function decodeCommit(bytes: Uint8Array, maxValidators: number): Commit {
  return commitFromWire(decode(bytes, 256 + maxValidators * 160, 'commit'), maxValidators)
}

/** The precommit that a commit signature stands for. */
export function precommitOf(c: Commit, validator: string, sig: Uint8Array): Vote {
  return {
    type: VoteType.Precommit,
    height: c.height,
    round: c.round,
    blockHash: c.blockHash,
    validator,
    sig,
  }
}

/**
 * Why a commit does not prove its block final, or undefined if it does: signatures from distinct
 * members of `validators`, each valid, with more than 2/3 of the power, for `expectedHash`.
 */
export function checkCommit(
  chainId: string,
  c: Commit,
  validators: ValidatorSet,
  expectedHeight: number,
  expectedHash: Uint8Array,
): string | undefined {
  if (c.height !== expectedHeight) return `commit is for height ${c.height}, not ${expectedHeight}`
  if (voteKey(c.blockHash) !== voteKey(expectedHash)) return 'commit is for another block'
  const seen = new Set<string>()
  let power = 0
  for (const [id, sig] of c.sigs) {
    if (seen.has(id)) return `validator ${id} signed twice`
    seen.add(id)
    if (!validators.has(id)) return `${id} is not a validator at height ${c.height}`
    if (!verifyVote(chainId, precommitOf(c, id, sig))) {
      return `bad signature from ${id}`
    }
    power += validators.powerOf(id)
  }
  if (!validators.isQuorum(power))
    return `signatures hold ${power} of ${validators.total} power, not more than 2/3`
  return undefined
}
