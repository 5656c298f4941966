import { toHex, equalBytes, taggedHash } from './crypto.js'
import { BlockRejectedError, TxRejectedError } from './errors.js'
import { Overlay, type State, type StateReader } from './state/state.js'
import {
  getAccount,
  putAccount,
  getParams,
  getSupply,
  putSupply,
  getValidatorEntries,
  getPrevValidatorEntries,
  putValidatorEntries,
  getUnbonding,
  putUnbonding,
  evidenceSeen,
  markEvidence,
} from './state/access.js'
import { Keys } from './state/records.js'
import { beginBlock, endBlock } from './epoch/phases.js'
import { getEpoch } from './epoch/access.js'
import { verifyTx, minFee, type SignedTx, type TxRegistry } from './tx/index.js'
import { ValidatorSet } from './consensus/validatorSet.js'
import { verifyVote, voteKey } from './consensus/vote.js'
import {
  commitHash,
  evidenceHash,
  txRoot,
  checkCommit,
  type Block,
  type Evidence,
  type Header,
} from './block.js'
import { encode } from './codec.js'

export interface ChainContext {
  chainId: string
  registry: TxRegistry
}

type BlockInfo = { height: number; time: number; proposer: string }

/**
 * The checks that decide whether a transaction can be in a block at all, and its charge: size,
 * signature, nonce, fee. The fee goes to the proposer and the nonce moves on, in `state` (an
 * overlay the caller discards on a throw).
 */
export function chargeTx(
  state: Overlay,
  tx: SignedTx,
  ctx: ChainContext,
  block: BlockInfo,
  /** The mempool verified this transaction's signature already. */
  signatureChecked = false,
): void {
  const params = getParams(state)
  if (tx.bytes.length > params.maxTxBytes) {
    throw new TxRejectedError(
      'TOO_LARGE',
      `transaction of ${tx.bytes.length} bytes is over ${params.maxTxBytes}`,
    )
  }
  if (!signatureChecked && !verifyTx(ctx.registry, ctx.chainId, tx)) {
    throw new TxRejectedError('BAD_SIGNATURE', 'signature does not verify')
  }
  const acct = getAccount(state, tx.from)
  if (tx.nonce < acct.nonce)
    throw new TxRejectedError('NONCE_TOO_LOW', `nonce ${tx.nonce} was used; next is ${acct.nonce}`)
  if (tx.nonce > acct.nonce)
    throw new TxRejectedError('NONCE_GAP', `nonce ${tx.nonce} is ahead of the next, ${acct.nonce}`)
  const floor = minFee(ctx.registry.get(tx.type), params.minTxFee)
  if (tx.fee < floor) throw new TxRejectedError('FEE_TOO_LOW', `fee ${tx.fee} is below ${floor}`)
  if (acct.balance < tx.fee)
    throw new TxRejectedError('INSUFFICIENT_FUNDS', `balance ${acct.balance} cannot pay the fee`)
  putAccount(state, tx.from, { ...acct, balance: acct.balance - tx.fee, nonce: acct.nonce + 1 })
  const p = getAccount(state, block.proposer)
  putAccount(state, block.proposer, { ...p, balance: p.balance + tx.fee })
}

/** The transaction type's own rules and changes; throws TxRejectedError. */
export function applyBody(state: Overlay, tx: SignedTx, ctx: ChainContext, block: BlockInfo): void {
  const type = ctx.registry.get(tx.type)
  if (type === undefined) throw new TxRejectedError('UNKNOWN_TYPE', `unknown transaction type ${tx.type}`)
  type.apply(state, tx, {
    chainId: ctx.chainId,
    height: block.height,
    time: block.time,
    params: getParams(state),
  })
}

/** Charge and apply a transaction as one: a throw at either step leaves `state` to be discarded. */
export function applyTx(state: Overlay, tx: SignedTx, ctx: ChainContext, block: BlockInfo): void {
  chargeTx(state, tx, ctx, block)
  applyBody(state, tx, ctx, block)
}

/** Why `e` is not valid evidence against the current validators, or undefined. */
export function checkEvidence(
  chainId: string,
  state: StateReader,
  e: Evidence,
  height: number,
): string | undefined {
  const { a, b } = e
  if (a.validator !== b.validator) return 'votes from different validators'
  if (a.height !== b.height || a.round !== b.round || a.type !== b.type) return 'votes for different steps'
  if (voteKey(a.blockHash) === voteKey(b.blockHash)) return 'votes do not conflict'
  if (a.height >= height) return 'evidence from the future'
  if (!verifyVote(chainId, a) || !verifyVote(chainId, b)) return 'bad signature'
  if (!getValidatorEntries(state).some((v) => v.id === a.validator)) return 'not a validator'
  if (evidenceSeen(state, evidenceId(e))) return 'already punished'
  return undefined
}

