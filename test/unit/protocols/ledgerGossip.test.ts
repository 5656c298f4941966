import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { peerIdFromString } from '@libp2p/peer-id'
import { LedgerGossip, SEQNO_BYTES, frameGossip, gossipPayload } from '../../../src/protocols/ledgerGossip.js'
import { gossipMessageId } from '../../../src/node/libp2p.js'
import { baseRegistry } from '../../../src/ledger/tx/index.js'
import { encodeVote, signVote, VoteType, type Vote } from '../../../src/ledger/consensus/vote.js'
import { testSigner } from '../../helpers/chainSim.js'
import { createLogger } from '../../../src/util/logger.js'

const CHAIN = 'cordex-sim'
type Validate = (from: unknown, m: { data: Uint8Array }) => TopicValidatorResult

function gossipWithCapture(firstSeqno: bigint) {
  const published: Array<{ topic: string; data: Uint8Array }> = []
  const received: Vote[] = []
  const pubsub = {
    topicValidators: new Map(),
    subscribe: () => {},
    unsubscribe: () => {},
    publish: async (topic: string, data: Uint8Array) => {
      published.push({ topic, data })
      return { recipients: [] }
    },
  }
  const gossip = new LedgerGossip(
    { pubsub: pubsub as never, log: createLogger({ level: 'silent' }) },
    {
      network: 'test',
      chainId: CHAIN,
      registry: baseRegistry(),
      limits: { maxBlockBytes: 1 << 20, maxBlockTxs: 100, maxTxBytes: 4096, maxValidators: 100 },
      firstSeqno,
    },
    {
      onTx: () => 'ignore',
      onProposal: () => 'ignore',
      onVote: (v) => {
        received.push(v)
        return 'accept'
      },
    },
  )
  gossip.start()
  const validateVote = pubsub.topicValidators.get(gossip.topics.vote) as Validate
  return { gossip, published, received, validateVote }
}

const vote = signVote(CHAIN, testSigner(1), { type: VoteType.Prevote, height: 3, round: 0, blockHash: null })
const from = peerIdFromString(testSigner(7).peerId)

test('a vote sent twice goes out as two messages with the same payload and the next sequence numbers', () => {
  const { gossip, published } = gossipWithCapture(2n ** 64n - 1n)
  gossip.publishVote(vote)
  gossip.publishVote(vote)
  assert.equal(published.length, 2)
  const [a, b] = published as [{ topic: string; data: Uint8Array }, { topic: string; data: Uint8Array }]
  assert.deepEqual(gossipPayload(a.data), encodeVote(vote))
  assert.deepEqual(gossipPayload(b.data), encodeVote(vote))
  const seqno = (d: Uint8Array): bigint =>
    new DataView(d.buffer, d.byteOffset).getBigUint64(d.length - SEQNO_BYTES)
  // The counter wraps at 2^64 rather than growing past its 8 bytes.
  assert.equal(seqno(a.data), 2n ** 64n - 1n)
  assert.equal(seqno(b.data), 0n)
  // Gossipsub names a message by its topic and bytes: the resend is a new message, not a duplicate.
  assert.notDeepEqual(gossipMessageId(a), gossipMessageId(b))
  gossip.stop()
})

test('a framed vote reaches the handler whatever its sequence number; an unframed or short one is rejected', () => {
  const { gossip, received, validateVote } = gossipWithCapture(0n)
  assert.equal(validateVote(from, { data: frameGossip(encodeVote(vote), 41n) }), TopicValidatorResult.Accept)
  assert.equal(received.length, 1)
  assert.deepEqual(encodeVote(received[0]!), encodeVote(vote))
  // The vote's own bytes without a sequence number: its last 8 bytes are taken for one, and what is
  // left is not a vote.
  assert.equal(validateVote(from, { data: encodeVote(vote) }), TopicValidatorResult.Reject)
  assert.equal(validateVote(from, { data: new Uint8Array(SEQNO_BYTES - 1) }), TopicValidatorResult.Reject)
  assert.equal(received.length, 1)
  gossip.stop()
})

test('message ids differ by topic and by any byte, and are the same for the same topic and bytes', () => {
  const data = frameGossip(encodeVote(vote), 7n)
  const id = gossipMessageId({ topic: 't/vote', data })
  assert.equal(id.length, 32)
  assert.deepEqual(gossipMessageId({ topic: 't/vote', data: data.slice() }), id)
  assert.notDeepEqual(gossipMessageId({ topic: 't/tx', data }), id)
  const flipped = data.slice()
  flipped[0]! ^= 1
  assert.notDeepEqual(gossipMessageId({ topic: 't/vote', data: flipped }), id)
})
