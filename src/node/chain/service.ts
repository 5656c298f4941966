import type { Level } from 'level'
import type { PeerId } from '@libp2p/interface'
import type { Logger } from '../../util/logger.js'
import type { Clock } from '../../util/clock.js'
import { CordexError } from '../../util/errors.js'
import type { Config } from '../config/index.js'
import type { CordexLibp2p } from '../libp2p.js'
import { ChainStore } from '../db/chainStore.js'
import { genesisFromConfig } from './genesis.js'
import { OwnTxQueue, ownTxWindow, type OwnTxLane, type Queued } from './ownTxs.js'
import { PendingOverlay } from './pendingOverlay.js'
import {
  checkGenesis,
  genesisHash,
  genesisState,
  type State,
  Replica,
  type Head,
  type ReplicaEffect,
  type ReplicaEvent,
  baseRegistry,
  signTx,
  applyBody,
  minFee,
  getParams,
  getAccount,
  type SignedTx,
  type TxRegistry,
  decodeTx,
  TxRejectedError,
  blockHash,
  type BlockLimits,
  equalBytes,
  toHex,
  type Signer,
  books,
  describeBooks,
  genesisSupply,
  getHeld,
  type Block,
  type ProofVerdictBody,
  type VerifyResultBody,
} from '../../ledger/index.js'
import type { Metrics } from '../metrics.js'
import { LedgerGossip, type Verdict } from '../../protocols/ledgerGossip.js'
import { SyncProtocol } from '../../protocols/sync/index.js'
import { PENALTY, ProtocolError, type PeerGuard, type ReqRespLimits } from '../../protocols/index.js'

/** `CHAIN_UNBALANCED`: the opened state's books do not balance (docs/economics.md, "The books"). */
export type ChainErrorCode = 'CHAIN_GENESIS' | 'CHAIN_MISMATCH' | 'CHAIN_CORRUPT' | 'CHAIN_UNBALANCED'
export class ChainError extends CordexError<ChainErrorCode> {}

export interface ChainComponents {
  node: CordexLibp2p
  db: Level<string, Uint8Array>
  log: Logger
  clock: Clock
  signer: Signer
  /** Scores peers that send invalid blocks, votes or sync frames. */
  guard?: PeerGuard | null
  /**
   * Called once when the ledger cannot go on (the books do not balance after a block, with
   * `ledger.checkBooksEveryBlock`); the service has stopped taking events by then. The daemon
   * stops on it.
   */
  onFatal?: (err: ChainError) => void
  /** Where blocks, gossip, the mempool and held rewards are counted (null: nowhere). */
  metrics?: Metrics | null
}

/** Events waiting for the replica at most; gossip beyond this is dropped (and gossiped again). */
const MAX_QUEUE = 10_000

/** How often queued own transactions are looked at between blocks (timeouts, a mempool that was full), ms. */
const OWN_TX_TICK_MS = 250
/** A head that has not moved for this long makes the node ask its peers for blocks. */
const STALL_MS = 15_000

/**
 * The ledger's shell: it feeds the Replica with gossip, timers and synced blocks, one event at a
 * time, and carries out its effects: publishing, scheduling, writing each committed block in one
 * batch before the next event, and fetching missed blocks over `sync`.
 */
export class ChainService {
  readonly registry: TxRegistry = baseRegistry()
  readonly limits: BlockLimits
  readonly chainId: string
  replica!: Replica
  store!: ChainStore
  private gossip: LedgerGossip | undefined
  private sync: SyncProtocol | undefined
  private readonly queue: ReplicaEvent[] = []
  private readonly timers = new Set<NodeJS.Timeout>()
  private draining: Promise<void> | undefined
  private running = false
  private syncing = false
  private readonly commitListeners = new Set<() => void>()
  /** When this node proposed a block, by height and round (to measure proposal-to-finality). */
  private readonly proposedAt = new Map<string, number>()
  /** Proposal-to-finality times of the last blocks this node proposed, ms (at most 1000). */
  readonly finalityMs: number[] = []
  /** (height, block time) of the last committed heads, for the pace of blocks. */
  private readonly recentHeads: Array<[number, number]> = []
  /** This node's transactions waiting for room in the mempools' window (see OwnTxQueue). */
  private readonly ownTxs: OwnTxQueue
  private readonly ownWindow: number
  /** Own pending transactions applied, for checking the next one (sendTx). */
  private readonly pending = new PendingOverlay()
  private ownTick: NodeJS.Timeout | undefined
  /** Header time of the last committed block (or genesis), ms: the start of the next block interval. */
  private lastBlockTime = 0
  /** Coins issued by the genesis: the books' third side (set at start). */
  private genesisSupply = 0n

