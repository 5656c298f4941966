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
 * peers after a restart, so this does both: while below `targetPeers`, it dials bootstrap peers,
 * peers the DHT discovered and peers remembered in the persistent peer store, each with exponential
 * backoff after a failure.
 *
 * A check reads the whole peer store, so it runs only when it can find something new: after a
 * discovery, a disconnection or a finished dial, when a peer's backoff ends, and at the latest every
 * `redialMaxMs`; the heartbeat only looks whether one of these is due. Checks never overlap: a
 * trigger during a check runs one more check after it, however many triggers came (a DHT lookup's
 * answers bring hundreds of `peer:discovery` events at once).
 */
export class PeerManager {
  private readonly backoff: Backoff
  private readonly dialing = new Set<string>()
  private readonly bootstrap: Array<{ id: PeerId; addr: Multiaddr }>
  private timer: NodeJS.Timeout | undefined
  private running = false
  private checking = false
  private again = false
  /** When the next full check is due even if nothing changed (a backoff ends, or `redialMaxMs`). */
  private dueAt = 0
  /** Full checks of the peer store so far. */
  checks = 0
  private readonly onChange = (): void => this.kick()
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
    node.addEventListener('peer:discovery', this.onChange)
    node.addEventListener('peer:disconnect', this.onChange)
    node.addEventListener('peer:connect', this.onConnect)
    this.timer = setInterval(() => this.tick(), this.opts.heartbeatMs)
    this.kick()
  }

  async stop(): Promise<void> {
    this.running = false
    if (this.timer !== undefined) clearInterval(this.timer)
    this.components.node.removeEventListener('peer:discovery', this.onChange)
    this.components.node.removeEventListener('peer:disconnect', this.onChange)
    this.components.node.removeEventListener('peer:connect', this.onConnect)
  }

  /** Ask for a connection check now: it runs at once, or once more after the one running. */
  kick(): void {
    if (!this.running) return
    if (this.checking) {
      this.again = true
      return
    }
    this.checking = true
    void this.check()
      .catch((err: unknown) => this.components.log.warn({ err }, 'peer manager check failed'))
      .finally(() => {
        this.checking = false
        if (this.again) {
          this.again = false
          this.kick()
        }
      })
  }

  /** The heartbeat: a check only if one is due (cheap otherwise: no peer-store read). */
  private tick(): void {
    if (this.components.clock.now() >= this.dueAt) this.kick()
  }

  private async check(): Promise<void> {
    const { node, clock } = this.components
    const connected = new Set(node.getPeers().map((p) => p.toString()))
    let room = this.opts.targetPeers - connected.size - this.dialing.size
    // Nothing to do until a peer leaves (an event) or the periodic re-check.
    this.dueAt = clock.now() + this.opts.redialMaxMs
    if (room <= 0) return
    const maxParallel = this.opts.maxParallelDials ?? 8
    this.checks++
    for (const id of await this.candidates(connected)) {
      if (room <= 0 || this.dialing.size >= maxParallel) break
      room--
      this.dial(id)
    }
  }

  /**
   * Peers worth dialling: bootstrap first, then every known peer with an address. Peers still in
   * backoff are left out, and the earliest end of their backoff becomes the next due check.
   */
  private async candidates(connected: Set<string>): Promise<PeerId[]> {
    const { node } = this.components
    const seen = new Set<string>()
    const out: PeerId[] = []
    const consider = (id: PeerId): void => {
      const key = id.toString()
      if (seen.has(key) || connected.has(key) || this.dialing.has(key) || id.equals(node.peerId)) return
      seen.add(key)
      if (this.backoff.ready(key)) out.push(id)
      else this.dueAt = Math.min(this.dueAt, this.backoff.readyAt(key))
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
      .finally(() => {
        this.dialing.delete(key)
        // A slot is free (and a failure has set a backoff): look for the next candidate now.
        this.kick()
      })
  }
}
