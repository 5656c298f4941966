import { randomBytes } from 'node:crypto'
import { TopicValidatorResult, type GossipSub } from '@libp2p/gossipsub'
import type { Message } from '@libp2p/gossipsub'
import type { Counter } from 'prom-client'
import type { PeerId } from '@libp2p/interface'
import type { Logger } from '../util/logger.js'
import { topicName } from './ids.js'
import { PENALTY, type PeerGuard } from './guard.js'
import {
  decodeTx,
  type SignedTx,
  type TxRegistry,
  TxRejectedError,
  type BlockLimits,
  decodeVote,
  encodeVote,
  verifyVote,
  type Vote,
  decodeProposal,
  encodeProposal,
  verifyProposal,
  type Proposal,
} from '../ledger/index.js'

/** How a received transaction fared: accepted (relay it), ignored (drop it) or rejected (penalize the sender). */
export type Verdict = 'accept' | 'ignore' | 'reject'

export interface LedgerGossipHandlers {
  /** Offer a decoded, well-formed transaction to the mempool. */
  onTx: (tx: SignedTx) => Verdict
  /** Judge a signed proposal by what it claims (height, round, proposer) and queue it if accepted. */
  onProposal: (p: Proposal) => Verdict
  /** Judge a signed vote by what it claims (height, round, validator) and queue it if accepted. */
  onVote: (v: Vote) => Verdict
}

/** The topic names of the ledger's gossip, as metric labels. */
export type LedgerTopic = 'tx' | 'proposal' | 'vote'

/** What the ledger's gossip counts (the daemon's metrics; docs/metrics.md). */
export interface LedgerGossipMetrics {
  /** Received messages, by topic and the validator's result (accept, ignore, reject). */
  received: Pick<Counter<'topic' | 'result'>, 'inc'>
  /** Published messages, by topic and result (sent, failed). */
  published: Pick<Counter<'topic' | 'result'>, 'inc'>
}

export interface LedgerGossipOptions {
  network: string
  chainId: string
  registry: TxRegistry
  limits: BlockLimits
  /** The sequence number of the first message published (default: random). */
  firstSeqno?: bigint
}

/** Bytes of the sequence number that ends every ledger gossip message. */
export const SEQNO_BYTES = 8

/**
 * A ledger gossip message: the payload (a transaction, proposal or vote, each signed by its author),
 * then the publisher's 8-byte sequence number, big-endian. Gossipsub runs without its own envelope
 * signatures (`StrictNoSign`) and names a message by the hash of its bytes, so the sequence number
 * is what makes a second send of the same payload (a consensus resend) a new message that reaches
 * peers who missed the first, as gossipsub's own seqno did.
 */
export function frameGossip(payload: Uint8Array, seqno: bigint): Uint8Array {
  const data = new Uint8Array(payload.length + SEQNO_BYTES)
  data.set(payload)
  new DataView(data.buffer).setBigUint64(payload.length, BigInt.asUintN(64, seqno))
  return data
}

/** The payload of a ledger gossip message; null when it is too short to hold a sequence number. */
export function gossipPayload(data: Uint8Array): Uint8Array | null {
  return data.length < SEQNO_BYTES ? null : data.subarray(0, data.length - SEQNO_BYTES)
}

/**
 * SPEC 2 and 3: transactions, block proposals and votes over gossipsub, one topic each, named by
 * network and chain so that two chains never share a topic. Each message is decoded (bounded) and
 * checked before gossipsub relays it; a malformed one or a bad signature rejects it, which lowers
 * the sender's gossip score.
 */
export class LedgerGossip {
  readonly topics: { tx: string; proposal: string; vote: string }
  private seqno: bigint

  constructor(
    private readonly components: {
      pubsub: Pick<GossipSub, 'topicValidators' | 'subscribe' | 'unsubscribe' | 'publish'>
      log: Logger
      /** Scores the peer that relayed a rejected message (null: gossipsub's own scoring only). */
      guard?: PeerGuard | null
      /** Counts messages in and out (null: counts nothing). */
      metrics?: LedgerGossipMetrics | null
    },
    private readonly opts: LedgerGossipOptions,
    private readonly handlers: LedgerGossipHandlers,
  ) {
    const t = (name: string): string => topicName(opts.network, `${opts.chainId}/${name}`)
    this.topics = { tx: t('tx'), proposal: t('proposal'), vote: t('vote') }
    this.seqno = opts.firstSeqno ?? randomBytes(SEQNO_BYTES).readBigUInt64BE()
  }

