import type { RaceParams } from '../../src/ledger/epoch/records.js'
import { createHash } from 'node:crypto'
import { signerFromSeed, toHex, type Signer } from '../../src/ledger/crypto.js'
import { genesisState, genesisHash, type Genesis } from '../../src/ledger/genesis.js'
import { baseRegistry, type SignedTx, type TxRegistry } from '../../src/ledger/tx/index.js'
import {
  Replica,
  type ReplicaEffect,
  type ReplicaEvent,
  type ReplicaOptions,
} from '../../src/ledger/replica.js'
import { blockHash, type Block, type Commit } from '../../src/ledger/block.js'
import type { Params } from '../../src/ledger/state/records.js'
import { signVote, type Vote } from '../../src/ledger/consensus/vote.js'
import { genesisSupply } from '../../src/ledger/economics/index.js'
import { assertBooks } from './books.js'

export const TEST_PARAMS: Params = {
  minTxFee: 1n,
  maxTxBytes: 4096,
  maxBlockTxs: 1000,
  maxBlockBytes: 1 << 20,
  epochBlocks: 100,
  unbondingBlocks: 5,
  slashBps: 1000,
  jailBlocks: 50,
  maxClockDriftMs: 10_000,
}

/** Race parameters of the ledger unit tests: one commit and one reveal block, a 2-second Race. */
export const TEST_RACE: RaceParams = {
  commitBlocks: 1,
  revealBlocks: 1,
  raceMs: 1000,
  submitMs: 500,
  validateMs: 500,
  maxProofNonces: 100,
  sampleSize: 4,
  maxSampleFailures: 1,
  noRevealPenalty: 0n,
  maxWeightPerPeer: 0,
  minRevealBps: 5000,
  committeeSize: 0,
}

/** A deterministic key per index. */
export function testSigner(i: number): Signer {
  return signerFromSeed(createHash('sha256').update(`cordex-test-key-${i}`).digest())
}

export function testGenesis(signers: Signer[], power: number[] = signers.map(() => 1)): Genesis {
  return {
    chainId: 'cordex-sim',
    time: 1_000_000,
    params: TEST_PARAMS,
    accounts: signers.map((s) => ({ id: s.peerId, balance: 1_000_000n, stake: 10_000n })),
    validators: signers.map((s, i) => ({ id: s.peerId, power: power[i]! })),
  }
}

/**
 * A replica of `genesis` at height 0, signing with `signer`, with the simulations' fast timeouts
 * (`extra` overrides any option), on the clock `now`.
 */
export function genesisReplica(
  genesis: Genesis,
  signer: Signer,
  now: () => number,
  extra: Partial<ReplicaOptions> & { registry?: TxRegistry } = {},
): Replica {
  return new Replica(
    {
      chainId: genesis.chainId,
      registry: baseRegistry(),
      signer,
      timeouts: { proposeMs: 300, prevoteMs: 100, precommitMs: 100, deltaMs: 50 },
      blockIntervalMs: 10,
      proposerSeed: genesisHash(genesis),
      ...extra,
    },
    genesisState(genesis),
    { height: 0, hash: genesisHash(genesis), time: genesis.time, commit: null },
    { now },
  )
}

interface Queued {
  at: number
  seq: number
  node: number
  event: ReplicaEvent
  /** A message from another node (dropped for a silenced node), not one of its own timers. */
  network: boolean
}

/**
 * Many replicas in one process on a fake clock: a priority queue of timed events, a message bus
 * with a fixed latency, and per-node switches to silence a node (it neither sends nor receives)
 * or to make it equivocate. Every commit is checked against every other node's at that height,
 * and the committing node's books must balance after it (a throw names the height).
 */
export class ChainSim {
  now = 0
  readonly replicas: Replica[]
  readonly signers: Signer[]
  readonly silent = new Set<number>()
  readonly equivocators = new Set<number>()
  /** node → blocks and commits it persisted, by height. */
  readonly stored: Array<Map<number, { block: Block; commit: Commit }>>
  /** height → hash hex of the first commit seen; a different one later is a safety violation. */
  readonly decided = new Map<number, string>()
  violations: string[] = []
  /** Votes broadcast, by the height they are for (resends included). */
  readonly votesSent = new Map<number, number>()
  private queue: Queued[] = []
  private seq = 0
  private readonly genesisSupply: bigint

