import type { Clock } from '../util/clock.js'
import { equalBytes, toHex, type Signer } from './crypto.js'
import { BlockRejectedError, TxRejectedError } from './errors.js'
import { Overlay, type State, type StateChanges } from './state/state.js'
import { getParams, getValidatorEntries } from './state/access.js'
import type { SignedTx, TxRegistry } from './tx/index.js'
import { Mempool, type MempoolOptions } from './mempool.js'
import { blockHash, checkCommit, precommitOf, type Block, type Commit, type Evidence } from './block.js'
import {
  chargeTx,
  buildBlock,
  executeBlock,
  evidenceId,
  epochNumber,
  type Executed,
  type Parent,
} from './executor.js'
import { ValidatorSet } from './consensus/validatorSet.js'
import { HeightMachine, Step, type MachineOutput, type Timeouts } from './consensus/machine.js'
import type { Proposal } from './consensus/proposal.js'
import { VoteType, type Vote } from './consensus/vote.js'
import { AheadTracker } from './consensus/ahead.js'

/**
 * What to do with a consensus message from the network: take it (and relay it), drop it quietly
 * (stale, or too far ahead to judge), or reject it (its sender broke the protocol, and loses score).
 */
export type Admission = 'accept' | 'ignore' | 'reject'

/** Heights beyond the next one for which messages are still relayed and counted as a sign of being behind. */
export const MAX_HEIGHTS_AHEAD = 1000
/** Rounds beyond this node's current one for which messages are relayed. */
export const MAX_ROUNDS_AHEAD = 1000

export interface ReplicaOptions {
  chainId: string
  registry: TxRegistry
  /** This node's key; null to follow the chain without voting. */
  signer: Signer | null
  timeouts: Timeouts
  /** Pause between a commit and the start of the next height (lets transactions gather). */
  blockIntervalMs: number
  /**
   * With nothing to include, wait this long after the last block's time before starting the next
   * height (0: never wait). A transaction in the mempool, or a peer's message for the next height,
   * starts it at once. Keeps an idle network from committing empty blocks several times a second.
   */
  emptyBlockIntervalMs?: number
  /** Seed of the proposer draw (the epoch seed, once the Race provides one). */
  proposerSeed: Uint8Array
  mempool?: MempoolOptions
  /** Messages for the next height held until it starts. */
  maxBuffered?: number
}

export type ReplicaEvent =
  | { kind: 'proposal'; proposal: Proposal }
  | { kind: 'vote'; vote: Vote }
  | { kind: 'timeout'; height: number; round: number; step: Step }
  | { kind: 'newHeight'; height: number }
  | { kind: 'resend' }
  | { kind: 'synced'; block: Block; commit: Commit }

export type ReplicaEffect =
  | { kind: 'broadcastProposal'; proposal: Proposal }
  | { kind: 'broadcastVote'; vote: Vote }
  /** Deliver `event` back after `ms`. */
  | { kind: 'schedule'; ms: number; event: ReplicaEvent }
  /** Write atomically: the block, its commit, the state changes, the new head. Must finish before the next event. */
  | {
      kind: 'persist'
      block: Block
      commit: Commit
      changes: StateChanges
      failed: Map<string, TxRejectedError>
    }
  /** Peers are at `height` or beyond: fetch blocks over `sync`. */
  | { kind: 'behind'; height: number }
  | { kind: 'rejected'; what: string; reason: string }

/** The last committed block, as the next one needs it. */
export interface Head extends Parent {
  /** Commit of the head block (null before block 1). */
  commit: Commit | null
}

/**
 * One node's view of the chain, driven by events (messages, timeouts, synced blocks) and answering
 * with effects (messages, timers, writes): STYLE's consensus model. It owns the committed state,
 * the mempool and the consensus machine of the current height. Nothing here touches a network, a
 * disk or a real timer, so a simulation can run many replicas in one process on a fake clock.
 */
export class Replica {
  readonly mempool: Mempool
  head: Head
  machine: HeightMachine | undefined
  private readonly valid = new Map<string, Executed | null>()
  private readonly buffered: ReplicaEvent[] = []
  private readonly pendingEvidence = new Map<string, Evidence>()
  private readonly ahead = new AheadTracker()
  /** A message for the head's height arrived: someone is still deciding it (see lastCommitVotes). */
  private peerOnLastHeight = false
  /** The last `behind` reported: its target and the head it was reported from. */
  private behindReported = { target: 0, head: -1 }
  private validatorCache: { height: number; set: ValidatorSet } | undefined

