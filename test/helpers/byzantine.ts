import { genesisReplica, testSigner, TEST_PARAMS } from './chainSim.js'
import { assertBooks } from './books.js'
import { genesisSupply } from '../../src/ledger/economics/index.js'
import { toHex, type Signer } from '../../src/ledger/crypto.js'
import { genesisHash, type Genesis } from '../../src/ledger/genesis.js'
import { baseRegistry, type TxRegistry } from '../../src/ledger/tx/index.js'
import { Replica, type ReplicaEffect, type ReplicaEvent } from '../../src/ledger/replica.js'
import { blockHash, type Block, type BlockLimits, type Commit } from '../../src/ledger/block.js'
import { buildBlock } from '../../src/ledger/executor.js'
import { encode } from '../../src/ledger/codec.js'
import {
  VoteType,
  decodeVote,
  encodeVote,
  signVote,
  verifyVote,
  type Vote,
} from '../../src/ledger/consensus/vote.js'
import {
  decodeProposal,
  encodeProposal,
  signProposal,
  verifyProposal,
  type Proposal,
} from '../../src/ledger/consensus/proposal.js'

/** A seeded pseudo-random source (mulberry32): the same seed gives the same run. */
export class Rng {
  private s: number

  constructor(readonly seed: number) {
    this.s = seed >>> 0
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0
    let t = this.s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  /** Uniform integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1)
  }

  chance(p: number): boolean {
    return this.next() < p
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from nothing')
    return items[this.int(items.length)]!
  }

  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n)
    for (let i = 0; i < n; i++) b[i] = this.int(256)
    return b
  }

  /** Split `items` into two random non-empty halves (when there are at least two). */
  split<T>(items: readonly T[]): [T[], T[]] {
    const shuffled = [...items]
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      ;[shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!]
    }
    const cut = shuffled.length < 2 ? shuffled.length : this.between(1, shuffled.length - 1)
    return [shuffled.slice(0, cut), shuffled.slice(cut)]
  }
}

/**
 * What the byzantine validators do. Each is a lie a validator with a real key can tell:
 * - equivocate: two different proposals, or two conflicting votes, for one round, each sent to a
 *   different part of the honest nodes;
 * - withhold: say nothing (no proposal on its turn, no vote);
 * - farFuture: signed votes and proposals for heights far ahead, up to 2^53-1;
 * - nearFuture: signed votes for the height after the one being decided (nobody has it yet);
 * - hugeRound: signed votes and proposals for the current height in rounds far ahead;
 * - replay: send again messages (honest ones and its own) from earlier heights and rounds;
 * - malformed: random bytes, truncated, bit-flipped and re-encoded messages with stale signatures;
 * - forgedBody: an honest proposal with its header and signature intact but another body (the
 *   signature covers the header only), rushed ahead of the real one to one honest node;
 * - stranger: votes and proposals signed by keys that are not validators.
 */
export type Lie =
  | 'equivocate'
  | 'withhold'
  | 'farFuture'
  | 'nearFuture'
  | 'hugeRound'
  | 'replay'
  | 'malformed'
  | 'forgedBody'
  | 'stranger'

export const ALL_LIES: readonly Lie[] = [
  'equivocate',
  'withhold',
  'farFuture',
  'nearFuture',
  'hugeRound',
  'replay',
  'malformed',
  'forgedBody',
  'stranger',
]

/** Lies told on a timer, not in answer to a message. */
const PROACTIVE: readonly Lie[] = ['farFuture', 'nearFuture', 'hugeRound', 'replay', 'malformed', 'stranger']

export interface ByzantineSimOptions {
  seed: number
  /** Voting power by validator index. */
  power: number[]
  /** Indices of the byzantine validators. */
  byzantine: number[]
  /** What the byzantine validators do (may be changed while the simulation runs). */
  lies: Iterable<Lie>
  /** Chance that a message between two nodes is lost (default 0.1). */
  dropRate?: number
  /** Delay of a message that is not lost, uniform in [min, max] ms (default [1, 40]). */
  delayMs?: [number, number]
  /**
   * Chance that an honest node forwards a byzantine message for its current height to the other
   * honest nodes (gossipsub relays what it accepts), so that both halves of an equivocation can
   * meet. Default 0.5.
   */
  relayRate?: number
  /** Mean time between two unprompted lies of one byzantine node, ms (default 100). */
  mischiefMs?: number
  /** Chance that one of a byzantine node's own proposals or votes is withheld, or equivocated (default 0.4 each). */
  lieRate?: number
  /** Blocks a caught double-signer stays jailed (default 2, so that it keeps lying most of the run). */
  jailBlocks?: number
  /**
   * The node shell's stall watchdog (ChainService's STALL_MS): when an honest node's head has not
   * moved for this long, it asks peers for whatever blocks they have. Default 15,000; 0 leaves the
   * replicas on their own.
   */
  stallSyncMs?: number
}