  constructor(
    count: number,
    readonly latencyMs = 2,
    power?: number[],
    emptyBlockIntervalMs = 0,
  ) {
    this.signers = Array.from({ length: count }, (_, i) => testSigner(i))
    const genesis = testGenesis(this.signers, power)
    this.genesisSupply = genesisSupply(genesis)
    const registry = baseRegistry()
    this.stored = this.signers.map(() => new Map())
    this.replicas = this.signers.map((signer) =>
      genesisReplica(genesis, signer, () => genesis.time + this.now, { registry, emptyBlockIntervalMs }),
    )
  }

  start(): void {
    this.replicas.forEach((r, i) => {
      this.apply(i, r.start())
      this.push(i, 0, { kind: 'resend' })
    })
  }

  /** Run until `done()` or `maxMs` of simulated time; returns whether `done()` became true. */
  runUntil(done: () => boolean, maxMs: number): boolean {
    const end = this.now + maxMs
    while (!done()) {
      const next = this.queue.shift()
      if (next === undefined || next.at > end) {
        if (next !== undefined) this.queue.unshift(next)
        this.now = end
        return done()
      }
      this.now = next.at
      // A silenced node keeps its own timers but hears nothing (and says nothing: see broadcast).
      if (next.network && this.silent.has(next.node)) continue
      this.apply(next.node, this.replicas[next.node]!.handle(next.event))
    }
    return true
  }

  /** Hand a transaction to one node's mempool, as if a client had sent it there. */
  submit(node: number, tx: SignedTx): void {
    this.replicas[node]!.submitTx(tx)
    for (let j = 0; j < this.replicas.length; j++) if (j !== node) this.replicas[j]!.submitTx(tx)
  }

  minHeight(nodes = this.replicas.map((_, i) => i)): number {
    return Math.min(...nodes.map((i) => this.replicas[i]!.height))
  }

  private push(node: number, ms: number, event: ReplicaEvent, network = false): void {
    const item = { at: this.now + ms, seq: this.seq++, node, event, network }
    // Insert in order (queues here stay small).
    let i = this.queue.length
    while (
      i > 0 &&
      (this.queue[i - 1]!.at > item.at ||
        (this.queue[i - 1]!.at === item.at && this.queue[i - 1]!.seq > item.seq))
    )
      i--
    this.queue.splice(i, 0, item)
  }

  private broadcast(from: number, event: ReplicaEvent): void {
    if (this.silent.has(from)) return
    for (let j = 0; j < this.replicas.length; j++) if (j !== from) this.push(j, this.latencyMs, event, true)
  }

  private apply(node: number, effects: ReplicaEffect[]): void {
    for (const e of effects) {
      switch (e.kind) {
        case 'broadcastProposal':
          this.broadcast(node, { kind: 'proposal', proposal: e.proposal })
          break
        case 'broadcastVote':
          this.votesSent.set(e.vote.height, (this.votesSent.get(e.vote.height) ?? 0) + 1)
          this.broadcast(node, { kind: 'vote', vote: e.vote })
          if (this.equivocators.has(node))
            this.broadcast(node, { kind: 'vote', vote: this.conflicting(node, e.vote) })
          break
        case 'schedule':
          this.push(node, e.ms, e.event)
          break
        case 'persist': {
          const h = e.block.header.height
          const hash = toHex(blockHash(e.block.header))
          this.stored[node]!.set(h, { block: e.block, commit: e.commit })
          const first = this.decided.get(h)
          if (first === undefined) this.decided.set(h, hash)
          else if (first !== hash)
            this.violations.push(`node ${node} committed ${hash} at ${h}, others ${first}`)
          assertBooks(this.replicas[node]!.state, h, this.genesisSupply)
          break
        }
        case 'behind':
          this.sync(node, e.height)
          break
        case 'rejected':
          break
      }
    }
  }

  /** Serve `node` the blocks it missed from any node that has them. */
  private sync(node: number, upTo: number): void {
    for (let h = this.replicas[node]!.height + 1; h <= upTo; h++) {
      const source = this.stored.find((s, i) => i !== node && !this.silent.has(i) && s.has(h))?.get(h)
      if (source === undefined) return
      this.push(node, this.latencyMs, { kind: 'synced', block: source.block, commit: source.commit }, true)
    }
  }

  /** The same vote for the other choice (nil instead of a block, or a made-up block hash). */
  private conflicting(node: number, v: Vote): Vote {
    const blockHash = v.blockHash === null ? new Uint8Array(32).fill(7) : null
    return signVote('cordex-sim', this.signers[node]!, {
      type: v.type,
      height: v.height,
      round: v.round,
      blockHash,
    })
  }
}
