import { test } from 'node:test'
import { decode as cborDecode } from 'cborg'
import { TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { LedgerGossip, frameGossip, type Verdict } from '../../src/protocols/ledgerGossip.js'
import {
  Replica,
  toHex,
  TxRejectedError,
  signVote,
  encodeVote,
  decodeVote,
  verifyVote,
  signProposal,
  encodeProposal,
  decodeProposal,
  verifyProposal,
  signTx,
  txRoot,
  commitHash,
  evidenceHash,
  equalBytes,
  type Proposal,
  type Vote,
  type SignedTx,
  VoteType,
} from '../../src/ledger/index.js'
import { silentLogger } from '../../src/util/logger.js'
import { genesisReplica, testSigner, testGenesis } from '../helpers/chainSim.js'
import {
  type Rng,
  randomBytes,
  rawCbor,
  cborValue,
  encodeOrUndefined,
  mutateValue,
  mutateBytes,
} from './gen.js'
import {
  budget,
  rngFor,
  errorKind,
  Tally,
  MemoryWatch,
  MiB,
  report,
  assertClean,
  assertBounded,
  testTimeout,
} from './harness.js'
import { templates, LIMITS, CHAIN_ID } from './templates.js'

// The gossip validators of transactions, proposals and votes, fed generated messages through a
// stand-in for gossipsub's `topicValidators` (pure validation logic; gossipsub itself is not under
// test). Their handlers feed a real Replica, as the daemon's chain service does. Properties:
// garbage and tampered messages are rejected or ignored and reach no handler; validly signed ones
// are relayed only if the replica would admit them; the state root, the head and (for invalid
// input) the mempool never change; a validator never throws.

const T = templates()
const validators = T.signers
const strangers = [testSigner(10), testSigner(11), testSigner(12)]
const genesis = testGenesis(validators)

type InputClass = 'garbage' | 'tampered' | 'signed'

interface Victim {
  replica: Replica
  gossip: LedgerGossip
  validate(topic: string, data: Uint8Array): TopicValidatorResult
  /** Handler calls of the last input. */
  delivered: string[]
}

function victim(): Victim {
  const replica = genesisReplica(genesis, validators[3]!, () => genesis.time + 5000, {
    registry: T.registry,
  })
  replica.start()
  const topicValidators = new Map<string, (p: PeerId, m: Message) => TopicValidatorResult>()
  const pubsub = {
    topicValidators,
    subscribe: () => {},
    unsubscribe: () => {},
    publish: async () => ({ recipients: [] }),
  }
  const delivered: string[] = []
  // The handlers do what ChainService's do: a transaction goes to the mempool, a proposal or a
  // vote to the replica. They return the replica's own verdict, for a validator that asks for one.
  const gossip = new LedgerGossip(
    { pubsub: pubsub as unknown as GossipSub, log: silentLogger() },
    { network: 'devnet', chainId: CHAIN_ID, registry: T.registry, limits: LIMITS },
    {
      onTx: (tx: SignedTx): Verdict => {
        delivered.push('tx')
        try {
          replica.submitTx(tx)
          return 'accept'
        } catch (err) {
          if (!(err instanceof TxRejectedError)) throw err
          return err.code === 'BAD_SIGNATURE' || err.code === 'TOO_LARGE' ? 'reject' : 'ignore'
        }
      },
      onProposal: (proposal: Proposal): Verdict => {
        delivered.push(
          verifyProposal(CHAIN_ID, proposal) ? 'proposal' : 'a proposal whose signature does not verify',
        )
        const verdict = replica.admit({ kind: 'proposal', proposal })
        replica.handle({ kind: 'proposal', proposal })
        return verdict
      },
      onVote: (vote: Vote): Verdict => {
        delivered.push(verifyVote(CHAIN_ID, vote) ? 'vote' : 'a vote whose signature does not verify')
        const verdict = replica.admit({ kind: 'vote', vote })
        replica.handle({ kind: 'vote', vote })
        return verdict
      },
    },
  )
  gossip.start()
  const from = { toString: () => 'fuzzer' } as unknown as PeerId
  return {
    replica,
    gossip,
    delivered,
    validate: (topic, data) => {
      const v = topicValidators.get(topic)
      if (v === undefined) throw new Error(`no validator on ${topic}`)
      // Framed as a publisher frames every ledger message (ledgerGossip.ts), so that the generated
      // bytes reach the decoders; the framing's own checks are in test/unit/protocols/ledgerGossip.test.ts.
      return v(from, { type: 'unsigned', topic, data: frameGossip(data, 0n) })
    },
  }
}

/** The parts of a proposal's block that are not the ones its signed header describes. */
function bodyMismatches(p: Proposal): string[] {
  const h = p.block.header
  return [
    equalBytes(txRoot(p.block.txs), h.txRoot) ? '' : 'txs vs txRoot',
    equalBytes(commitHash(p.block.lastCommit), h.lastCommitHash) ? '' : 'lastCommit vs lastCommitHash',
    equalBytes(evidenceHash(p.block.evidence), h.evidenceHash) ? '' : 'evidence vs evidenceHash',
  ].filter((x) => x !== '')
}

interface Topic {
  name: 'tx' | 'proposal' | 'vote'
  seeds: Uint8Array[]
  /** A validly signed message with generated content, and whether the replica would take it. */
  signed(rng: Rng, v: Victim): { bytes: Uint8Array; what: string }
  /** Why a message that was accepted should not have been (undefined: accepting it is right). */
  wronglyAccepted(data: Uint8Array, cls: InputClass, v: Victim, mempoolGrew: boolean): string | undefined
}

const HEIGHTS = [0, 1, 2, 3, 999, 1000, 1001, 1002, 2 ** 31, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER]
const ROUNDS = [0, 1, 2, 999, 1000, 1001, 2 ** 31, Number.MAX_SAFE_INTEGER]

const topics: Topic[] = [
  {
    name: 'tx',
    seeds: T.txs.map((t) => t.bytes),
    signed: (rng) => {
      const t = rng.pick(T.txs)
      const signer = rng.chance(0.5) ? rng.pick(strangers) : rng.pick(validators)
      const tx = signTx(T.registry, rng.chance(0.9) ? CHAIN_ID : 'other-chain', signer, {
        type: t.type,
        nonce: rng.pick([0, 1, 2, 64, 65, 300, 2 ** 32, Number.MAX_SAFE_INTEGER]),
        fee: rng.pick([0n, 1n, 1000n, 2n ** 53n, 2n ** 64n - 1n]),
        body: t.body,
      })
      return {
        bytes: tx.bytes,
        what: `${t.type} from ${strangers.includes(signer) ? 'a stranger' : 'a validator'} nonce ${tx.nonce} fee ${tx.fee}`,
      }
    },
    // A transaction is relayed only if the mempool took it.
    wronglyAccepted: (_d, _c, _v, grew) => (grew ? undefined : 'relayed a transaction the mempool refused'),
  },
  {
    name: 'proposal',
    seeds: T.proposals.map(encodeProposal),
    signed: (rng) => {
      const base = rng.pick(T.proposals)
      const signer = rng.chance(0.5) ? rng.pick(strangers) : rng.pick(validators)
      const height = rng.pick(HEIGHTS)
      const p = signProposal(CHAIN_ID, signer, {
        height,
        round: rng.pick(ROUNDS),
        validRound: rng.pick([-1, 0, 5]),
        block: { ...base.block, header: { ...base.block.header, height, proposer: signer.peerId } },
      })
      return {
        bytes: encodeProposal(p),
        what: `proposal by ${strangers.includes(signer) ? 'a stranger' : 'a validator'} for height ${height} round ${p.round}`,
      }
    },
    wronglyAccepted: (data, cls, v) => {
      let p: Proposal
      try {
        p = decodeProposal(data, T.registry, LIMITS)
      } catch {
        return 'accepted a proposal that does not decode'
      }
      if (!verifyProposal(CHAIN_ID, p)) return 'accepted a proposal whose signature does not verify'
      const mismatches = bodyMismatches(p)
      if (mismatches.length > 0)
        return `accepted a validly signed proposal whose block does not match its header (${mismatches.join(', ')})`
      if (cls === 'signed') {
        const admit = v.replica.admit({ kind: 'proposal', proposal: p })
        if (admit !== 'accept') return `relayed a signed proposal the replica would ${admit} (Replica.admit)`
      }
      return undefined
    },
  },
  {
    name: 'vote',
    seeds: T.votes,
    signed: (rng) => {
      const signer = rng.chance(0.5) ? rng.pick(strangers) : rng.pick(validators)
      const vote = signVote(rng.chance(0.9) ? CHAIN_ID : 'other-chain', signer, {
        type: rng.pick([VoteType.Prevote, VoteType.Precommit]),
        height: rng.pick(HEIGHTS),
        round: rng.pick(ROUNDS),
        // Never the hash of a real block: signed votes here must not be able to commit anything.
        blockHash: rng.chance(0.3) ? null : rng.bytes(32),
      })
      return {
        bytes: encodeVote(vote),
        what: `vote by ${strangers.includes(signer) ? 'a stranger' : 'a validator'} for height ${vote.height} round ${vote.round}`,
      }
    },
    wronglyAccepted: (data, cls, v) => {
      let vote: Vote
      try {
        vote = decodeVote(data)
      } catch {
        return 'accepted a vote that does not decode'
      }
      if (!verifyVote(CHAIN_ID, vote)) return 'accepted a vote whose signature does not verify'
      if (cls === 'signed') {
        const admit = v.replica.admit({ kind: 'vote', vote })
        if (admit !== 'accept') return `relayed a signed vote the replica would ${admit} (Replica.admit)`
      }
      return undefined
    },
  },
]

function generate(rng: Rng, topic: Topic, v: Victim): { cls: InputClass; bytes: Uint8Array; what: string } {
  const r = rng.int(100)
  if (r < 10) return { cls: 'garbage', bytes: randomBytes(rng, 512), what: 'random bytes' }
  if (r < 18) return { cls: 'garbage', bytes: rawCbor(rng), what: 'raw CBOR' }
  if (r < 25)
    return { cls: 'garbage', bytes: encodeOrUndefined(cborValue(rng)) ?? rawCbor(rng), what: 'a CBOR value' }
  if (r < 55) {
    const seed = rng.pick(topic.seeds)
    const b = encodeOrUndefined(mutateValue(rng, cborDecode(seed), T.all)) ?? mutateBytes(rng, seed, T.all)
    return { cls: 'tampered', bytes: b, what: 'a signed message with one field changed' }
  }
  if (r < 80)
    return {
      cls: 'tampered',
      bytes: mutateBytes(rng, rng.pick(topic.seeds), T.all),
      what: 'a signed message with bytes changed',
    }
  const s = topic.signed(rng, v)
  return { cls: 'signed', bytes: s.bytes, what: s.what }
}

for (const topic of topics) {
  test(`fuzz gossip validator: ${topic.name}`, { timeout: testTimeout() }, async (t) => {
    const rng = rngFor(`gossip/${topic.name}`)
    const n = budget('gossip')
    const tally = new Tally(`gossip/${topic.name}`)
    const v = victim()
    const topicName = v.gossip.topics[topic.name]
    const seedHex = new Set(topic.seeds.map((s) => toHex(s)))
    const rootBefore = toHex(v.replica.state.root)
    const mem = new MemoryWatch()
    for (let i = 0; i < n; i++) {
      const input = generate(rng, topic, v)
      // A mutation that gives back a seed is a valid message: not tampered.
      if (input.cls === 'tampered' && seedHex.has(toHex(input.bytes))) continue
      tally.inputs++
      const head = v.replica.head.height
      const mempool = v.replica.mempool.size
      v.delivered.length = 0
      let result: TopicValidatorResult
      try {
        result = v.validate(topicName, input.bytes)
      } catch (err) {
        tally.fail(
          `validator throws ${errorKind(err)}`,
          input.bytes,
          `${input.what}: ${(err as Error).message?.slice(0, 160)}`,
        )
        continue
      }
      tally.count(`${input.cls} ${result}`)
      const grew = v.replica.mempool.size > mempool
      if (result === TopicValidatorResult.Accept) {
        const why =
          input.cls === 'garbage'
            ? 'accepted garbage'
            : topic.wronglyAccepted(input.bytes, input.cls, v, grew)
        if (why !== undefined) tally.fail(`${why} [${input.cls}]`, input.bytes, input.what)
      } else if (![TopicValidatorResult.Reject, TopicValidatorResult.Ignore].includes(result)) {
        tally.fail(`unknown result ${String(result)}`, input.bytes, input.what)
      }
      for (const d of v.delivered)
        if (d !== 'tx' && d !== 'proposal' && d !== 'vote')
          tally.fail(`a handler got ${d}`, input.bytes, input.what)
      if (v.replica.head.height !== head)
        tally.stateChange('head moved', input.bytes, `${input.what}: head ${head} → ${v.replica.head.height}`)
      if (input.cls !== 'signed' && grew) tally.stateChange('mempool grew', input.bytes, input.what)
      if ((i & 63) === 0) {
        mem.sample()
        if (toHex(v.replica.state.root) !== rootBefore) {
          tally.stateChange('state root changed', input.bytes, input.what)
          break
        }
      }
    }
    if (toHex(v.replica.state.root) !== rootBefore)
      tally.stateChange('state root changed', new Uint8Array(0), 'by the end')
    const m = mem.finish()
    v.gossip.stop()
    report(t, tally, m)
    assertClean(tally)
    assertBounded(tally.target, m.heapGrowth, 64 * MiB)
  })
}
