import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import type { Logger } from '../util/logger.js'
import type { Clock } from '../util/clock.js'
import { Backoff } from './backoff.js'
import type { CordexLibp2p } from './libp2p.js'

export interface PeerManagerOptions {
  /** Bootstrap multiaddrs, each ending in /p2p/<id>. */
  bootstrap: string[]
  /** Connections to keep open. */
  targetPeers: number
  /** Interval of the connection check, in ms. */
  heartbeatMs: number
  redialMinMs: number
  redialMaxMs: number
  /** Dials in flight at once. */
  maxParallelDials?: number
}

export interface PeerManagerComponents {
  node: CordexLibp2p
  log: Logger
  clock: Clock
}

/**
 * Keeps the daemon connected. libp2p's bootstrap module dials once and nothing re-dials known
 * peers after a restart, so this does both: on every heartbeat, while below `targetPeers`, it dials
 * bootstrap peers, peers the DHT discovered and peers remembered in the persistent peer store,
 * each with exponential backoff after a failure.
 */
export class PeerManager {
  private readonly backoff: Backoff
  private readonly dialing = new Set<string>()
  private readonly bootstrap: Array<{ id: PeerId; addr: Multiaddr }>
  private timer: NodeJS.Timeout | undefined
  private running = false
  private checking = false
  private again = false
  private readonly onDiscovery = (): void => this.kick()
  private readonly onConnect = (evt: CustomEvent<PeerId>): void => this.backoff.succeed(evt.detail.toString())

  constructor(
    private readonly components: PeerManagerComponents,
    private readonly opts: PeerManagerOptions,
  ) {
    this.backoff = new Backoff(components.clock, opts.redialMinMs, opts.redialMaxMs)
    this.bootstrap = opts.bootstrap.map((s) => {
      const addr = multiaddr(s)
      return {
        id: peerIdFromString(addr.getComponents().findLast((c) => c.name === 'p2p')?.value ?? ''),
        addr,
      }
    })
  }

  async start(): Promise<void> {
    const { node } = this.components
    this.running = true
    // Bootstrap addresses go into the peer store, so they are remembered like any other peer.
    for (const b of this.bootstrap) {
      if (!b.id.equals(node.peerId)) await node.peerStore.merge(b.id, { multiaddrs: [b.addr] })
    }
    node.addEventListener('peer:discovery', this.onDiscovery)
    node.addEventListener('peer:connect', this.onConnect)
    this.timer = setInterval(() => this.kick(), this.opts.heartbeatMs)
    this.kick()
  }

  async stop(): Promise<void> {
    this.running = false
    if (this.timer !== undefined) clearInterval(this.timer)
    this.components.node.removeEventListener('peer:discovery', this.onDiscovery)
    this.components.node.removeEventListener('peer:connect', this.onConnect)
  }

  /** Run one connection check now (it is cheap and never overlaps a dial to the same peer). */
  kick(): void {
    if (!this.running) return
    void this.heartbeat().catch((err: unknown) =>
      this.components.log.warn({ err }, 'peer manager heartbeat failed'),
    )
  }

  private async heartbeat(): Promise<void> {
    const { node } = this.components
    const connected = new Set(node.getPeers().map((p) => p.toString()))
    let room = this.opts.targetPeers - connected.size - this.dialing.size
    if (room <= 0) return
    const maxParallel = this.opts.maxParallelDials ?? 8
    for (const id of await this.candidates(connected)) {
      if (room <= 0 || this.dialing.size >= maxParallel) break
      room--
      this.dial(id)
    }
  }

  /** Peers worth dialling: bootstrap first, then every known peer with an address. */
  private async candidates(connected: Set<string>): Promise<PeerId[]> {
    const { node } = this.components
    const seen = new Set<string>()
    const out: PeerId[] = []
    const consider = (id: PeerId): void => {
      const key = id.toString()
      if (seen.has(key) || connected.has(key) || this.dialing.has(key) || id.equals(node.peerId)) return
      seen.add(key)
      if (this.backoff.ready(key)) out.push(id)
    }
    for (const b of this.bootstrap) consider(b.id)
    for (const peer of await node.peerStore.all()) {
      if (peer.addresses.length > 0) consider(peer.id)
    }
    return out
  }

  private dial(id: PeerId): void {
    const key = id.toString()
    this.dialing.add(key)
    this.components.node
      .dial(id)
      .then(() => this.backoff.succeed(key))
      .catch((err: unknown) => {
        const waitMs = this.backoff.fail(key)
        this.components.log.debug({ peer: key, waitMs, err: (err as Error).message }, 'dial failed')
      })
      .finally(() => this.dialing.delete(key))
  }
}