  constructor(
    private readonly components: ChainComponents,
    private readonly config: Config,
    private readonly reqLimits: ReqRespLimits,
  ) {
    const p = config.genesis.params
    this.chainId = config.genesis.chainId
    this.limits = {
      maxBlockBytes: p.maxBlockBytes,
      maxBlockTxs: p.maxBlockTxs,
      maxTxBytes: p.maxTxBytes,
      maxValidators: 10_000,
    }
    this.ownWindow = ownTxWindow(config.mempool)
    this.ownTxs = new OwnTxQueue({
      clock: components.clock,
      room: () => this.ownWindow - this.ownPending(),
      send: (tx) => this.sendTx(tx.type, tx.body, { fee: tx.fee, check: tx.check }),
    })
  }

  get head(): Head {
    return this.replica.head
  }

  async start(): Promise<void> {
    const { node, log, clock, signer, guard, metrics } = this.components
    const genesis = genesisFromConfig(this.config.genesis)
    const bad = checkGenesis(genesis)
    if (bad !== undefined) throw new ChainError('CHAIN_GENESIS', `invalid genesis: ${bad}`)
    const gHash = genesisHash(genesis)
    this.store = new ChainStore(this.components.db, this.registry, this.limits)
    const { state, head } = await this.open(gHash, genesisState(genesis), genesis.time)
    this.genesisSupply = genesisSupply(genesis)
    this.checkBooks(state, head.height)
    this.lastBlockTime = head.time
    log.info({ chainId: this.chainId, height: head.height, hash: toHex(head.hash) }, 'ledger loaded')

    const c = this.config.consensus
    this.replica = new Replica(
      {
        chainId: this.chainId,
        registry: this.registry,
        signer,
        timeouts: {
          proposeMs: c.proposeTimeoutMs,
          prevoteMs: c.prevoteTimeoutMs,
          precommitMs: c.precommitTimeoutMs,
          deltaMs: c.timeoutDeltaMs,
        },
        blockIntervalMs: c.blockIntervalMs,
        emptyBlockIntervalMs: c.emptyBlockIntervalMs,
        proposerSeed: gHash,
        mempool: this.config.mempool,
      },
      state,
      head,
      clock,
    )
    const chain = {
      network: this.config.network,
      chainId: this.chainId,
      registry: this.registry,
      limits: this.limits,
    }
    this.gossip = new LedgerGossip(
      { pubsub: node.services.pubsub, log, guard, metrics: metrics?.gossip },
      chain,
      {
        onTx: (tx) => this.admit(tx),
        onProposal: (proposal) => this.judge({ kind: 'proposal', proposal }),
        onVote: (vote) => this.judge({ kind: 'vote', vote }),
      },
    )
    this.sync = new SyncProtocol({ node, log, guard }, chain, this.reqLimits)
    await this.sync.start({
      headHeight: () => this.replica.head.height,
      blockBytes: (h) => this.store.blocks.getBytes(h),
      commitBytes: (h) => this.store.commits.getBytes(h),
    })
    this.gossip.start()
    this.track(metrics ?? null)
    this.running = true
    await this.perform(this.replica.start())
    this.enqueue({ kind: 'resend' })
    this.watchForStall(this.replica.head.height)
  }

