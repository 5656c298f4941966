import '../../src/polyfill.js'
import type { CordexLibp2p } from '../../src/node/libp2p.js'
import { topicName } from '../../src/protocols/index.js'
import { connect, devnetConfig, startNodes, stopNodes } from './nodes.js'
import { progress } from './report.js'
import { sleep, summarize, type Percentiles } from './stats.js'

export interface GossipOptions {
  peers: number
  messages: number
  /** Size of each message (at least 12: sequence number and send time). */
  messageBytes: number
  /** Pause between two publishes. */
  intervalMs: number
  /** How long to wait for late deliveries after the last publish. */
  drainMs: number
}

export interface GossipResult {
  peers: number
  messages: number
  messageBytes: number
  /** Deliveries seen at the peers other than the publisher, and how many there should be. */
  delivered: number
  expected: number
  latencyMs: Percentiles
  /** The topology the messages actually crossed (connections can grow after the first dials). */
  topology: { minDegree: number; maxDegree: number; diameterHops: number; meshPeersMean: number }
  /** From the first dial until every peer had a non-empty mesh for the topic. */
  meshFormedMs: number
}

/**
 * Gossipsub delivery latency across peers in one process, in a sparse topology so that messages
 * take several hops: a ring plus one chord from each node to the one opposite (degree 3, diameter
 * 3 for 10 peers). Every peer subscribes; publishers take turns; each message carries its send time
 * and every other peer records when it arrives.
 */
export async function runGossip(opts: GossipOptions): Promise<GossipResult> {
  const n = opts.peers
  // The DHT's self-query dials the peers it learns of, which would turn the sparse topology into a
  // full mesh within a couple of seconds; here it is pushed out of the benchmark's time.
  const config = devnetConfig({
    p2p: { dht: { querySelfIntervalMs: 3_600_000, initialQuerySelfIntervalMs: 3_600_000 } },
  })
  const topic = topicName(config.network, 'bench')
  const nodes = await startNodes(n, config)
  try {
    const t0 = performance.now()
    for (const [a, b] of edges(n)) await connect(nodes[a] as CordexLibp2p, nodes[b] as CordexLibp2p)
    for (const node of nodes) node.services.pubsub.subscribe(topic)
    await waitForMesh(nodes, topic, performance.now() + 20_000)
    const meshFormedMs = performance.now() - t0
    const topology = describe(nodes, topic)
    progress(
      `gossip: mesh formed after ${Math.round(meshFormedMs)} ms (degree ${topology.minDegree}-${topology.maxDegree}, ` +
        `diameter ${topology.diameterHops} hops); publishing ${opts.messages} messages`,
    )

    const latencies: number[] = []
    const seen = new Set<string>()
    const listeners = nodes.map((node, receiver) => {
      const onMessage = (evt: CustomEvent<{ topic: string; data: Uint8Array }>): void => {
        const at = performance.now()
        if (evt.detail.topic !== topic) return
        const { seq, sentAt } = decode(evt.detail.data)
        const key = `${seq}:${receiver}`
        if (seen.has(key)) return // gossipsub deduplicates already; a duplicate would be a bug
        seen.add(key)
        latencies.push(at - sentAt)
      }
      node.services.pubsub.addEventListener('message', onMessage)
      return () => node.services.pubsub.removeEventListener('message', onMessage)
    })
    try {
      const expected = opts.messages * (n - 1)
      for (let seq = 0; seq < opts.messages; seq++) {
        const publisher = nodes[seq % n] as CordexLibp2p
        await publisher.services.pubsub.publish(topic, encode(seq, performance.now(), opts.messageBytes))
        await sleep(opts.intervalMs)
      }
      const deadline = performance.now() + opts.drainMs
      while (latencies.length < expected && performance.now() < deadline) await sleep(20)
      return {
        peers: n,
        messages: opts.messages,
        messageBytes: opts.messageBytes,
        delivered: latencies.length,
        expected,
        latencyMs: summarize(latencies),
        topology: describe(nodes, topic),
        meshFormedMs,
      }
    } finally {
      for (const remove of listeners) remove()
    }
  } finally {
    await stopNodes(nodes)
  }
}

/** Ring i→i+1 plus chord i→i+n/2: every node has degree 3 (for even n ≥ 6). */
function edges(n: number): Array<[number, number]> {
  const out: Array<[number, number]> = []
  for (let i = 0; i < n; i++) out.push([i, (i + 1) % n])
  for (let i = 0; i < Math.floor(n / 2); i++) out.push([i, i + Math.floor(n / 2)])
  return out
}

/** Until every node knows a subscriber and has at least one mesh peer (gossipsub grafts on its 1 s heartbeat). */
async function waitForMesh(nodes: CordexLibp2p[], topic: string, deadline: number): Promise<void> {
  const ready = (): boolean =>
    nodes.every((node) => node.services.pubsub.getSubscribers(topic).length > 0 && meshPeers(node, topic) > 0)
  while (!ready()) {
    if (performance.now() > deadline) throw new Error('gossipsub mesh did not form within 20 s')
    await sleep(50)
  }
}

function describe(nodes: CordexLibp2p[], topic: string): GossipResult['topology'] {
  const index = new Map(nodes.map((node, i) => [node.peerId.toString(), i]))
  const adjacency = nodes.map((node) =>
    node
      .getPeers()
      .map((p) => index.get(p.toString()))
      .filter((i): i is number => i !== undefined),
  )
  const degrees = adjacency.map((a) => a.length)
  const mesh = nodes.map((node) => meshPeers(node, topic))
  return {
    minDegree: Math.min(...degrees),
    maxDegree: Math.max(...degrees),
    diameterHops: diameter(adjacency),
    meshPeersMean: mesh.reduce((a, b) => a + b, 0) / mesh.length,
  }
}

/** Peers in the node's gossipsub mesh for `topic` (the implementation has it; the GossipSub interface type does not). */
function meshPeers(node: CordexLibp2p, topic: string): number {
  return (node.services.pubsub as unknown as { getMeshPeers(topic: string): string[] }).getMeshPeers(topic)
    .length
}

/** Longest shortest path, by breadth-first search from every node (Infinity if disconnected). */
function diameter(adjacency: number[][]): number {
  let longest = 0
  for (let start = 0; start < adjacency.length; start++) {
    const dist = new Map<number, number>([[start, 0]])
    const queue = [start]
    for (let head = 0; head < queue.length; head++) {
      const at = queue[head] as number
      for (const next of adjacency[at] ?? []) {
        if (dist.has(next)) continue
        dist.set(next, (dist.get(at) ?? 0) + 1)
        queue.push(next)
      }
    }
    if (dist.size < adjacency.length) return Number.POSITIVE_INFINITY
    longest = Math.max(longest, ...dist.values())
  }
  return longest
}

/**
 * 4-byte sequence number and the float64 send time (performance.now(): one clock, one process),
 * zero-padded to `size` bytes.
 */
function encode(seq: number, sentAt: number, size: number): Uint8Array {
  const bytes = new Uint8Array(Math.max(12, size))
  const view = new DataView(bytes.buffer)
  view.setUint32(0, seq)
  view.setFloat64(4, sentAt)
  return bytes
}

function decode(bytes: Uint8Array): { seq: number; sentAt: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return { seq: view.getUint32(0), sentAt: view.getFloat64(4) }
}
