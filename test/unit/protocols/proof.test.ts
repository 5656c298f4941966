import '../../../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { streamPair } from '@libp2p/utils'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { NonceTree } from '../../../src/race/index.js'
import {
  PeerGuard,
  ProofFetchError,
  ProofProtocol,
  ReqResp,
  protocolId,
  type ProofFetchErrorCode,
} from '../../../src/protocols/index.js'
import { encodeProofResponse } from '../../../src/protocols/proof/codec.js'
import { baseRegistry, signTx } from '../../../src/ledger/tx/index.js'
import { sampleIndices, sampleMessage, vrfOutput } from '../../../src/ledger/epoch/seed.js'
import { testSigner } from '../../helpers/chainSim.js'
import { silentLogger } from '../../../src/util/logger.js'

// Peers in one process over in-memory stream pairs: the whole client and server, no sockets.
type Handler = (stream: Stream, connection: Connection) => void | Promise<void>

function memoryNet(): (id: string) => { peerId: PeerId; node: never } {
  const handlers = new Map<string, Map<string, Handler>>()
  return (id) => {
    const peerId = { toString: () => id } as PeerId
    const own = new Map<string, Handler>()
    handlers.set(id, own)
    const node = {
      handle: async (protocol: string, handler: Handler) => void own.set(protocol, handler),
      unhandle: async (protocol: string) => void own.delete(protocol),
      dialProtocol: async (peer: PeerId, protocol: string) => {
        const handler = handlers.get(peer.toString())?.get(protocol)
        if (handler === undefined) throw new Error(`${peer} does not speak ${protocol}`)
        const [outbound, inbound] = await streamPair()
        void handler(inbound, { remotePeer: peerId } as Connection)
        return outbound
      },
    }
    return { peerId, node: node as never }
  }
}

const PROTOCOL = protocolId('devnet', 'proof')
const limits = { timeoutMs: 300, maxInboundStreams: 8 }
const log = silentLogger()
const nonces = Array.from({ length: 1000 }, (_, i) => 5 * i + 2)
const tree = new NonceTree(nonces)
const { root, count } = tree
const indices = [3, 0, 999, 500]