  /** Gauges of the ledger's state, read when Prometheus scrapes. */
  private track(metrics: Metrics | null): void {
    if (metrics === null) return
    const { chain } = metrics
    chain.height.addCollect((g) => g.set(this.replica.head.height))
    chain.mempoolTxs.addCollect((g) => g.set(this.replica.mempool.size))
    chain.mempoolBytes.addCollect((g) => g.set(this.replica.mempool.sizeBytes))
    const me = this.components.signer.peerId
    chain.heldRewards.addCollect((g) => {
      let own = 0n
      let all = 0n
      for (const [peer, , amount] of getHeld(this.replica.state)) {
        all += amount
        if (peer === me) own += amount
      }
      g.set({ scope: 'own' }, Number(own))
      g.set({ scope: 'all' }, Number(all))
    })
  }

  /** Count a committed block: its transactions, the verdicts in it, the time since the one before. */
  private countBlock(block: Block, failed: ReadonlyMap<string, unknown>, prevTime: number): void {
    const chain = this.components.metrics?.chain
    if (chain === undefined) return
    chain.blocks.inc()
    if (block.header.height > 1) chain.blockInterval.observe(Math.max(0, block.header.time - prevTime) / 1000)
    for (const tx of block.txs) {
      const ok = !failed.has(tx.hashHex)
      chain.txs.inc({ type: tx.type, result: ok ? 'ok' : 'failed' })
      if (!ok) continue
      if (tx.type === 'VerifyResult')
        chain.verdicts.inc({ kind: 'task', result: (tx.body as VerifyResultBody).ok ? 'pass' : 'fail' })
      else if (tx.type === 'ProofVerdict')
        chain.verdicts.inc({ kind: 'race', result: (tx.body as ProofVerdictBody).accepted ? 'pass' : 'fail' })
    }
  }