/** What happened on the wire, for the tests to check that every lie was told and judged. */
export interface SimStats {
  /** Messages (or withheld messages) per lie. */
  told: Record<Lie, number>
  /** Refused by decodeVote / decodeProposal. */
  undecodable: number
  /** Decoded, but the signature does not verify (the gossip layer rejects them). */
  badSignature: number
  /**
   * Messages an honest node sent that another honest node's gossip checks refused (the gossip
   * layer would lower the honest sender's score for each).
   */
  honestRefused: number
  /** Handed to a replica. */
  delivered: number
  dropped: number
  relayed: number
  /** Blocks honest nodes committed from sync rather than by voting. */
  synced: number
  /** Replica 'rejected' effects. */
  rejected: number
  /** Times the stall watchdog found a head that had not moved and asked for blocks. */
  stallSyncs: number
}

interface Decision {
  mode: 'honest' | 'withhold' | 'equivocate'
  /** For an equivocation: who gets which version. */
  first?: number[]
  second?: Uint8Array
}

interface Canonical {
  block: Block
  commit: Commit
  hash: string
}

interface Wire {
  kind: 'vote' | 'proposal'
  bytes: Uint8Array
}

interface QueueItem {
  at: number
  seq: number
  run: () => void
}

/** A binary min-heap of timed thunks, ordered by time, then by insertion. */
class EventQueue {
  private readonly items: QueueItem[] = []

  get size(): number {
    return this.items.length
  }

  peek(): QueueItem | undefined {
    return this.items[0]
  }

  push(item: QueueItem): void {
    const a = this.items
    a.push(item)
    let i = a.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!before(a[i]!, a[p]!)) break
      ;[a[i], a[p]] = [a[p]!, a[i]!]
      i = p
    }
  }

  pop(): QueueItem | undefined {
    const a = this.items
    const top = a[0]
    const last = a.pop()
    if (top === undefined || last === undefined || a.length === 0) return top
    a[0] = last
    for (let i = 0; ;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < a.length && before(a[l]!, a[m]!)) m = l
      if (r < a.length && before(a[r]!, a[m]!)) m = r
      if (m === i) break
      ;[a[i], a[m]] = [a[m]!, a[i]!]
      i = m
    }
    return top
  }
}

function before(x: QueueItem, y: QueueItem): boolean {
  return x.at < y.at || (x.at === y.at && x.seq < y.seq)
}

const CHAIN_ID = 'cordex-sim'
const RECENT_MAX = 2048
const ARCHIVE_MAX = 256
const VERIFIED_MAX = 50_000
const HEARD_MAX = 10_000

/**
 * Validators in one process on a fake clock, some of them byzantine, over a lossy network.
 *
 * Honest validators are plain Replicas. Every message between nodes travels as bytes and goes
 * through the gossip layer's checks (decodeVote / decodeProposal, then the signature, as
 * LedgerGossip does) before a replica sees it; each copy is lost with `dropRate` and otherwise
 * delayed at random, so delivery rests on the replicas' own resending and on sync, as in a
 * partially synchronous network. A replica's `behind` is answered with the blocks any peer has
 * (sync itself is not lossy: it is a request that the node shell retries), and, like
 * ChainService, a head that has not moved for `stallSyncMs` asks for blocks on its own.
 *
 * A byzantine validator runs a Replica of its own as a shadow that follows the chain: it hears
 * every honest message at once and reliably, what the other byzantine shadows would really say
 * (they collude), and is handed each committed block. So its lies are about the real height and
 * round, and the shadow's outgoing messages are the raw material it lies with.
 *
 * Every honest commit is compared with the first one at its height; evidence in committed blocks
 * must name byzantine validators only.
 */
export class ByzantineSim {
  now = 0
  readonly rng: Rng
  readonly signers: Signer[]
  readonly replicas: Replica[]
  readonly honest: number[]
  readonly byzantine: Set<number>
  readonly lies: Set<Lie>
  /** Honest nodes cut off from everyone (neither send nor receive, no sync) until removed. */
  readonly isolated = new Set<number>()
  /** height → the first block committed there by an honest node. */
  readonly canonical = new Map<number, Canonical>()
  /** Safety violations: forks, and evidence against honest validators. */
  readonly violations: string[] = []
  /** Byzantine validators punished by evidence in committed blocks: (id, height of the double-sign). */
  readonly punished: Array<{ validator: string; height: number }> = []
  readonly stats: SimStats
  readonly genesis: Genesis
  /** Sim time of the last honest commit. */
  lastCommitAt = 0