async function rejects(p: Promise<unknown>, code: ProofFetchErrorCode): Promise<ProofFetchError> {
  try {
    await p
  } catch (err) {
    assert.ok(err instanceof ProofFetchError, `a ProofFetchError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    return err
  }
  assert.fail(`expected ${code}`)
}

/** A prover that serves `tree` for epoch 4, and a validator. */
async function setup(serve?: (epoch: number) => NonceTree | undefined) {
  const net = memoryNet()
  const prover = net('prover')
  const validator = net('validator')
  const server = new ProofProtocol({ node: prover.node, log }, 'devnet', limits)
  const client = new ProofProtocol({ node: validator.node, log }, 'devnet', limits)
  assert.equal(server.protocol, PROTOCOL)
  await server.start(serve ?? ((e) => (e === 4 ? tree : undefined)))
  return { prover, validator, server, client }
}

/** A prover that answers every request with `answer` (a cheat or a broken peer). */
async function rogue(answer: () => Promise<Uint8Array>) {
  const net = memoryNet()
  const prover = net('prover')
  const validator = net('validator')
  await new ReqResp({ node: prover.node, log }, PROTOCOL, {
    maxFrameBytes: 1 << 20,
    timeoutMs: 1000,
    maxInboundStreams: 8,
  }).register(answer)
  const client = new ProofProtocol({ node: validator.node, log }, 'devnet', limits)
  return { prover, client }
}

test('a validator gets the nonces at its sampled positions, checked against the root', async () => {
  const { prover, client } = await setup()
  assert.deepEqual(
    await client.fetchSamples(prover.peerId, 4, indices, root, count),
    indices.map((i) => nonces[i]),
  )
})

test('a prover without the list answers not found; one not serving at all is unreachable', async () => {
  const { prover, validator, client, server } = await setup()
  await rejects(client.fetchSamples(prover.peerId, 5, indices, root, count), 'NOT_FOUND')
  await server.stop()
  await rejects(client.fetchSamples(prover.peerId, 4, indices, root, count), 'UNREACHABLE')
  await rejects(client.fetchSamples(validator.peerId, 4, indices, root, count), 'UNREACHABLE')
})

test('openings of another list, of other positions, or too few are refused as BAD_OPENING', async () => {
  // A prover that committed to one list and serves another of the same length.
  const other = new NonceTree(nonces.map((n) => n + 1))
  const { prover, client } = await setup(() => other)
  const err = await rejects(client.fetchSamples(prover.peerId, 4, indices, root, count), 'BAD_OPENING')
  assert.equal(err.meta.action, 'reject')
  for (const answer of [
    indices.map((i) => tree.sample(i === 999 ? 998 : i)),
    indices.slice(1).map((i) => tree.sample(i)),
    [...indices, 1].map((i) => tree.sample(i)),
    indices.map((i) => ({ ...tree.sample(i), nonce: tree.sample(i).nonce + 5 })),
  ]) {
    const r = await rogue(async () => encodeProofResponse({ found: true, samples: answer }))
    await rejects(r.client.fetchSamples(r.prover.peerId, 4, indices, root, count), 'BAD_OPENING')
  }
})

test('a prover that stalls times out; garbage is MALFORMED; a request past its list is refused', async () => {
  const slow = await rogue(() => new Promise(() => {}))
  await rejects(slow.client.fetchSamples(slow.prover.peerId, 4, indices, root, count), 'TIMEOUT')
  const junk = await rogue(async () => Uint8Array.of(0x82, 0x01))
  const err = await rejects(
    junk.client.fetchSamples(junk.prover.peerId, 4, indices, root, count),
    'MALFORMED',
  )
  assert.equal(err.meta.action, 'reject')
  // The prover's list is shorter than the count the validator holds: the prover refuses.
  const { prover, client } = await setup()
  await rejects(client.fetchSamples(prover.peerId, 4, [1500], root, 2000), 'REFUSED')
})

test('a cancelled fetch says so; a caller mistake is a RangeError, not the peer fault', async () => {
  const slow = await rogue(() => new Promise(() => {}))
  const abort = new AbortController()
  setTimeout(() => abort.abort(), 20)
  await rejects(
    slow.client.fetchSamples(slow.prover.peerId, 4, indices, root, count, abort.signal),
    'CANCELLED',
  )
  const { prover, client } = await setup()
  await assert.rejects(client.fetchSamples(prover.peerId, 4, [], root, count), RangeError)
  await assert.rejects(client.fetchSamples(prover.peerId, 4, [count], root, count), RangeError)
  await assert.rejects(client.fetchSamples(prover.peerId, 4, new Array(257).fill(0), root, count), RangeError)
})

test('the guard holds each validator to its rate', async () => {
  const net = memoryNet()
  const prover = net('prover')
  const validator = net('validator')
  const guard = new PeerGuard({ clock: { now: () => 0 } })
  const server = new ProofProtocol({ node: prover.node, log, guard }, 'devnet', {
    ...limits,
    requestsPerSecond: 1,
  })
  await server.start(() => tree)
  const client = new ProofProtocol({ node: validator.node, log }, 'devnet', limits)
  // Bursts of twice the rate, then BUSY until the clock moves.
  await client.fetchSamples(prover.peerId, 4, indices, root, count)
  await client.fetchSamples(prover.peerId, 4, indices, root, count)
  await rejects(client.fetchSamples(prover.peerId, 4, indices, root, count), 'REFUSED')
})

test('a proof of 100,000 nonces: a transaction of constant size, judged through its root and sampled openings', async () => {
  const big = new NonceTree(Array.from({ length: 100_000 }, (_, i) => 3 * i + 1))
  const prover = testSigner(71)
  const judge = testSigner(72)
  const size = (count: number): number =>
    signTx(baseRegistry(), 'cordex-devnet', prover, {
      type: 'RaceProof',
      nonce: 0,
      fee: 0n,
      body: { epoch: 4, root: big.root, count },
    }).bytes.length
  // Only the count's own encoding grows (CBOR: 1 to 9 bytes): a proof's size is bounded, not counted.
  const sizes = [1, big.count, 10_000_000].map(size)
  assert.ok(
    Math.max(...sizes) - Math.min(...sizes) <= 8 && Math.max(...sizes) < 256,
    `sizes ${sizes.join(', ')}`,
  )
  // The judge's VRF picks 32 positions of the list; the prover serves them with their openings.
  const picked = sampleIndices(
    vrfOutput(judge.sign(sampleMessage(4, prover.peerId, big.root))),
    big.count,
    32,
  )
  const { prover: node, client } = await setup((e) => (e === 4 ? big : undefined))
  const got = await client.fetchSamples(node.peerId, 4, picked, big.root, big.count)
  assert.deepEqual(
    got,
    picked.map((i) => 3 * i + 1),
  )
})
