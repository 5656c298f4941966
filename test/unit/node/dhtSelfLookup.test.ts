import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { DhtSelfLookup } from '../../../src/node/dhtSelfLookup.js'
import type { CordexLibp2p } from '../../../src/node/libp2p.js'
import type { Logger } from '../../../src/util/logger.js'

const silent = { warn: () => {}, debug: () => {}, info: () => {} } as unknown as Logger

/** A node whose routing table and peers the test sets; each self-lookup is counted. */
class FakeNode extends EventTarget {
  peers: PeerId[] = []
  lookups = 0
  /** Peers the next lookup "finds": they join the routing table and the connections. */
  findNext: PeerId[] = []
  /** Lookups still to fail (as a timeout does) before one succeeds. */
  failing = 0
  readonly services: { dht: unknown }
  constructor(readonly peerId: PeerId) {
    super()
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const node = this
    const table = { size: 0 }
    this.services = {
      dht: {
        routingTable: table,
        getClosestPeers: async function* () {
          node.lookups++
          if (node.failing > 0) {
            node.failing--
            throw new Error('The operation was aborted due to timeout')
          }
          for (const p of node.findNext.splice(0)) {
            node.peers.push(p)
            table.size++
            yield { name: 'FINAL_PEER', peer: { id: p } }
          }
        },
      },
    }
  }
  get table(): { size: number } {
    return (this.services.dht as { routingTable: { size: number } }).routingTable
  }
  getPeers(): PeerId[] {
    return this.peers
  }
}

/** A timer the test fires by hand; remembers the delay it was set for. */
class ManualTimer {
  pending: { fn: () => void; ms: number } | undefined
  set = (fn: () => void, ms: number): (() => void) => {
    const entry = { fn, ms }
    this.pending = entry
    return () => {
      if (this.pending === entry) this.pending = undefined
    }
  }
  async fire(): Promise<number> {
    const p = this.pending
    assert.ok(p !== undefined, 'a lookup is scheduled')
    this.pending = undefined
    p.fn()
    await new Promise((r) => setTimeout(r, 5))
    return p.ms
  }
}

async function newPeerId(): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

/** A DhtSelfLookup (100 ms fast, 1.6 s slow) on a fake node with no peers, on a manual timer. */
async function selfLookup(): Promise<{ node: FakeNode; timer: ManualTimer; sl: DhtSelfLookup }> {
  const node = new FakeNode(await newPeerId())
  const timer = new ManualTimer()
  const sl = new DhtSelfLookup(
    { node: node as unknown as CordexLibp2p, log: silent, setTimer: timer.set },
    { minIntervalMs: 100, maxIntervalMs: 1_600 },
  )
  return { node, timer, sl }
}

test('self-lookups run fast while the table grows, and stop at the first that finds nothing new', async () => {
  const { node, timer, sl } = await selfLookup()
  sl.start()
  assert.equal(timer.pending, undefined, 'no peer: nothing scheduled')

  // The bootstrap peer connects and is identified.
  const boot = await newPeerId()
  node.peers.push(boot)
  node.table.size = 1
  node.dispatchEvent(new CustomEvent('peer:identify'))
  assert.equal(await timer.fire(), 100)
  assert.equal(node.lookups, 1)

  // The second lookup finds three peers it was not connected to: the next one stays short.
  node.findNext = [await newPeerId(), await newPeerId(), await newPeerId()]
  assert.equal(await timer.fire(), 100)
  assert.equal(node.lookups, 2)
  assert.equal(await timer.fire(), 100, 'the previous lookup found peers it was not connected to')
  // That lookup found nothing new: kad-dht's own interval takes over, and nothing more is scheduled.
  assert.equal(node.lookups, 3)
  assert.equal(timer.pending, undefined, 'a lookup that taught nothing new ends the fast phase')
  const settled = node.lookups
  node.dispatchEvent(new CustomEvent('peer:identify'))
  assert.equal(timer.pending, undefined, 'a new connection does not restart a settled node')

  // Every peer gone: the next identified peer starts it over at the short interval.
  node.peers = []
  node.dispatchEvent(new CustomEvent('peer:disconnect'))
  node.peers.push(boot)
  node.dispatchEvent(new CustomEvent('peer:identify'))
  assert.equal(await timer.fire(), 100)
  assert.equal(node.lookups, settled + 1)
  sl.stop()
  assert.equal(timer.pending, undefined, 'stop cancels the timer')
})

test('with a peer connected but not yet in the routing table it waits without querying', async () => {
  const { node, timer, sl } = await selfLookup()
  node.peers.push(await newPeerId())
  sl.start()
  assert.equal(await timer.fire(), 100)
  assert.equal(node.lookups, 0, 'an empty table is not queried')
  node.table.size = 1
  await timer.fire()
  assert.equal(node.lookups, 1)
  sl.stop()
})

test('a failed self-lookup is tried again at a doubling interval, and one that succeeds resets it', async () => {
  const { node, timer, sl } = await selfLookup()
  node.peers.push(await newPeerId())
  node.table.size = 1
  sl.start()
  assert.equal(await timer.fire(), 100)
  assert.equal(node.lookups, 1)
  // Three lookups time out: each waits twice as long as the last.
  node.failing = 3
  const delays: number[] = []
  for (let i = 0; i < 3; i++) delays.push(await timer.fire())
  assert.deepEqual(delays, [100, 200, 400])
  // The next one teaches three new peers: back to the short interval.
  node.findNext = [await newPeerId(), await newPeerId(), await newPeerId()]
  assert.equal(await timer.fire(), 800)
  assert.equal(node.lookups, 5)
  assert.equal(await timer.fire(), 100)
  assert.equal(node.lookups, 6)
  assert.equal(timer.pending, undefined, 'that one found nothing new: kad-dht takes over')
  sl.stop()
})