  private readonly registry: TxRegistry
  private readonly limits: BlockLimits
  private readonly proposerSeed: Uint8Array
  private readonly strangers: Signer[]
  private readonly index = new Map<string, number>()
  private readonly queue = new EventQueue()
  private seq = 0
  private readonly dropRate: number
  private readonly delay: [number, number]
  private readonly relayRate: number
  private readonly mischiefMs: number
  private readonly lieRate: number
  private readonly stallSyncMs: number
  /** Per byzantine node: messages heard lately, a sample of all heard, and its decisions per height. */
  private readonly recent = new Map<number, Wire[]>()
  private readonly archive = new Map<number, { seen: number; items: Wire[] }>()
  private readonly decisions = new Map<number, Map<number, Map<string, Decision>>>()
  private readonly verified = new Map<string, boolean>()
  /** Per byzantine node: the honest messages it has already heard (since its last block). */
  private readonly heard = new Map<number, Set<string>>()
  /** Blocks byzantine shadows committed before any honest node did, to serve over sync. */
  private readonly byzantineChain = new Map<number, { block: Block; commit: Commit }>()

  constructor(opts: ByzantineSimOptions) {
    this.rng = new Rng(opts.seed)
    this.dropRate = opts.dropRate ?? 0.1
    this.delay = opts.delayMs ?? [1, 40]
    this.relayRate = opts.relayRate ?? 0.5
    this.mischiefMs = opts.mischiefMs ?? 100
    this.lieRate = opts.lieRate ?? 0.4
    this.stallSyncMs = opts.stallSyncMs ?? 15_000
    this.lies = new Set(opts.lies)
    this.byzantine = new Set(opts.byzantine)
    this.signers = opts.power.map((_, i) => testSigner(i))
    this.signers.forEach((s, i) => this.index.set(s.peerId, i))
    this.strangers = [0, 1, 2].map((i) => testSigner(1000 + i))
    this.honest = this.signers.map((_, i) => i).filter((i) => !this.byzantine.has(i))
    this.genesis = {
      chainId: CHAIN_ID,
      time: 1_000_000,
      params: { ...TEST_PARAMS, jailBlocks: opts.jailBlocks ?? 2 },
      accounts: this.signers.map((s) => ({ id: s.peerId, balance: 1_000_000n, stake: 10_000n })),
      validators: this.signers.map((s, i) => ({ id: s.peerId, power: opts.power[i]! })),
    }
    this.registry = baseRegistry()
    this.limits = {
      maxBlockBytes: TEST_PARAMS.maxBlockBytes,
      maxBlockTxs: TEST_PARAMS.maxBlockTxs,
      maxTxBytes: TEST_PARAMS.maxTxBytes,
      maxValidators: 10_000,
    }
    this.proposerSeed = genesisHash(this.genesis)
    this.replicas = this.signers.map((signer) =>
      genesisReplica(this.genesis, signer, () => this.genesis.time + this.now, { registry: this.registry }),
    )
    this.stats = {
      told: Object.fromEntries(ALL_LIES.map((l) => [l, 0])) as Record<Lie, number>,
      undecodable: 0,
      badSignature: 0,
      honestRefused: 0,
      delivered: 0,
      dropped: 0,
      relayed: 0,
      synced: 0,
      rejected: 0,
      stallSyncs: 0,
    }
    for (const b of this.byzantine) {
      this.recent.set(b, [])
      this.archive.set(b, { seen: 0, items: [] })
      this.decisions.set(b, new Map())
      this.heard.set(b, new Set())
    }
  }

  start(): void {
    this.replicas.forEach((r, i) => {
      this.apply(i, r.start())
      this.local(i, 0, { kind: 'resend' })
      if (this.byzantine.has(i)) this.at(this.rng.int(this.mischiefMs), () => this.mischief(i))
      else if (this.stallSyncMs > 0) this.watchForStall(i, r.height)
    })
  }

  /**
   * Run until `done()`, `maxMs` of simulated time, or `stallMs` without an honest commit;
   * returns whether `done()` became true.
   */
  runUntil(done: () => boolean, maxMs: number, stallMs = 120_000): boolean {
    const end = this.now + maxMs
    this.lastCommitAt = Math.max(this.lastCommitAt, this.now)
    while (!done()) {
      const next = this.queue.peek()
      if (next === undefined || next.at > end) {
        this.now = end
        return done()
      }
      if (next.at - this.lastCommitAt > stallMs) {
        this.now = next.at
        return done()
      }
      this.queue.pop()
      this.now = next.at
      next.run()
    }
    return true
  }

