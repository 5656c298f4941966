import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { PeerManager } from '../../../src/node/peerManager.js'
import type { CordexLibp2p } from '../../../src/node/libp2p.js'
import type { Logger } from '../../../src/util/logger.js'

const silent = { warn: () => {}, debug: () => {}, info: () => {} } as unknown as Logger

async function newPeerId(): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

/** Just enough of a libp2p node: peers, a peer store that counts its full reads, dials that the test settles. */
class FakeNode extends EventTarget {
  connected = new Set<string>()
  known: PeerId[] = []
  storeReads = 0
  dials: Array<{ id: PeerId; settle: (ok: boolean) => void }> = []
  constructor(readonly peerId: PeerId) {
    super()
  }
  getPeers(): PeerId[] {
    return this.known.filter((p) => this.connected.has(p.toString()))
  }
  peerStore = {
    all: async () => {
      this.storeReads++
      return this.known.map((id) => ({ id, addresses: [{ multiaddr: '/ip4/127.0.0.1/tcp/1' }] }))
    },
    merge: async () => {},
  }
  dial(id: PeerId): Promise<void> {
    return new Promise((resolve, reject) => {
      this.dials.push({
        id,
        settle: (ok) => {
          if (ok) {
            this.connected.add(id.toString())
            resolve()
          } else reject(new Error('refused'))
        },
      })
    })
  }
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 5))

async function setup(opts: { targetPeers: number; peers: number }): Promise<{
  node: FakeNode
  pm: PeerManager
  clock: { now: number }
}> {
  const node = new FakeNode(await newPeerId())
  for (let i = 0; i < opts.peers; i++) node.known.push(await newPeerId())
  const clock = { now: 1_000_000 }
  const pm = new PeerManager(
    { node: node as unknown as CordexLibp2p, log: silent, clock: { now: () => clock.now } },
    // A heartbeat far in the future: the test drives every check itself.
    {
      bootstrap: [],
      targetPeers: opts.targetPeers,
      heartbeatMs: 3_600_000,
      redialMinMs: 1_000,
      redialMaxMs: 60_000,
    },
  )
  return { node, pm, clock }
}

test('a burst of discoveries runs one check after the running one, not one per event', async () => {
  const { node, pm } = await setup({ targetPeers: 64, peers: 20 })
  await pm.start()
  for (let i = 0; i < 300; i++) node.dispatchEvent(new CustomEvent('peer:discovery'))
  await settle()
  assert.ok(node.storeReads <= 2, `peer store read ${node.storeReads} times for 300 discoveries`)
  // The first check dialled 8 (the parallel limit); each finished dial frees a slot at once.
  assert.equal(node.dials.length, 8)
  for (const d of node.dials.splice(0)) d.settle(true)
  await settle()
  assert.equal(node.dials.length, 8, 'the next eight are dialled without waiting for a heartbeat')
  await pm.stop()
})

test('never dials beyond targetPeers', async () => {
  const { node, pm } = await setup({ targetPeers: 3, peers: 10 })
  await pm.start()
  await settle()
  assert.equal(node.dials.length, 3)
  for (const d of node.dials.splice(0)) d.settle(true)
  node.dispatchEvent(new CustomEvent('peer:discovery'))
  await settle()
  assert.equal(node.dials.length, 0, 'at the target: no more dials')
  await pm.stop()
})

test('an idle heartbeat reads nothing until a backoff ends or a peer leaves', async () => {
  const { node, pm, clock } = await setup({ targetPeers: 64, peers: 2 })
  await pm.start()
  await settle()
  const [a, b] = node.dials.splice(0)
  a!.settle(true)
  b!.settle(false) // b waits redialMinMs (1 s)
  await settle()
  const reads = node.storeReads
  const tick = (): void => (pm as unknown as { tick(): void }).tick()
  tick()
  await settle()
  assert.equal(node.storeReads, reads, 'nothing is due: the heartbeat reads no peer store')
  clock.now += 1_000
  tick()
  await settle()
  assert.equal(node.storeReads, reads + 1, 'the backoff ended: one check')
  assert.equal(node.dials.length, 1, 'and it redials the peer')
  node.dials.splice(0)[0]!.settle(true)
  await settle()
  const after = node.storeReads
  node.connected.delete(a!.id.toString())
  node.dispatchEvent(new CustomEvent('peer:disconnect', { detail: a!.id }))
  await settle()
  assert.equal(node.storeReads, after + 1, 'a disconnection triggers a check')
  assert.equal(node.dials.length, 1)
  await pm.stop()
})