  start(): void {
    const { pubsub } = this.components
    const judged =
      (topic: LedgerTopic, validate: (payload: Uint8Array) => TopicValidatorResult) =>
      (from: PeerId, m: Message): TopicValidatorResult => {
        // A message too short to end in a sequence number carries no payload at all.
        const payload = gossipPayload(m.data)
        const result = payload === null ? TopicValidatorResult.Reject : validate(payload)
        this.components.metrics?.received.inc({ topic, result })
        if (result === TopicValidatorResult.Reject)
          this.components.guard?.penalize(from.toString(), `invalid message on ${topic}`, PENALTY.reject)
        return result
      }
    pubsub.topicValidators.set(
      this.topics.tx,
      judged('tx', (payload) => this.validateTx(payload)),
    )
    pubsub.topicValidators.set(
      this.topics.proposal,
      judged('proposal', (payload) => this.validateProposal(payload)),
    )
    pubsub.topicValidators.set(
      this.topics.vote,
      judged('vote', (payload) => this.validateVote(payload)),
    )
    for (const t of Object.values(this.topics)) pubsub.subscribe(t)
  }

  stop(): void {
    const { pubsub } = this.components
    for (const t of Object.values(this.topics)) {
      pubsub.unsubscribe(t)
      pubsub.topicValidators.delete(t)
    }
  }

  publishTx(tx: SignedTx): void {
    this.publish('tx', tx.bytes)
  }

  publishProposal(p: Proposal): void {
    this.publish('proposal', encodeProposal(p))
  }

  publishVote(v: Vote): void {
    this.publish('vote', encodeVote(v))
  }

  private publish(name: LedgerTopic, payload: Uint8Array): void {
    const topic = this.topics[name]
    const { metrics } = this.components
    const data = frameGossip(payload, this.seqno)
    this.seqno = BigInt.asUintN(64, this.seqno + 1n)
    this.components.pubsub.publish(topic, data).then(
      () => metrics?.published.inc({ topic: name, result: 'sent' }),
      (err: unknown) => {
        metrics?.published.inc({ topic: name, result: 'failed' })
        this.components.log.debug({ topic, err: (err as Error).message }, 'publish failed')
      },
    )
  }

  private validateTx(payload: Uint8Array): TopicValidatorResult {
    let tx: SignedTx
    try {
      tx = decodeTx(this.opts.registry, payload, this.opts.limits.maxTxBytes)
    } catch (err) {
      return err instanceof TxRejectedError && err.code !== 'UNKNOWN_TYPE'
        ? TopicValidatorResult.Reject
        : TopicValidatorResult.Ignore
    }
    return toResult(this.handlers.onTx(tx))
  }

  /** Decode (bounded), check the signature, then let the chain judge what the proposal claims. */
  private validateProposal(payload: Uint8Array): TopicValidatorResult {
    let p: Proposal
    try {
      p = decodeProposal(payload, this.opts.registry, this.opts.limits)
    } catch {
      return TopicValidatorResult.Reject
    }
    if (!verifyProposal(this.opts.chainId, p)) return TopicValidatorResult.Reject
    return toResult(this.handlers.onProposal(p))
  }

  private validateVote(payload: Uint8Array): TopicValidatorResult {
    let v: Vote
    try {
      v = decodeVote(payload)
    } catch {
      return TopicValidatorResult.Reject
    }
    if (!verifyVote(this.opts.chainId, v)) return TopicValidatorResult.Reject
    return toResult(this.handlers.onVote(v))
  }
}

function toResult(v: Verdict): TopicValidatorResult {
  return v === 'accept'
    ? TopicValidatorResult.Accept
    : v === 'reject'
      ? TopicValidatorResult.Reject
      : TopicValidatorResult.Ignore
}