  heights(nodes = this.honest): number[] {
    return nodes.map((i) => this.replicas[i]!.height)
  }

  minHeight(nodes = this.honest): number {
    return Math.min(...this.heights(nodes))
  }

  maxHeight(nodes = this.honest): number {
    return Math.max(...this.heights(nodes))
  }

  /** Power of `nodes` in the genesis validator set. */
  powerOf(nodes: Iterable<number>): number {
    let p = 0
    for (const i of nodes) p += this.genesis.validators[i]!.power
    return p
  }

  // --- event plumbing ---

  private at(ms: number, run: () => void): void {
    this.queue.push({ at: this.now + ms, seq: this.seq++, run })
  }

  private local(node: number, ms: number, event: ReplicaEvent): void {
    this.at(ms, () => this.apply(node, this.replicas[node]!.handle(event)))
  }

  private netDelay(): number {
    return this.rng.between(this.delay[0], this.delay[1])
  }

  private cut(a: number, b: number): boolean {
    return this.isolated.has(a) || this.isolated.has(b)
  }

  /** One copy over the lossy network; `ms` overrides the random delay (a rushing adversary). */
  private send(from: number, to: number, wire: Wire, relayed = false, ms?: number): void {
    if (this.cut(from, to)) return
    if (this.rng.chance(this.dropRate)) {
      this.stats.dropped++
      return
    }
    this.at(ms ?? this.netDelay(), () => this.receive(to, from, wire, relayed))
  }

  private targets(except = -1): number[] {
    return this.honest.filter((j) => j !== except && !this.isolated.has(j))
  }

  /**
   * An honest node's copy of a message arrives: the gossip layer's checks (decode, bounded, then
   * the signature), then the replica. A byzantine message for the receiver's current height may
   * be relayed on once.
   */
  private receive(to: number, from: number, wire: Wire, relayed: boolean): void {
    if (this.cut(from, to)) return
    let event: ReplicaEvent & { kind: 'vote' | 'proposal' }
    let height: number
    try {
      if (wire.kind === 'vote') {
        const vote = decodeVote(wire.bytes)
        event = { kind: 'vote', vote }
        height = vote.height
      } else {
        const proposal = decodeProposal(wire.bytes, this.registry, this.limits)
        event = { kind: 'proposal', proposal }
        height = proposal.height
      }
    } catch {
      this.stats.undecodable++
      if (!this.byzantine.has(from)) this.stats.honestRefused++
      return
    }
    if (!this.signatureOk(wire, event)) {
      this.stats.badSignature++
      if (!this.byzantine.has(from)) this.stats.honestRefused++
      return
    }
    this.stats.delivered++
    const replica = this.replicas[to]!
    this.apply(to, replica.handle(event))
    if (
      this.byzantine.has(from) &&
      !relayed &&
      height === replica.height + 1 &&
      this.rng.chance(this.relayRate)
    ) {
      this.stats.relayed++
      for (const j of this.targets(to)) this.send(to, j, wire, true)
    }
  }

  /**
   * The gossip layer's signature check, remembered per encoding: the same bytes reach every node,
   * several times over (resends), and verifying dominates the cost of a run. The replicas still
   * verify on their own.
   */
  private signatureOk(wire: Wire, event: ReplicaEvent & { kind: 'vote' | 'proposal' }): boolean {
    const key = wire.kind + Buffer.from(wire.bytes).toString('base64')
    let ok = this.verified.get(key)
    if (ok === undefined) {
      ok = event.kind === 'vote' ? verifyVote(CHAIN_ID, event.vote) : verifyProposal(CHAIN_ID, event.proposal)
      if (this.verified.size >= VERIFIED_MAX) this.verified.clear()
      this.verified.set(key, ok)
    }
    return ok
  }

  private apply(node: number, effects: ReplicaEffect[]): void {
    for (const e of effects) {
      switch (e.kind) {
        case 'broadcastProposal':
        case 'broadcastVote':
          if (this.byzantine.has(node)) this.lieWith(node, e)
          else this.broadcast(node, e)
          break
        case 'schedule':
          this.local(node, e.ms, e.event)
          break
        case 'persist':
          if (!this.byzantine.has(node)) this.onCommit(node, e.block, e.commit)
          else if (!this.canonical.has(e.block.header.height))
            this.byzantineChain.set(e.block.header.height, { block: e.block, commit: e.commit })
          break
        case 'behind':
          this.sync(node, e.height)
          break
        case 'rejected':
          this.stats.rejected++
          break
      }
    }
  }

