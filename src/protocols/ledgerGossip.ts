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
}

/**
 * SPEC 2 and 3: transactions, block proposals and votes over gossipsub, one topic each, named by
 * network and chain so that two chains never share a topic. Each message is decoded (bounded) and
 * checked before gossipsub relays it; a malformed one or a bad signature rejects it, which lowers
 * the sender's gossip score.
 */
export class LedgerGossip {
  readonly topics: { tx: string; proposal: string; vote: string }

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
  }

  start(): void {
    const { pubsub } = this.components
    const judged =
      (topic: LedgerTopic, validate: (m: Message) => TopicValidatorResult) =>
      (from: PeerId, m: Message): TopicValidatorResult => {
        const result = validate(m)
        this.components.metrics?.received.inc({ topic, result })
        if (result === TopicValidatorResult.Reject)
          this.components.guard?.penalize(from.toString(), `invalid message on ${topic}`, PENALTY.reject)
        return result
      }
    pubsub.topicValidators.set(
      this.topics.tx,
      judged('tx', (m) => this.validateTx(m)),
    )
    pubsub.topicValidators.set(
      this.topics.proposal,
      judged('proposal', (m) => this.validateProposal(m)),
    )
    pubsub.topicValidators.set(
      this.topics.vote,
      judged('vote', (m) => this.validateVote(m)),
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

  private publish(name: LedgerTopic, data: Uint8Array): void {
    const topic = this.topics[name]
    const { metrics } = this.components
    this.components.pubsub.publish(topic, data).then(
      () => metrics?.published.inc({ topic: name, result: 'sent' }),
      (err: unknown) => {
        metrics?.published.inc({ topic: name, result: 'failed' })
        this.components.log.debug({ topic, err: (err as Error).message }, 'publish failed')
      },
    )
  }

  private validateTx(m: Message): TopicValidatorResult {
    let tx: SignedTx
    try {
      tx = decodeTx(this.opts.registry, m.data, this.opts.limits.maxTxBytes)
    } catch (err) {
      return err instanceof TxRejectedError && err.code !== 'UNKNOWN_TYPE'
        ? TopicValidatorResult.Reject
        : TopicValidatorResult.Ignore
    }
    return toResult(this.handlers.onTx(tx))
  }

  /** Decode (bounded), check the signature, then let the chain judge what the proposal claims. */
  private validateProposal(m: Message): TopicValidatorResult {
    let p: Proposal
    try {
      p = decodeProposal(m.data, this.opts.registry, this.opts.limits)
    } catch {
      return TopicValidatorResult.Reject
    }
    if (!verifyProposal(this.opts.chainId, p)) return TopicValidatorResult.Reject
    return toResult(this.handlers.onProposal(p))
  }

  private validateVote(m: Message): TopicValidatorResult {
    let v: Vote
    try {
      v = decodeVote(m.data)
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