  constructor(
    private readonly opts: ReplicaOptions,
    readonly state: State,
    head: Head,
    private readonly clock: Clock,
  ) {
    this.head = head
    this.mempool = new Mempool(opts.registry, opts.chainId, opts.mempool)
  }

  get height(): number {
    return this.head.height
  }

  validators(height = this.head.height + 1): ValidatorSet {
    // The set changes only with committed state; cache the next height's, asked for on every message.
    if (this.validatorCache?.height === height) return this.validatorCache.set
    const set = new ValidatorSet(getValidatorEntries(this.state), height)
    if (height === this.head.height + 1) this.validatorCache = { height, set }
    return set
  }

  /**
   * SPEC 2 and 3.3: judge a signed proposal or vote from the network by what it claims, before it
   * is relayed. The signature is assumed checked. A message for the next height must come from a
   * validator of that height (a proposal from that round's proposer); one for a later height, within
   * MAX_HEIGHTS_AHEAD, from a current validator (the set may change, so others are ignored, not
   * rejected); anything older or further ahead is ignored. So a stranger's key, or a validator's
   * vote for height 2^53, never reaches the state machine or a neighbour.
   */
  admit(m: { kind: 'vote'; vote: Vote } | { kind: 'proposal'; proposal: Proposal }): Admission {
    const { height, round } = m.kind === 'vote' ? m.vote : m.proposal
    const signer = m.kind === 'vote' ? m.vote.validator : m.proposal.proposer
    const next = this.head.height + 1
    if (height < next || height > next + MAX_HEIGHTS_AHEAD) return 'ignore'
    if (round > (this.machine?.round ?? 0) + MAX_ROUNDS_AHEAD) return 'ignore'
    const validators = this.validators(next)
    if (height > next) return validators.has(signer) ? 'accept' : 'ignore'
    if (!validators.has(signer)) return 'reject'
    if (m.kind === 'proposal' && signer !== validators.proposer(this.opts.proposerSeed, height, round))
      return 'reject'
    return 'accept'
  }

  epochOf(height: number): number {
    return epochNumber(this.state, height)
  }

  /** Admit a transaction to the mempool; throws TxRejectedError with the reason. */
  submitTx(tx: SignedTx): void {
    this.mempool.add(tx, this.state)
  }

  /** Begin consensus on the height after the head. */
  start(): ReplicaEffect[] {
    return this.handle({ kind: 'newHeight', height: this.head.height + 1 })
  }

  handle(event: ReplicaEvent): ReplicaEffect[] {
    switch (event.kind) {
      case 'newHeight': {
        if (event.height !== this.head.height + 1 || this.machine?.height === event.height) return []
        const idleMs = this.idleWaitMs()
        // Check again soon: a transaction may arrive before the empty-block interval is over.
        if (idleMs > 0)
          return [{ kind: 'schedule', ms: Math.min(idleMs, this.opts.blockIntervalMs || idleMs), event }]
        return this.newHeight()
      }
      case 'proposal':
        return this.onMessage(event.proposal.height, event)
      case 'vote':
        return this.onMessage(event.vote.height, event)
      case 'timeout':
        if (this.machine === undefined || event.height !== this.machine.height) return []
        return this.run(this.machine.handle({ kind: 'timeout', round: event.round, step: event.step }))
      case 'resend':
        // Resend this round's own messages every propose timeout, for peers that missed them.
        return [
          ...this.run(this.machine?.resend() ?? []),
          ...this.lastCommitVotes(),
          { kind: 'schedule', ms: this.opts.timeouts.proposeMs, event },
        ]
      case 'synced':
        return this.onSynced(event.block, event.commit)
    }
  }

  /**
   * The precommits of the head's commit, as votes, when a peer was seen still deciding that
   * height (CometBFT sends a lagging peer the last commit): those that decided move on and never
   * vote at that height again, and a node that missed their precommits could not finish it.
   */
  private lastCommitVotes(): ReplicaEffect[] {
    const c = this.head.commit
    if (!this.peerOnLastHeight || c === null) return []
    this.peerOnLastHeight = false
    return c.sigs.map(([validator, sig]) => ({
      kind: 'broadcastVote' as const,
      vote: precommitOf(c, validator, sig),
    }))
  }