  private broadcast(from: number, e: ReplicaEffect & { kind: 'broadcastProposal' | 'broadcastVote' }): void {
    const wire = toWire(e)
    for (const j of this.targets(from)) this.send(from, j, wire)
    if (this.isolated.has(from)) return
    // The adversary hears every honest message at once, and reliably.
    for (const b of this.byzantine) this.at(1, () => this.overhear(b, e, wire))
  }

  private onCommit(node: number, block: Block, commit: Commit): void {
    const h = block.header.height
    const hash = toHex(blockHash(block.header))
    this.lastCommitAt = this.now
    const first = this.canonical.get(h)
    if (first !== undefined) {
      if (first.hash !== hash)
        this.violations.push(`fork at ${h}: node ${node} committed ${hash}, others ${first.hash}`)
      return
    }
    this.canonical.set(h, { block, commit, hash })
    this.byzantineChain.delete(h)
    // The books balance after every block (a slashed double-signer's stake is burned).
    assertBooks(this.replicas[node]!.state, h, genesisSupply(this.genesis))
    for (const ev of block.evidence) {
      const i = this.index.get(ev.a.validator)
      if (i === undefined || !this.byzantine.has(i))
        this.violations.push(`block ${h} punishes ${ev.a.validator}, who is not byzantine`)
      else this.punished.push({ validator: ev.a.validator, height: ev.a.height })
    }
    // Byzantine shadows are handed the honest chain so they always lie about the real height.
    for (const b of this.byzantine) this.at(0, () => this.feedShadow(b))
  }

  private feedShadow(b: number): void {
    const shadow = this.replicas[b]!
    for (let h = shadow.height + 1; this.canonical.has(h); h++) {
      const c = this.canonical.get(h)!
      this.apply(b, shadow.handle({ kind: 'synced', block: c.block, commit: c.commit }))
      if (shadow.height !== h) break
    }
    const decisions = this.decisions.get(b)!
    for (const h of decisions.keys()) if (h < shadow.height) decisions.delete(h)
    this.heard.get(b)!.clear()
  }

  /** As ChainService.watchForStall: a head that did not move for stallSyncMs asks for any blocks. */
  private watchForStall(node: number, lastHeight: number): void {
    this.at(this.stallSyncMs, () => {
      const height = this.replicas[node]!.height
      if (height === lastHeight) {
        this.stats.stallSyncs++
        this.sync(node, Number.MAX_SAFE_INTEGER)
      }
      this.watchForStall(node, height)
    })
  }

  /** Serve `node` the committed blocks it asked for (as the sync protocol would, from honest peers). */
  private sync(node: number, target: number): void {
    if (this.byzantine.has(node)) {
      this.at(0, () => this.feedShadow(node))
      return
    }
    if (this.isolated.has(node)) return
    const ms = this.netDelay()
    for (let h = this.replicas[node]!.height + 1; h <= target; h++) {
      // Any peer serves what it has: a block only a byzantine node committed so far too (the
      // replica checks its commit as it would any other).
      const c = this.canonical.get(h) ?? this.byzantineChain.get(h)
      if (c === undefined) return
      this.at(ms, () => {
        if (this.isolated.has(node)) return
        const r = this.replicas[node]!
        const before = r.height
        this.apply(node, r.handle({ kind: 'synced', block: c.block, commit: c.commit }))
        if (r.height > before) this.stats.synced++
      })
    }
  }

  // --- the adversary ---

  /** A byzantine node hears an honest message: remember it for replays, perhaps forge its body. */
  private overhear(
    b: number,
    e: ReplicaEffect & { kind: 'broadcastProposal' | 'broadcastVote' },
    wire: Wire,
  ): void {
    const shadow = this.replicas[b]!
    // The adversary hears reliably: resends for the height it is deciding tell it nothing new
    // (and would cost a signature check each). A message for an older height still goes in, as
    // the sign of a peer left behind.
    const h = e.kind === 'broadcastVote' ? e.vote.height : e.proposal.height
    if (h > shadow.height) {
      const heard = this.heard.get(b)!
      const id = Buffer.from(wire.bytes).toString('base64')
      if (heard.has(id)) return
      if (heard.size >= HEARD_MAX) heard.clear()
      heard.add(id)
      this.remember(b, wire)
    }
    this.apply(
      b,
      shadow.handle(
        e.kind === 'broadcastVote'
          ? { kind: 'vote', vote: e.vote }
          : { kind: 'proposal', proposal: e.proposal },
      ),
    )
    if (
      e.kind === 'broadcastProposal' &&
      !this.byzantine.has(this.index.get(e.proposal.proposer) ?? -1) &&
      this.lies.has('forgedBody') &&
      this.rng.chance(this.lieRate)
    ) {
      const forged = this.forgeBody(b, e.proposal)
      const victim = this.targets(this.index.get(e.proposal.proposer))
      if (victim.length > 0) {
        this.stats.told.forgedBody++
        // Rushed: it arrives before any honest copy can.
        this.send(b, this.rng.pick(victim), { kind: 'proposal', bytes: encodeProposal(forged) }, false, 0)
      }
    }
  }