/**
 * Evidence id: one per validator and height. Double-signing at a height is punished once, however
 * many conflicting pairs (prevotes, precommits, rounds) prove it.
 */
export function evidenceId(e: Evidence): string {
  return toHex(taggedHash('cordex/evidence/id', encode([e.a.validator, e.a.height])))
}

/** SPEC 3.3: evidence slashes `slashBps` of the double-signer's stake (burned) and jails it. */
function punish(state: Overlay, e: Evidence, height: number): void {
  const params = getParams(state)
  const id = e.a.validator
  const acct = getAccount(state, id)
  const slash = (acct.stake * BigInt(params.slashBps)) / 10_000n
  putAccount(state, id, { ...acct, stake: acct.stake - slash })
  const supply = getSupply(state)
  putSupply(state, { ...supply, total: supply.total - slash, burned: supply.burned + slash })
  putValidatorEntries(
    state,
    getValidatorEntries(state).map((v) =>
      v.id === id ? { ...v, jailedUntil: height + params.jailBlocks } : v,
    ),
  )
  markEvidence(state, evidenceId(e), height)
}

/** Stake whose unbonding ends at `height` returns to balances. */
function releaseUnbonding(state: Overlay, height: number): void {
  for (const [id, amount] of getUnbonding(state, height)) {
    const acct = getAccount(state, id)
    putAccount(state, id, { ...acct, balance: acct.balance + amount })
  }
  putUnbonding(state, height, [])
}

export interface Executed {
  overlay: Overlay
  root: Uint8Array
  /** Transactions left out, with why (only when building a block). */
  dropped: Array<{ tx: SignedTx; error: TxRejectedError }>
  txs: SignedTx[]
  /**
   * Included transactions whose own rules failed: they paid their fee and used their nonce, and
   * changed nothing else (so one stale transaction never strands its sender's later ones).
   */
  failed: Array<{ tx: SignedTx; error: TxRejectedError }>
}

/**
 * Run a block's body over the committed state: the previous validators are remembered, matured
 * unbonding is released, evidence is punished, then the transactions run in order. With
 * `strict`, any invalid transaction or evidence rejects the block; otherwise (a proposer building
 * a block) they are left out.
 */
export function runBody(
  state: State,
  ctx: ChainContext,
  body: {
    height: number
    time: number
    prevHash: Uint8Array
    proposer: string
    txs: SignedTx[]
    evidence: Evidence[]
  },
  strict: boolean,
): Executed & { evidence: Evidence[] } {
  const overlay = new Overlay(state)
  overlay.set(Keys.prevValidators, getValidatorEntries(state))
  releaseUnbonding(overlay, body.height)
  beginBlock(overlay, body.height, body.time)
  const evidence: Evidence[] = []
  for (const e of body.evidence) {
    const why = checkEvidence(ctx.chainId, overlay, e, body.height)
    if (why !== undefined) {
      if (strict) throw new BlockRejectedError('BAD_TX', `invalid evidence: ${why}`, { height: body.height })
      continue
    }
    punish(overlay, e, body.height)
    evidence.push(e)
  }
  const params = getParams(overlay)
  const txs: SignedTx[] = []
  const dropped: Executed['dropped'] = []
  const failed: Executed['failed'] = []
  let bytes = 0
  for (const tx of body.txs) {
    if (!strict && (txs.length >= params.maxBlockTxs || bytes + tx.bytes.length > params.maxBlockBytes)) break
    const child = overlay.child()
    try {
      chargeTx(child, tx, ctx, body)
    } catch (err) {
      if (!(err instanceof TxRejectedError)) throw err
      if (strict)
        throw new BlockRejectedError('BAD_TX', `transaction ${tx.hashHex}: ${err.message}`, {
          height: body.height,
        })
      dropped.push({ tx, error: err })
      continue
    }
    const effects = child.child()
    try {
      applyBody(effects, tx, ctx, body)
      child.absorb(effects)
    } catch (err) {
      if (!(err instanceof TxRejectedError)) throw err
      failed.push({ tx, error: err })
    }
    overlay.absorb(child)
    txs.push(tx)
    bytes += tx.bytes.length
  }
  if (strict && (txs.length > params.maxBlockTxs || bytes > params.maxBlockBytes)) {
    throw new BlockRejectedError('TOO_LARGE', 'block over the size limits', { height: body.height })
  }
  endBlock(overlay, body.height, body.time, body.prevHash)
  return { overlay, root: state.previewRoot(overlay), dropped, failed, txs, evidence }
}

