import '../../src/polyfill.js'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import type { CordexLibp2p } from '../../src/node/libp2p.js'
import { noiseCrypto } from '../../src/node/noiseCrypto.js'
import { connect, devnetConfig, startNodes, stopNodes } from './nodes.js'
import { progress } from './report.js'
import { sleep, summarize } from './stats.js'

export interface ConnCostOptions {
  /** Connections timed (each to a fresh node). */
  connections: number
  /** Handshakes' worth of X25519 work per timed round, and rounds per implementation. */
  handshakes: number
  rounds: number
}

export interface ConnCostResult {
  connections: number
  /** CPU of this process per connection (both ends, identify and the services' first streams), ms. */
  cpuPerConnectionMs: number
  /** CPU of the X25519 work of one Noise XX handshake, both sides, ms: the library's crypto and ours. */
  x25519PerHandshakeMs: { library: number; cordex: number }
}

/**
 * What one connection costs in CPU: in one process, one node connects to `connections` fresh ones
 * (the daemon's own libp2p factory and devnet config) and waits for identify each time; the
 * process's CPU over those dials, less what the idle nodes use in the same time, is divided by the
 * count. Then the X25519 work of a Noise handshake (each side: one key pair and three exchanges)
 * with the library's crypto against the daemon's, alternated round by round in the same process.
 */
export async function runConnCost(opts: ConnCostOptions): Promise<ConnCostResult> {
  const nodes = await startNodes(opts.connections + 2, devnetConfig())
  let cpuPerConnectionMs: number
  try {
    const [a, b, ...fresh] = nodes as [CordexLibp2p, CordexLibp2p, ...CordexLibp2p[]]
    // Warm-up: one connection, so that the first one timed does not pay for the code's first run.
    await connectIdentified(a, b)
    await sleep(1000)
    const idleStart = process.cpuUsage()
    const idleT0 = performance.now()
    await sleep(2000)
    const idleCpuPerMs = cpuMs(process.cpuUsage(idleStart)) / (performance.now() - idleT0)
    progress(`connections: ${opts.connections} dials, each to a fresh node, both ends in this process`)
    const start = process.cpuUsage()
    const t0 = performance.now()
    for (const n of fresh) await connectIdentified(a, n)
    // What identify set off (the DHT's routing-table update, gossipsub's stream) ends within this.
    await sleep(1000)
    const busy = cpuMs(process.cpuUsage(start)) - idleCpuPerMs * (performance.now() - t0)
    cpuPerConnectionMs = busy / opts.connections
  } finally {
    await stopNodes(nodes)
  }
  progress(`connections: X25519 work of ${opts.handshakes} handshakes ×${opts.rounds}, library and ours`)
  const library: number[] = []
  const cordex: number[] = []
  for (let r = 0; r < opts.rounds; r++) {
    library.push(handshakeX25519Ms(defaultCrypto, opts.handshakes))
    cordex.push(handshakeX25519Ms(noiseCrypto, opts.handshakes))
  }
  return {
    connections: opts.connections,
    cpuPerConnectionMs,
    x25519PerHandshakeMs: { library: summarize(library).p50, cordex: summarize(cordex).p50 },
  }
}

async function connectIdentified(a: CordexLibp2p, b: CordexLibp2p): Promise<void> {
  const identified = new Promise<void>((resolve) => {
    const onIdentify = (evt: CustomEvent<{ peerId: { equals(other: unknown): boolean } }>): void => {
      if (!evt.detail.peerId.equals(b.peerId)) return
      a.removeEventListener('peer:identify', onIdentify)
      resolve()
    }
    a.addEventListener('peer:identify', onIdentify)
  })
  await connect(a, b)
  await identified
}

/** Mean CPU ms of one handshake's X25519 work: per side a key pair, then ee, es/se and the static exchange. */
function handshakeX25519Ms(crypto: ICryptoInterface, handshakes: number): number {
  const start = process.cpuUsage()
  for (let i = 0; i < handshakes; i++) {
    const si = crypto.generateX25519KeyPair()
    const sr = crypto.generateX25519KeyPair()
    const ei = crypto.generateX25519KeyPair()
    const er = crypto.generateX25519KeyPair()
    crypto.generateX25519SharedKey(ei.privateKey, er.publicKey)
    crypto.generateX25519SharedKey(er.privateKey, ei.publicKey)
    crypto.generateX25519SharedKey(er.privateKey, si.publicKey)
    crypto.generateX25519SharedKey(si.privateKey, er.publicKey)
    crypto.generateX25519SharedKey(ei.privateKey, sr.publicKey)
    crypto.generateX25519SharedKey(sr.privateKey, ei.publicKey)
  }
  // The static key pairs are made once per node, not per handshake: take their cost back out.
  const statics = process.cpuUsage()
  for (let i = 0; i < handshakes; i++) {
    crypto.generateX25519KeyPair()
    crypto.generateX25519KeyPair()
  }
  const all = cpuMs(process.cpuUsage(start))
  const staticMs = cpuMs(process.cpuUsage(statics))
  return (all - 2 * staticMs) / handshakes
}

function cpuMs(u: NodeJS.CpuUsage): number {
  return (u.user + u.system) / 1000
}