  private remember(b: number, wire: Wire): void {
    const recent = this.recent.get(b)!
    if (recent.length >= RECENT_MAX) recent[this.rng.int(RECENT_MAX)] = wire
    else recent.push(wire)
    // A uniform sample of everything heard, so replays reach back to the first heights.
    const arch = this.archive.get(b)!
    arch.seen++
    if (arch.items.length < ARCHIVE_MAX) arch.items.push(wire)
    else {
      const k = this.rng.int(arch.seen)
      if (k < ARCHIVE_MAX) arch.items[k] = wire
    }
  }

  /**
   * The same proposal (header and signature untouched) with another body: a flipped byte in the
   * parent's commit, or evidence added. It decodes and its signature verifies, as the signature
   * covers only the header; the block no longer matches the header.
   */
  private forgeBody(b: number, p: Proposal): Proposal {
    const block = p.block
    if (block.lastCommit !== null && block.lastCommit.sigs.length > 0) {
      const sigs = block.lastCommit.sigs.map(
        ([id, sig]) => [id, Uint8Array.from(sig)] as [string, Uint8Array],
      )
      sigs[0]![1][this.rng.int(64)]! ^= 1 << this.rng.int(8)
      return { ...p, block: { ...block, lastCommit: { ...block.lastCommit, sigs } } }
    }
    const me = this.signers[b]!
    const vote = (hash: Uint8Array | null): Vote =>
      signVote(CHAIN_ID, me, {
        type: VoteType.Prevote,
        height: Math.max(1, p.height - 1),
        round: 0,
        blockHash: hash,
      })
    return { ...p, block: { ...block, evidence: [{ a: vote(null), b: vote(this.rng.bytes(32)) }] } }
  }

  /** A byzantine node's shadow wants to send one of its own messages: send it, withhold it, or equivocate. */
  private lieWith(b: number, e: ReplicaEffect & { kind: 'broadcastProposal' | 'broadcastVote' }): void {
    const wire = toWire(e)
    this.remember(b, wire)
    // The byzantine collude: each one's shadow hears what the others' would really say.
    for (const other of this.byzantine) if (other !== b) this.at(1, () => this.overhear(other, e, wire))
    const { height, round } = e.kind === 'broadcastVote' ? e.vote : e.proposal
    const key = e.kind === 'broadcastVote' ? `v${e.vote.type}/${round}` : `p/${round}`
    const perHeight = this.decisions.get(b)!
    let atHeight = perHeight.get(height)
    if (atHeight === undefined) perHeight.set(height, (atHeight = new Map()))
    let d = atHeight.get(key)
    if (d === undefined) {
      d = { mode: 'honest' }
      if (this.lies.has('withhold') && this.rng.chance(this.lieRate)) d = { mode: 'withhold' }
      else if (this.lies.has('equivocate') && this.rng.chance(this.lieRate)) {
        const [first] = this.rng.split(this.honest)
        const second =
          e.kind === 'broadcastVote'
            ? encodeVote(this.conflictingVote(b, e.vote))
            : this.altProposal(b, e.proposal)
        d = { mode: 'equivocate', first, second }
      }
      atHeight.set(key, d)
    }
    const targets = this.targets()
    switch (d.mode) {
      case 'honest':
        for (const j of targets) this.send(b, j, wire)
        break
      case 'withhold':
        this.stats.told.withhold++
        break
      case 'equivocate': {
        this.stats.told.equivocate++
        const other: Wire = { kind: wire.kind, bytes: d.second! }
        this.remember(b, other)
        for (const j of targets) this.send(b, j, d.first!.includes(j) ? wire : other)
        break
      }
    }
  }

  /** The same vote for something else: nil for a block, a made-up block for nil. */
  private conflictingVote(b: number, v: Vote): Vote {
    return signVote(CHAIN_ID, this.signers[b]!, {
      type: v.type,
      height: v.height,
      round: v.round,
      blockHash: v.blockHash === null || this.rng.chance(0.3) ? this.rng.bytes(32) : null,
    })
  }