  /**
   * Gossip shows that the network is ahead only within a window of heights (MAX_HEIGHTS_AHEAD).
   * A node further behind, or one that missed every sign, would wait for ever: so when the head
   * has not moved for STALL_MS, ask peers over `sync` for whatever they have.
   */
  private watchForStall(lastHeight: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t)
      if (!this.running) return
      const height = this.replica.head.height
      if (height === lastHeight) void this.catchUp(Number.MAX_SAFE_INTEGER)
      this.watchForStall(height)
    }, STALL_MS)
    this.timers.add(t)
  }

  /**
   * Open the stored chain, or write genesis into an empty store. A store of another chain, or
   * one whose state does not hash to its head's state root, is refused.
   */
  private async open(gHash: Uint8Array, genesis: State, time: number): Promise<{ state: State; head: Head }> {
    const head = await this.store.head()
    if (head === undefined) {
      await this.store.initGenesis([...genesis.encoded()], gHash, time)
      return { state: genesis, head: { height: 0, hash: gHash, time, commit: null } }
    }
    const first = head.height === 0 ? undefined : await this.store.blocks.get(1)
    if (!equalBytes(first?.header.prevHash ?? head.hash, gHash)) {
      throw new ChainError('CHAIN_MISMATCH', 'the data directory holds another chain than this genesis')
    }
    const state = await this.store.loadState()
    const expected =
      head.height === 0 ? genesis.root : (await this.store.blocks.get(head.height))?.header.stateRoot
    if (expected === undefined || !equalBytes(expected, state.root)) {
      throw new ChainError(
        'CHAIN_CORRUPT',
        `stored state does not match the state root of block ${head.height}`,
      )
    }
    return { state, head }
  }

  /**
   * The books of the opened state must balance (issue 12): every coin held is counted by the
   * supply, and the supply is genesis plus minted less burned. A state whose root matches its
   * block yet whose books do not was written by a wrong migration or by rules that made or lost
   * coins: the node does not run on it. Logs both sides; throws CHAIN_UNBALANCED.
   */
  private checkBooks(state: State, height: number): void {
    const why = this.unbalanced(state, height)
    if (why === undefined) return
    throw new ChainError(
      'CHAIN_UNBALANCED',
      `refusing to start: the stored state at height ${height}: ${why}. Restore the data ` +
        'directory from a good copy, or move it aside and sync from peers',
      { height },
    )
  }

  /**
   * `ledger.checkBooksEveryBlock`: the books of the state block `height` left must balance, as at
   * start-up. The block is final (the validators committed it), so nothing can undo it here: the
   * node stops taking events rather than build on coins made or lost, logs both sides, and hands
   * CHAIN_UNBALANCED to `onFatal`. Returns whether the books balance.
   */
  private checkBlockBooks(height: number): boolean {
    const why = this.unbalanced(this.replica.state, height)
    if (why === undefined) return true
    this.running = false
    this.components.onFatal?.(
      new ChainError('CHAIN_UNBALANCED', `stopping: after block ${height}, ${why}`, { height }),
    )
    return false
  }

  /** Count the books of `state`; when they do not balance, log both sides and say why. */
  private unbalanced(state: State, height: number): string | undefined {
    const b = books(state)
    const why = describeBooks(b, this.genesisSupply)
    if (why === undefined) return undefined
    const { total, minted, burned } = b.supply
    this.components.log.error(
      {
        height,
        supply: {
          genesis: String(this.genesisSupply),
          minted: String(minted),
          burned: String(burned),
          total: String(total),
        },
        holdings: {
          total: String(b.holdings),
          ...Object.fromEntries(b.stores.map((x) => [x.name, String(x.amount)])),
        },
      },
      'the books do not balance',
    )
    return why
  }

  async stop(): Promise<void> {
    this.running = false
    this.ownTxs.stop()
    clearInterval(this.ownTick)
    this.ownTick = undefined
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    this.gossip?.stop()
    await this.sync?.stop()
    // Let an in-flight event finish its write.
    await this.draining
  }

  /**
   * Admit a signed transaction from this node's API and gossip it; throws TxRejectedError. What
   * every peer will do with the bytes is done here first: a transaction that does not come back
   * whole through the network's decoder (within the network's size limit) is refused, so this node
   * never queues a nonce that no peer can accept and that would hold up all its later ones.
   */
  submit(tx: SignedTx): void {
    const again = decodeTx(this.registry, tx.bytes, this.limits.maxTxBytes)
    if (!equalBytes(again.hash, tx.hash)) {
      throw new TxRejectedError('BAD_ENCODING', 'the transaction does not survive its own encoding')
    }
    this.replica.submitTx(again)
    this.gossip?.publishTx(tx)
  }

  /** Resolves once the event in progress, a block being written for one, has finished. */
  async settled(): Promise<void> {
    await this.draining
  }

  /** Call `listener` after every committed block (after it is on disk). */
  /** The mean time between the last committed blocks, ms (null until two were seen). */
  blockIntervalMs(): number | null {
    const first = this.recentHeads[0]
    const last = this.recentHeads[this.recentHeads.length - 1]
    if (first === undefined || last === undefined || last[0] === first[0]) return null
    return (last[1] - first[1]) / (last[0] - first[0])
  }

  onCommit(listener: () => void): void {
    this.commitListeners.add(listener)
  }

  offCommit(listener: () => void): void {
    this.commitListeners.delete(listener)
  }

  /**
   * Sign a transaction of `type` with this node's key, at its next nonce (after its pending ones),
   * admit it and gossip it. `body` is in its decoded form (`fromJson` turns a client's JSON into it). Throws
   * TxRejectedError or CodecError.
   */
  sendTx(type: string, body: unknown, opts: { fee?: bigint; check?: boolean } = {}): SignedTx {
    const t = this.registry.get(type)
    if (t === undefined) throw new TxRejectedError('UNKNOWN_TYPE', `unknown transaction type ${type}`)
    const { signer } = this.components
    const state = this.replica.state
    const tx = signTx(this.registry, this.chainId, signer, {
      type,
      nonce: this.replica.mempool.nextNonce(signer.peerId, state),
      fee: opts.fee ?? minFee(t, getParams(state).minTxFee),
      body,
    })
    // Refuse at once what would fail now (SPEC 5.3: refusals are immediate and specific), rather
    // than let it land as a failed transaction that pays its fee. `check: false` is for a
    // transaction that depends on one of this node's own still-pending ones (a task's receipt).
    if (opts.check !== false) {
      const block = {
        height: this.replica.head.height + 1,
        time: this.components.clock.now(),
        proposer: signer.peerId,
      }
      // On top of this node's pending ones, as a block would run them: concurrent tasks must not
      // escrow together more than the balance holds.
      const pending = this.pending.on(
        state,
        this.replica.head.hash,
        this.replica.mempool.lane(signer.peerId, state),
        (o, p) => applyBody(o, p, this, block),
      )
      applyBody(pending.child(), tx, this, block)
    }
    this.submit(tx)
    return tx
  }

  /**
   * Sign and send `type` through the queue of own transactions: at once when the mempools' window
   * has room (`sent`), else when blocks make room (`done`). Settlements (`lane: 'settle'`) go
   * before new tasks' escrows; see OwnTxQueue for the errors `done` rejects with.
   */
  queueTx(
    type: string,
    body: unknown,
    opts: { lane: OwnTxLane; check?: boolean; fee?: bigint; signal?: AbortSignal },
  ): Queued {
    const queued = this.ownTxs.enqueue(
      { type, body, fee: opts.fee, check: opts.check },
      { lane: opts.lane, signal: opts.signal },
    )
    // Between blocks: time out what waited too long, retry after a full mempool.
    if (this.ownTxs.size > 0 && this.ownTick === undefined && this.running) {
      this.ownTick = setInterval(() => {
        this.ownTxs.pump()
        if (this.ownTxs.size === 0) {
          clearInterval(this.ownTick)
          this.ownTick = undefined
        }
      }, OWN_TX_TICK_MS)
    }
    return queued
  }

  /** Whether a transaction is in this node's mempool. */
  isPending(hashHex: string): boolean {
    return this.replica.mempool.has(hashHex)
  }

  /** This node's own transactions pending in its mempool, from its committed nonce on. */
  private ownPending(): number {
    const me = this.components.signer.peerId
    const state = this.replica.state
    return this.replica.mempool.nextNonce(me, state) - getAccount(state, me).nonce
  }

  private admit(tx: SignedTx): Verdict {
    try {
      this.replica.submitTx(tx)
      return 'accept'
    } catch (err) {
      if (!(err instanceof TxRejectedError)) throw err
      return err.code === 'BAD_SIGNATURE' || err.code === 'TOO_LARGE' ? 'reject' : 'ignore'
    }
  }

  /** A consensus message from gossip: queue it for the replica only if it may be relayed. */
  private judge(event: ReplicaEvent & { kind: 'vote' | 'proposal' }): Verdict {
    const verdict = this.replica.admit(event)
    const height = event.kind === 'vote' ? event.vote.height : event.proposal.height
    // One for the head's height is not relayed, but it tells the replica that a peer is still
    // deciding that height, so it sends that height's commit again (Replica.lastCommitVotes).
    if (verdict === 'accept' || height === this.replica.head.height) this.enqueue(event)
    return verdict
  }

  private enqueue(event: ReplicaEvent): void {
    if (!this.running) return
    if (this.queue.length >= MAX_QUEUE) {
      this.components.log.warn({ kind: event.kind }, 'event queue full: dropping')
      return
    }
    this.queue.push(event)
    this.draining ??= this.drain().finally(() => (this.draining = undefined))
  }

  private async drain(): Promise<void> {
    for (let e = this.queue.shift(); e !== undefined && this.running; e = this.queue.shift()) {
      try {
        await this.perform(this.replica.handle(e))
      } catch (err) {
        this.components.log.error({ err, kind: e.kind }, 'ledger event failed')
      }
    }
  }

  private async perform(effects: ReplicaEffect[]): Promise<void> {
    for (const e of effects) {
      switch (e.kind) {
        case 'broadcastProposal':
          // The first time only: a resent proposal is not a new one.
          if (!this.proposedAt.has(roundKey(e.proposal.height, e.proposal.round))) {
            this.proposedAt.set(roundKey(e.proposal.height, e.proposal.round), performance.now())
          }
          this.gossip?.publishProposal(e.proposal)
          break
        case 'broadcastVote':
          this.gossip?.publishVote(e.vote)
          break
        case 'schedule': {
          const t = setTimeout(() => {
            this.timers.delete(t)
            this.enqueue(e.event)
          }, e.ms)
          this.timers.add(t)
          break
        }
        case 'persist': {
          const prevTime = this.lastBlockTime
          await this.store.commitBlock(e.block, e.commit, e.changes, e.failed)
          this.lastBlockTime = e.block.header.time
          this.countBlock(e.block, e.failed, prevTime)
          this.recordFinality(e.block.header.height, e.commit.round)
          // Off by default: one pass over the state per block (docs/economics.md, "The books").
          if (this.config.ledger.checkBooksEveryBlock && !this.checkBlockBooks(e.block.header.height)) return
          this.components.log.debug(
            {
              height: e.block.header.height,
              hash: toHex(blockHash(e.block.header)),
              txs: e.block.txs.length,
            },
            'block committed',
          )
          // The block took pending own transactions: send queued ones before anyone else looks.
          this.ownTxs.pump()
          this.recentHeads.push([this.head.height, this.head.time])
          if (this.recentHeads.length > 64) this.recentHeads.shift()
          for (const l of [...this.commitListeners]) l()
          break
        }
        case 'behind':
          void this.catchUp(e.height)
          break
        case 'rejected':
          this.components.log.warn({ what: e.what, reason: e.reason }, 'rejected')
          break
      }
    }
  }

  private recordFinality(height: number, round: number): void {
    const at = this.proposedAt.get(roundKey(height, round))
    for (const key of this.proposedAt.keys())
      if (Number(key.split('/')[0]) <= height) this.proposedAt.delete(key)
    if (at === undefined) return
    const ms = performance.now() - at
    this.components.metrics?.chain.proposalToFinality.observe(ms / 1000)
    this.finalityMs.push(ms)
    if (this.finalityMs.length > 1000) this.finalityMs.shift()
  }

  /** Fetch blocks from connected peers until the head reaches `target` or nobody has more. */
  private async catchUp(target: number): Promise<void> {
    if (this.syncing) return
    this.syncing = true
    try {
      let progress = true
      while (this.running && progress && this.replica.head.height < target) {
        progress = false
        for (const peer of this.components.node.getPeers()) {
          const from = this.replica.head.height + 1
          if ((await this.fetchFrom(peer, from)) === 0) continue
          await this.draining
          progress = this.replica.head.height >= from
          if (progress) break
        }
      }
      this.components.log.info(
        { height: this.replica.head.height, target: target === Number.MAX_SAFE_INTEGER ? null : target },
        'sync finished',
      )
    } finally {
      this.syncing = false
    }
  }

  private async fetchFrom(peer: PeerId, from: number): Promise<number> {
    try {
      const res = await this.sync!.fetch(peer, from, 64)
      for (const { block, commit } of res.blocks) this.enqueue({ kind: 'synced', block, commit })
      return res.blocks.length
    } catch (err) {
      this.components.log.debug({ peer: peer.toString(), err: (err as Error).message }, 'sync request failed')
      // A response that does not decode is the peer's fault; a timeout or a refusal may not be.
      const action =
        err instanceof ProtocolError ? err.meta.action : err instanceof CordexError ? 'reject' : 'ignore'
      this.components.guard?.penalize(
        peer.toString(),
        `bad sync response: ${(err as Error).message}`,
        PENALTY[action],
      )
      return 0
    }
  }
}

function roundKey(height: number, round: number): string {
  return `${height}/${round}`
}