  /**
   * Whether a message for the head's height shows a validator that has not decided it. A proposal
   * or a prevote does (a validator that decided never sends either for that height again), as does a
   * precommit for anything but the committed block. A precommit for the committed block does not: it
   * is what every peer that decided sends in lastCommitVotes, and counting it would keep all of them
   * resending their commits to each other every propose timeout, forever.
   */
  private deciding(event: ReplicaEvent & { kind: 'proposal' | 'vote' }): boolean {
    const c = this.head.commit
    if (c === null) return false
    if (event.kind === 'proposal' || event.vote.type !== VoteType.Precommit) return true
    return event.vote.blockHash === null || !equalBytes(event.vote.blockHash, c.blockHash)
  }

  /** How much longer to wait before an empty block: 0 when there is work or the interval is over. */
  private idleWaitMs(): number {
    const interval = this.opts.emptyBlockIntervalMs ?? 0
    if (interval === 0 || this.mempool.size > 0 || this.buffered.length > 0) return 0
    return Math.max(0, this.head.time + interval - this.clock.now())
  }

  private newHeight(): ReplicaEffect[] {
    const height = this.head.height + 1
    const validators = this.validators(height)
    this.valid.clear()
    this.machine = new HeightMachine(height, {
      chainId: this.opts.chainId,
      signer: this.opts.signer,
      validators,
      proposerOf: (round) => validators.proposer(this.opts.proposerSeed, height, round),
      propose: () => this.propose(height),
      isValid: (block) => this.isValid(block),
      timeouts: this.opts.timeouts,
    })
    const effects = this.run(this.machine.start())
    // Messages that arrived early for this height.
    const early = this.buffered.splice(0)
    for (const e of early) if (this.machine !== undefined) effects.push(...this.handle(e))
    return effects
  }

  private onMessage(height: number, event: ReplicaEvent & { kind: 'proposal' | 'vote' }): ReplicaEffect[] {
    const machine = this.machine
    // A peer still deciding our last height: send it that height's commit at the next resend.
    if (height === this.head.height && this.deciding(event)) this.peerOnLastHeight = true
    if (height <= this.head.height) return []
    if (machine !== undefined && height === machine.height) {
      return this.run(
        machine.handle(
          event.kind === 'vote'
            ? { kind: 'vote', vote: event.vote }
            : { kind: 'proposal', proposal: event.proposal },
        ),
      )
    }
    if (height === this.head.height + 1) {
      // The next height has not started here yet (we are between blocks). If we were only idling
      // for want of transactions, others have started it: join them now.
      // Only what a validator of that height may send is held, so strangers cannot crowd it out.
      if (this.admit(event) !== 'accept') return []
      const idling = this.idleWaitMs() > 0
      if (this.buffered.length < (this.opts.maxBuffered ?? 1000)) this.buffered.push(event)
      return idling ? this.newHeight() : []
    }
    return this.noteAhead(event.kind === 'vote' ? event.vote.validator : event.proposal.proposer, height)
  }

  /**
   * A current validator signed a message for a height at least two beyond ours. Once validators
   * with more than a third of the power have (so at least one honest one), the network is ahead:
   * fetch what we missed. Claims are bounded by the admission window and one per validator, and
   * the report is made again whenever the head or the target moves, so no message can switch sync
   * off for good.
   */
  private noteAhead(signer: string, height: number): ReplicaEffect[] {
    if (height > this.head.height + 1 + MAX_HEIGHTS_AHEAD) return []
    const validators = this.validators()
    if (!validators.has(signer)) return []
    this.ahead.note(signer, height)
    const reached = this.ahead.reached(validators)
    if (reached === undefined || reached <= this.head.height + 1) return []
    const target = reached - 1
    const last = this.behindReported
    if (last.head === this.head.height && target <= last.target) return []
    this.behindReported = { target, head: this.head.height }
    return [{ kind: 'behind', height: target }]
  }

  private propose(height: number): Block {
    const params = getParams(this.state)
    const { block, executed } = buildBlock(this.state, this.ctx(), {
      height,
      time: Math.max(this.clock.now(), this.head.time + 1),
      proposer: this.opts.signer!.peerId,
      epoch: this.epochOf(height),
      prevHash: this.head.hash,
      candidates: this.mempool.reap(this.state, params.maxBlockTxs),
      evidence: [...this.pendingEvidence.values()],
      lastCommit: this.head.commit,
    })
    this.valid.set(toHex(blockHash(block.header)), executed)
    return block
  }