  /** A second, valid block for the same height and round (a later time gives it another hash). */
  private altProposal(b: number, p: Proposal): Uint8Array {
    const shadow = this.replicas[b]!
    const me = this.signers[b]!
    let block: Block
    if (shadow.height === p.height - 1) {
      block = buildBlock(
        shadow.state,
        { chainId: CHAIN_ID, registry: this.registry },
        {
          height: p.height,
          time: p.block.header.time + 1 + this.rng.int(50),
          proposer: me.peerId,
          epoch: shadow.epochOf(p.height),
          prevHash: shadow.head.hash,
          candidates: [],
          evidence: [],
          lastCommit: shadow.head.commit,
        },
      ).block
    } else {
      block = { ...p.block, header: { ...p.block.header, time: p.block.header.time + 1 } }
    }
    return encodeProposal(
      signProposal(CHAIN_ID, me, { height: p.height, round: p.round, validRound: p.validRound, block }),
    )
  }

  /** One unprompted lie, then the next one later. */
  private mischief(b: number): void {
    this.at(this.rng.between(Math.ceil(this.mischiefMs / 2), Math.ceil((3 * this.mischiefMs) / 2)), () =>
      this.mischief(b),
    )
    const lies = PROACTIVE.filter((l) => this.lies.has(l))
    if (lies.length === 0) return
    const lie = this.rng.pick(lies)
    const shadow = this.replicas[b]!
    const me = this.signers[b]!
    const h = shadow.height + 1
    const r = shadow.machine?.round ?? 0
    const everyone = this.targets()
    const sendAll = (wire: Wire): void => {
      this.stats.told[lie]++
      for (const j of everyone) this.send(b, j, wire)
    }
    const randomHash = (): Uint8Array | null => (this.rng.chance(0.3) ? null : this.rng.bytes(32))
    const vote = (signer: Signer, height: number, round: number): Wire => ({
      kind: 'vote',
      bytes: encodeVote(
        signVote(CHAIN_ID, signer, {
          type: this.rng.chance(0.5) ? VoteType.Prevote : VoteType.Precommit,
          height,
          round,
          blockHash: randomHash(),
        }),
      ),
    })
    const proposal = (signer: Signer, height: number, round: number): Wire => {
      const last = this.canonical.get(shadow.height) ?? this.canonical.get(this.canonical.size)
      const base = last?.block ?? this.blockFor(b, h)
      const block = { ...base, header: { ...base.header, height, proposer: signer.peerId } }
      return {
        kind: 'proposal',
        bytes: encodeProposal(signProposal(CHAIN_ID, signer, { height, round, validRound: -1, block })),
      }
    }
    switch (lie) {
      case 'farFuture': {
        const height = this.rng.pick([
          Number.MAX_SAFE_INTEGER,
          Number.MAX_SAFE_INTEGER - this.rng.int(1000),
          2 ** 32,
          2 ** 31,
          h + 2 + this.rng.int(1_000_000),
          h + 1000,
          h + 1001,
        ])
        const round = this.rng.pick([0, this.rng.int(10), Number.MAX_SAFE_INTEGER])
        sendAll(this.rng.chance(0.5) ? vote(me, height, round) : proposal(me, height, round))
        break
      }
      case 'nearFuture':
        sendAll(vote(me, h + 1 + this.rng.int(2), this.rng.int(2)))
        break
      case 'hugeRound': {
        const round = this.rng.pick([
          r + 2 + this.rng.int(1000),
          r + 1 + this.rng.int(1_000_000_000),
          2 ** 31,
          2 ** 32,
          Number.MAX_SAFE_INTEGER,
        ])
        if (this.rng.chance(0.5)) {
          sendAll(vote(me, h, round))
          break
        }
        // A proposal in a far round this validator really is the proposer of, with a valid block.
        const validators = shadow.validators(h)
        if (!validators.has(me.peerId) || shadow.height !== h - 1) break
        for (let k = 0; k < 64; k++) {
          const cand = round + k
          if (validators.proposer(this.proposerSeed, h, cand) !== me.peerId) continue
          const block = this.blockFor(b, h)
          sendAll({
            kind: 'proposal',
            bytes: encodeProposal(
              signProposal(CHAIN_ID, me, { height: h, round: cand, validRound: -1, block }),
            ),
          })
          break
        }
        break
      }
      case 'replay': {
        const pool = this.rng.chance(0.5) ? this.recent.get(b)! : this.archive.get(b)!.items
        if (pool.length === 0) break
        for (let k = this.rng.between(1, 5); k > 0; k--) {
          this.stats.told.replay++
          const wire = this.rng.pick(pool)
          for (const j of everyone) if (this.rng.chance(0.5)) this.send(b, j, wire)
        }
        break
      }
      case 'malformed': {
        const pool = this.recent.get(b)!
        if (pool.length === 0 || everyone.length === 0) break
        this.stats.told.malformed++
        this.send(b, this.rng.pick(everyone), this.malform(this.rng.pick(pool)))
        break
      }
      case 'stranger': {
        const s = this.rng.pick(this.strangers)
        const height = this.rng.pick([h, h, h, h + 1, h + 5, Number.MAX_SAFE_INTEGER])
        sendAll(
          this.rng.chance(0.8) ? vote(s, height, this.rng.chance(0.8) ? r : r + 1) : proposal(s, height, r),
        )
        break
      }
      default:
        break
    }
  }

