import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { peerIdFromString } from '@libp2p/peer-id'
import { PeerGuard, PENALTY } from '../../../src/protocols/guard.js'
import { LedgerGossip, frameGossip } from '../../../src/protocols/ledgerGossip.js'
import { baseRegistry } from '../../../src/ledger/tx/index.js'
import { encodeVote, signVote, VoteType } from '../../../src/ledger/consensus/vote.js'
import { testSigner } from '../../helpers/chainSim.js'
import { createLogger } from '../../../src/util/logger.js'

const PEER = testSigner(7).peerId

test('penalties add up to a ban that ends, and good behaviour wins them back', () => {
  let now = 0
  const bans: string[] = []
  const guard = new PeerGuard(
    { clock: { now: () => now }, onBan: (peer) => bans.push(peer) },
    { banThreshold: 100, decayPerSecond: 1, banMs: 60_000 },
  )
  for (let i = 0; i < 9; i++) assert.equal(guard.penalize(PEER, 'bad frame', PENALTY.reject), false)
  assert.equal(guard.isBanned(PEER), false)
  // 50 s of silence forgives 50 points: nine more offences are needed, not one.
  now += 50_000
  assert.equal(guard.penalize(PEER, 'bad frame', PENALTY.reject), false)
  for (let i = 0; i < 4; i++) guard.penalize(PEER, 'bad frame', PENALTY.reject)
  assert.equal(guard.penalize(PEER, 'bad frame', PENALTY.reject), true)
  assert.deepEqual(bans, [PEER])
  assert.equal(guard.isBanned(PEER), true)
  assert.equal(guard.open(PEER, '/p', 8), null, 'a banned peer gets no stream')
  assert.equal(guard.allow(PEER, '/p', 10, 10), false)
  now += 60_001
  assert.equal(guard.isBanned(PEER), false)
  assert.notEqual(guard.open(PEER, '/p', 8), null)
})

test('stream slots and request rates are per peer and protocol', () => {
  let now = 0
  const guard = new PeerGuard({ clock: { now: () => now } })
  const slots = [guard.open(PEER, '/a', 2), guard.open(PEER, '/a', 2)]
  assert.ok(slots.every((s) => s !== null))
  assert.equal(guard.open(PEER, '/a', 2), null)
  assert.notEqual(guard.open(PEER, '/b', 2), null, 'another protocol has its own slots')
  assert.notEqual(guard.open('someone-else', '/a', 2), null, 'another peer has its own slots')
  slots[0]!()
  slots[0]!() // released twice: counted once
  assert.notEqual(guard.open(PEER, '/a', 2), null)
  assert.equal(guard.open(PEER, '/a', 2), null)

  const allowed = Array.from({ length: 30 }, () => guard.allow(PEER, '/a', 10, 20)).filter(Boolean)
  assert.equal(allowed.length, 20, 'a burst of 20')
  now += 500
  assert.equal(Array.from({ length: 30 }, () => guard.allow(PEER, '/a', 10, 20)).filter(Boolean).length, 5)
})

test('the guard forgets the least recently seen peers beyond its bound', () => {
  const guard = new PeerGuard({ clock: { now: () => 0 } }, { maxPeers: 3 })
  for (const p of ['a', 'b', 'c', 'd']) guard.penalize(p, 'x', 10)
  assert.equal(guard.score('a'), 0, 'the oldest was forgotten')
  assert.equal(guard.score('d'), 10)
})

test('a peer that relays forged or rejected votes loses score until it is banned', () => {
  type Validate = (from: unknown, m: { data: Uint8Array }) => TopicValidatorResult
  const pubsub = {
    topicValidators: new Map(),
    subscribe: () => {},
    unsubscribe: () => {},
    publish: async () => ({ recipients: [] }),
  }
  const guard = new PeerGuard({ clock: { now: () => 0 } })
  const gossip = new LedgerGossip(
    { pubsub: pubsub as never, log: createLogger({ level: 'silent' }), guard },
    {
      network: 'test',
      chainId: 'cordex-sim',
      registry: baseRegistry(),
      limits: { maxBlockBytes: 1 << 20, maxBlockTxs: 100, maxTxBytes: 4096, maxValidators: 100 },
    },
    { onTx: () => 'ignore', onProposal: () => 'accept', onVote: () => 'reject' },
  )
  gossip.start()
  const validate = pubsub.topicValidators.get(gossip.topics.vote) as Validate
  const from = peerIdFromString(PEER)
  const vote = signVote('cordex-sim', testSigner(1), {
    type: VoteType.Prevote,
    height: 1,
    round: 0,
    blockHash: null,
  })
  const garbage = new Uint8Array([0xff, 0x00, 0x13])
  assert.equal(validate(from, { data: garbage }), TopicValidatorResult.Reject)
  // The chain judged it (a stranger's vote): rejected, and the relaying peer is scored.
  assert.equal(validate(from, { data: frameGossip(encodeVote(vote), 1n) }), TopicValidatorResult.Reject)
  assert.equal(guard.score(PEER), 2 * PENALTY.reject)
  for (let i = 0; i < 8; i++) validate(from, { data: garbage })
  assert.equal(guard.isBanned(PEER), true)
  gossip.stop()
})
