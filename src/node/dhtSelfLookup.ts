import type { Logger } from '../util/logger.js'
import { routingTableSize, type CordexLibp2p } from './libp2p.js'

export interface DhtSelfLookupOptions {
  /** First interval between self-lookups while the routing table grows, in ms. */
  minIntervalMs: number
  /**
   * kad-dht's own self-query interval, in ms (configured with the same value): once the table has
   * stopped growing (or failed lookups have backed off this far) that one keeps it fresh and this
   * one stops.
   */
  maxIntervalMs: number
  /** Limit of one lookup, in ms (default 10 000). */
  timeoutMs?: number
}

export interface DhtSelfLookupComponents {
  node: CordexLibp2p
  log: Logger
  /** Run `fn` after `ms`; returns the cancel (an unref'd timer in the daemon). */
  setTimer: (fn: () => void, ms: number) => () => void
}

/**
 * Looks the node itself up in the DHT quickly while its routing table is filling, then hands over
 * to kad-dht. kad-dht's own self-query runs at one fixed interval: a short one keeps every idle
 * daemon querying all its neighbours (each answer feeds the peer store and the peer manager), a
 * long one leaves a new daemon knowing only its bootstrap peer. Here the first lookup runs as soon
 * as the routing table holds a peer, and the next ones every `minIntervalMs` while each finds
 * closest peers it was not connected to (peers that connect to it, or connections that drop and come
 * back, do not keep it going: only what a lookup teaches does). The first that finds none ends the
 * fast phase, and kad-dht's own timer (`maxIntervalMs`) takes over; a failed lookup is tried again
 * at an interval that doubles up to that. Losing every peer starts it over. One lookup at a time,
 * each under a timeout, so its cost is bounded whatever peers do.
 */
export class DhtSelfLookup {
  private cancel: (() => void) | undefined
  private intervalMs: number
  private running = false
  /** Waiting for a first peer (at start, or after losing them all); settled: kad-dht's turn. */
  private state: 'waiting' | 'active' | 'settled' = 'waiting'
  /** Lookups run so far. */
  lookups = 0
  private readonly onIdentify = (): void => {
    // A first peer after none: start over at the short interval.
    if (this.state !== 'waiting') return
    this.state = 'active'
    this.schedule(this.opts.minIntervalMs)
  }
  private readonly onDisconnect = (): void => {
    if (this.components.node.getPeers().length > 0) return
    this.cancel?.()
    this.cancel = undefined
    this.state = 'waiting'
    this.intervalMs = this.opts.minIntervalMs
  }

  constructor(
    private readonly components: DhtSelfLookupComponents,
    private readonly opts: DhtSelfLookupOptions,
  ) {
    this.intervalMs = opts.minIntervalMs
  }

  start(): void {
    const { node } = this.components
    this.running = true
    // kad-dht adds a peer to its routing table once identify has shown that it speaks the DHT.
    node.addEventListener('peer:identify', this.onIdentify)
    node.addEventListener('peer:disconnect', this.onDisconnect)
    if (node.getPeers().length > 0) this.onIdentify()
  }

  stop(): void {
    this.running = false
    this.cancel?.()
    this.cancel = undefined
    this.components.node.removeEventListener('peer:identify', this.onIdentify)
    this.components.node.removeEventListener('peer:disconnect', this.onDisconnect)
  }

  private schedule(ms: number): void {
    if (!this.running) return
    this.cancel?.()
    this.cancel = this.components.setTimer(() => {
      this.cancel = undefined
      void this.tick()
    }, ms)
  }

  private async tick(): Promise<void> {
    const { node, log } = this.components
    const table = routingTableSize(node)
    const peers = node.getPeers().length
    if (table === 0) {
      // Connected, but identify (and so the routing table) is not done yet: look again shortly;
      // with no peer at all, wait for the next identify.
      if (peers > 0) this.schedule(this.opts.minIntervalMs)
      else this.state = 'waiting'
      return
    }
    let fresh: number | null = null
    try {
      fresh = await this.lookup()
      log.debug({ table, peers, fresh }, 'dht self-lookup')
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'dht self-lookup failed')
    }
    this.lookups++
    if (fresh === null) {
      // Failed (a timeout on a saturated host, mostly): try again, less and less often.
      this.intervalMs = Math.min(this.intervalMs * 2, this.opts.maxIntervalMs)
    } else if (fresh > 0 || this.lookups === 1) {
      this.intervalMs = this.opts.minIntervalMs
    } else {
      // It taught nothing new: every lookup after this one would cost the same and teach as little.
      this.intervalMs = this.opts.maxIntervalMs
    }
    if (this.intervalMs >= this.opts.maxIntervalMs && this.state === 'active') {
      this.state = 'settled'
      log.debug({ table, peers }, 'routing table settled; kad-dht self-query takes over')
      return
    }
    if (this.state === 'active') this.schedule(this.intervalMs)
  }

  /**
   * One getClosestPeers(self); its answers reach the peer store and `peer:discovery` listeners (the
   * peer manager dials them). Returns how many of the closest peers it found were not connected.
   */
  private async lookup(): Promise<number> {
    const { node } = this.components
    const connected = new Set(node.getPeers().map((p) => p.toString()))
    let fresh = 0
    const signal = AbortSignal.timeout(this.opts.timeoutMs ?? 10_000)
    for await (const event of node.services.dht.getClosestPeers(node.peerId.toMultihash().bytes, {
      signal,
    })) {
      if (event.name === 'FINAL_PEER' && !connected.has(event.peer.id.toString())) fresh++
      if (!this.running) break
    }
    return fresh
  }
}