  /** A valid block at `h` built on the shadow's head (only when the shadow is at h - 1). */
  private blockFor(b: number, h: number): Block {
    const shadow = this.replicas[b]!
    return buildBlock(
      shadow.state,
      { chainId: CHAIN_ID, registry: this.registry },
      {
        height: h,
        time: Math.max(this.genesis.time + this.now, shadow.head.time + 1),
        proposer: this.signers[b]!.peerId,
        epoch: shadow.epochOf(h),
        prevHash: shadow.head.hash,
        candidates: [],
        evidence: [],
        lastCommit: shadow.head.commit,
      },
    ).block
  }

  /** A broken copy of a real message: most do not decode; the rest carry a stale signature. */
  private malform(wire: Wire): Wire {
    const b = wire.bytes
    const kind = this.rng.chance(0.1) ? (wire.kind === 'vote' ? 'proposal' : 'vote') : wire.kind
    switch (this.rng.int(7)) {
      case 0:
        return { kind, bytes: this.rng.bytes(this.rng.int(600)) }
      case 1:
        return { kind, bytes: b.subarray(0, this.rng.int(b.length)) }
      case 2: {
        // A copy: the codec may hand out Buffers, whose slice() is a view.
        const c = Uint8Array.from(b)
        for (let k = this.rng.between(1, 4); k > 0; k--) c[this.rng.int(c.length)]! ^= 1 << this.rng.int(8)
        return { kind, bytes: c }
      }
      case 3: {
        const c = new Uint8Array(b.length + this.rng.between(1, 16))
        c.set(b)
        c.set(this.rng.bytes(c.length - b.length), b.length)
        return { kind, bytes: c }
      }
      case 4:
        // Over the size limit.
        return { kind, bytes: this.rng.bytes(wire.kind === 'vote' ? 513 + this.rng.int(100) : 0) }
      case 5: {
        // A field changed and the encoding made again: it decodes, the signature is stale.
        if (wire.kind === 'vote') {
          const v = decodeVote(b)
          const changed: Vote = this.rng.pick([
            { ...v, height: v.height + 1 },
            { ...v, round: v.round + 1 + this.rng.int(1_000_000) },
            { ...v, blockHash: v.blockHash === null ? this.rng.bytes(32) : null },
            { ...v, type: v.type === VoteType.Prevote ? VoteType.Precommit : VoteType.Prevote },
            { ...v, height: Number.MAX_SAFE_INTEGER },
          ])
          return { kind: 'vote', bytes: encodeVote(changed) }
        }
        const p = decodeProposal(b, this.registry, this.limits)
        const changed: Proposal = this.rng.pick([
          { ...p, round: p.round + 1 },
          { ...p, validRound: p.round - 1 },
          {
            ...p,
            height: Number.MAX_SAFE_INTEGER,
            block: { ...p.block, header: { ...p.block.header, height: Number.MAX_SAFE_INTEGER } },
          },
          { ...p, block: { ...p.block, header: { ...p.block.header, time: p.block.header.time + 1 } } },
        ])
        return { kind: 'proposal', bytes: encodeProposal(changed) }
      }
      default: {
        // Wrong shapes: a short hash, an extra field, a negative round.
        const v = wire.kind === 'vote' ? decodeVote(b) : undefined
        const id = v?.validator ?? this.signers[0]!.peerId
        return {
          kind: 'vote',
          bytes: encode(
            this.rng.pick([
              [1, 1, 0, new Uint8Array(31), id, new Uint8Array(64)],
              [1, 1, 0, null, id, new Uint8Array(64), 0],
              [1, 1, -1, null, id, new Uint8Array(64)],
              [3, 1, 0, null, id, new Uint8Array(64)],
              [1, 1.5, 0, null, id, new Uint8Array(64)],
              [1, 1, 0, null, 'x'.repeat(65), new Uint8Array(64)],
            ]),
          ),
        }
      }
    }
  }
}

function toWire(e: ReplicaEffect & { kind: 'broadcastProposal' | 'broadcastVote' }): Wire {
  return e.kind === 'broadcastVote'
    ? { kind: 'vote', bytes: encodeVote(e.vote) }
    : { kind: 'proposal', bytes: encodeProposal(e.proposal) }
}