/** The header fields a new block must have after `prev`. */
export interface Parent {
  height: number
  hash: Uint8Array
  time: number
}

/**
 * Check a block against the committed state and its parent, and run it: header fields, the
 * commit of the parent (signed by the validators that were in force for it), transactions and
 * the resulting state root. Throws BlockRejectedError; returns the overlay to commit.
 */
export function executeBlock(state: State, ctx: ChainContext, parent: Parent, block: Block): Executed {
  const h = block.header
  const reject = (code: BlockRejectedError['code'], why: string): never => {
    throw new BlockRejectedError(code, `block ${h.height}: ${why}`, { height: h.height })
  }
  if (h.chainId !== ctx.chainId) reject('BAD_CHAIN', `chain ${h.chainId}, not ${ctx.chainId}`)
  if (h.height !== parent.height + 1) reject('BAD_HEIGHT', `expected height ${parent.height + 1}`)
  if (!equalBytes(h.prevHash, parent.hash)) reject('BAD_PREV_HASH', 'parent hash differs')
  if (h.time <= parent.time) reject('BAD_TIME', 'time does not advance')
  if (h.epoch !== epochNumber(state, h.height)) reject('BAD_HEIGHT', `epoch ${h.epoch} is wrong`)
  if (!equalBytes(h.txRoot, txRoot(block.txs))) reject('BAD_TX_ROOT', 'transaction root differs')
  if (!equalBytes(h.evidenceHash, evidenceHash(block.evidence)))
    reject('BAD_TX_ROOT', 'evidence hash differs')
  if (!equalBytes(h.lastCommitHash, commitHash(block.lastCommit))) reject('BAD_COMMIT', 'commit hash differs')
  if (h.height > 1) {
    if (block.lastCommit === null) reject('BAD_COMMIT', 'the parent commit is missing')
    // The parent was voted on by the validators in force before it ran.
    const prevSet = new ValidatorSet(getPrevValidatorEntries(state), parent.height)
    const why = checkCommit(ctx.chainId, block.lastCommit!, prevSet, parent.height, parent.hash)
    if (why !== undefined) reject('BAD_COMMIT', why)
  } else if (block.lastCommit !== null) reject('BAD_COMMIT', 'block 1 has no parent commit')
  const run = runBody(
    state,
    ctx,
    {
      height: h.height,
      time: h.time,
      prevHash: h.prevHash,
      proposer: h.proposer,
      txs: block.txs,
      evidence: block.evidence,
    },
    true,
  )
  if (!equalBytes(run.root, h.stateRoot)) reject('BAD_STATE_ROOT', 'state root differs')
  return run
}

/** The epoch a block at `height` belongs to: the Race epoch where the chain runs Races, else by block count. */
export function epochNumber(state: StateReader, height: number): number {
  return getEpoch(state)?.number ?? Math.floor((height - 1) / getParams(state).epochBlocks)
}

/** Assemble a block as its proposer: runs the candidates, leaving out invalid ones. */
export function buildBlock(
  state: State,
  ctx: ChainContext,
  fields: Pick<Header, 'height' | 'time' | 'proposer' | 'epoch' | 'prevHash'> & {
    candidates: SignedTx[]
    evidence: Evidence[]
    lastCommit: Block['lastCommit']
  },
): { block: Block; executed: Executed } {
  const run = runBody(
    state,
    ctx,
    {
      height: fields.height,
      time: fields.time,
      prevHash: fields.prevHash,
      proposer: fields.proposer,
      txs: fields.candidates,
      evidence: fields.evidence,
    },
    false,
  )
  const header: Header = {
    chainId: ctx.chainId,
    height: fields.height,
    time: fields.time,
    prevHash: fields.prevHash,
    txRoot: txRoot(run.txs),
    stateRoot: run.root,
    proposer: fields.proposer,
    epoch: fields.epoch,
    lastCommitHash: commitHash(fields.lastCommit),
    evidenceHash: evidenceHash(run.evidence),
  }
  return {
    block: { header, txs: run.txs, evidence: run.evidence, lastCommit: fields.lastCommit },
    executed: run,
  }
}