  private isValid(block: Block): boolean {
    const key = toHex(blockHash(block.header))
    const cached = this.valid.get(key)
    if (cached !== undefined) return cached !== null
    let result: Executed | null = null
    try {
      const params = getParams(this.state)
      if (block.header.time > this.clock.now() + params.maxClockDriftMs) {
        throw new BlockRejectedError('BAD_TIME', `block ${block.header.height}: time is too far ahead`)
      }
      result = executeBlock(this.state, this.ctx(), this.head, block)
    } catch (err) {
      if (!(err instanceof BlockRejectedError || err instanceof TxRejectedError)) throw err
    }
    this.valid.set(key, result)
    return result !== null
  }

  private ctx(): { chainId: string; registry: TxRegistry } {
    return { chainId: this.opts.chainId, registry: this.opts.registry }
  }

  /** Turn machine outputs into effects; a decision commits. */
  private run(outputs: MachineOutput[]): ReplicaEffect[] {
    const effects: ReplicaEffect[] = []
    for (const o of outputs) {
      switch (o.kind) {
        case 'broadcastProposal':
        case 'broadcastVote':
          effects.push(o)
          break
        case 'schedule':
          effects.push({
            kind: 'schedule',
            ms: o.ms,
            event: { kind: 'timeout', height: o.height, round: o.round, step: o.step },
          })
          break
        case 'evidence':
          this.pendingEvidence.set(evidenceId(o.evidence), o.evidence)
          break
        case 'decide':
          effects.push(...this.commit(o.block, o.commit, this.opts.blockIntervalMs))
          break
      }
    }
    return effects
  }

  private commit(block: Block, commit: Commit, pauseMs: number): ReplicaEffect[] {
    const key = toHex(blockHash(block.header))
    const executed = this.valid.get(key) ?? executeBlock(this.state, this.ctx(), this.head, block)
    const changes = this.state.commit(executed.overlay)
    this.mempool.update(this.state, block.txs)
    this.recheckMempool(block.header.height + 1, block.header.time + 1)
    for (const e of block.evidence) this.pendingEvidence.delete(evidenceId(e))
    this.head = {
      height: block.header.height,
      hash: blockHash(block.header),
      time: block.header.time,
      commit,
    }
    this.machine = undefined
    this.valid.clear()
    this.validatorCache = undefined
    this.ahead.prune(this.head.height + 1)
    return [
      {
        kind: 'persist',
        block,
        commit,
        changes,
        failed: new Map(executed.failed.map((f) => [f.tx.hashHex, f.error])),
      },
      { kind: 'schedule', ms: pauseMs, event: { kind: 'newHeight', height: this.head.height + 1 } },
    ]
  }

  /**
   * Drop pending transactions that can no longer be charged on top of the new state (see
   * Mempool.recheck). Only the charge is checked: a transaction whose own rules now fail still
   * lands, as failed, and keeps its sender's later nonces usable.
   */
  private recheckMempool(height: number, time: number): void {
    const proposer = this.opts.signer?.peerId ?? ''
    this.mempool.recheck(this.state, (lane) => {
      const overlay = new Overlay(this.state)
      for (const [i, tx] of lane.entries()) {
        const child = overlay.child()
        try {
          chargeTx(child, tx, this.ctx(), { height, time, proposer }, true)
        } catch (err) {
          if (err instanceof TxRejectedError) return i
          throw err
        }
        overlay.absorb(child)
      }
      return lane.length
    })
  }

  /** A block fetched over `sync`: check its commit against our validators, run it, commit it. */
  private onSynced(block: Block, commit: Commit): ReplicaEffect[] {
    const h = block.header.height
    if (h !== this.head.height + 1) return []
    const validators = this.validators(h)
    const hash = blockHash(block.header)
    const why =
      checkCommit(this.opts.chainId, commit, validators, h, hash) ??
      (!validators.has(block.header.proposer)
        ? `proposer ${block.header.proposer} is not a validator`
        : undefined)
    if (why !== undefined) return [{ kind: 'rejected', what: `synced block ${h}`, reason: why }]
    try {
      const executed = executeBlock(this.state, this.ctx(), this.head, block)
      this.valid.set(toHex(hash), executed)
    } catch (err) {
      if (err instanceof BlockRejectedError || err instanceof TxRejectedError) {
        return [{ kind: 'rejected', what: `synced block ${h}`, reason: err.message }]
      }
      throw err
    }
    return this.commit(block, commit, 0)
  }
}
