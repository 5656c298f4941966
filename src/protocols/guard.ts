import type { Clock } from '../util/clock.js'
import type { PeerAction } from './errors.js'

export interface PeerGuardOptions {
  /** Penalty points at which a peer is banned. Default 100. */
  banThreshold: number
  /** Points a peer's score loses per second of good behaviour. Default 1. */
  decayPerSecond: number
  /** How long a ban lasts, ms. Default 10 minutes. */
  banMs: number
  /** Peers tracked at most (scores, rates, open streams); the least recently seen are forgotten first. Default 10,000. */
  maxPeers: number
}

export const DEFAULT_GUARD_OPTIONS: PeerGuardOptions = {
  banThreshold: 100,
  decayPerSecond: 1,
  banMs: 10 * 60_000,
  maxPeers: 10_000,
}

/** Per-peer limits every protocol applies unless configured otherwise (SPEC 2). */
export const DEFAULT_PEER_LIMITS = {
  /** Deadline for a request frame to arrive whole, from the stream's opening, ms. */
  requestTimeoutMs: 5000,
  /** Concurrent inbound streams per peer and protocol. */
  maxStreamsPerPeer: 8,
  /** Requests per second per peer and protocol (bursts of twice as many). */
  requestsPerSecond: 50,
} as const

/** Points for each kind of offence (STYLE 7: a validation error says what to do with its sender). */
export const PENALTY: Record<PeerAction, number> = { ignore: 0, reject: 10, penalize: 25 }

interface PeerRecord {
  score: number
  /** When `score` was last decayed, ms. */
  at: number
  bannedUntil: number
  /** Open inbound streams per protocol. */
  open: Map<string, number>
  /** Token buckets per protocol: tokens left and when they were last refilled. */
  buckets: Map<string, { tokens: number; at: number }>
}

/**
 * SPEC 2: per-peer limits and scoring, shared by every protocol and topic. A peer that sends
 * invalid data gathers penalty points (which decay with time); at the threshold it is banned for
 * a while: `onBan` lets the daemon hang up on it, and `isBanned` lets the connection gater refuse
 * it. Each protocol also takes a slot per inbound stream (`open`) and a token per request
 * (`allow`), so no single peer holds more than its share of streams, buffers or work.
 * Pure bookkeeping on an injected clock: no libp2p, no timers.
 */
export class PeerGuard {
  private readonly peers = new Map<string, PeerRecord>()
  private readonly opts: PeerGuardOptions

  constructor(
    private readonly components: {
      clock: Clock
      /** Called once when a peer becomes banned. */
      onBan?: (peer: string, reason: string, untilMs: number) => void
    },
    opts: Partial<PeerGuardOptions> = {},
  ) {
    this.opts = { ...DEFAULT_GUARD_OPTIONS, ...opts }
  }

  /** Count an offence by `peer`; returns true when this one banned it. */
  penalize(peer: string, reason: string, points: number = PENALTY.reject): boolean {
    if (points <= 0) return false
    const r = this.record(peer)
    const now = this.components.clock.now()
    this.decay(r, now)
    r.score += points
    if (r.bannedUntil > now || r.score < this.opts.banThreshold) return false
    r.bannedUntil = now + this.opts.banMs
    r.score = 0
    this.components.onBan?.(peer, reason, r.bannedUntil)
    return true
  }

  /** Penalty points `peer` holds now. */
  score(peer: string): number {
    const r = this.peers.get(peer)
    if (r === undefined) return 0
    this.decay(r, this.components.clock.now())
    return r.score
  }

  isBanned(peer: string): boolean {
    const r = this.peers.get(peer)
    return r !== undefined && r.bannedUntil > this.components.clock.now()
  }

  /**
   * Take one of `peer`'s at most `max` concurrent inbound streams on `protocol`. Returns the
   * function that gives it back (call it once, when the stream ends), or null when the peer is
   * banned or already has `max` open.
   */
  open(peer: string, protocol: string, max: number): (() => void) | null {
    if (this.isBanned(peer)) return null
    const r = this.record(peer)
    const n = r.open.get(protocol) ?? 0
    if (n >= max) return null
    r.open.set(protocol, n + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const left = (r.open.get(protocol) ?? 1) - 1
      if (left <= 0) r.open.delete(protocol)
      else r.open.set(protocol, left)
    }
  }

  /** A token bucket per peer and protocol: `perSecond` sustained, bursts of `burst`. False: over the rate. */
  allow(peer: string, protocol: string, perSecond: number, burst: number): boolean {
    if (this.isBanned(peer)) return false
    const r = this.record(peer)
    const now = this.components.clock.now()
    const b = r.buckets.get(protocol) ?? { tokens: burst, at: now }
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * perSecond)
    b.at = now
    r.buckets.set(protocol, b)
    if (b.tokens < 1) return false
    b.tokens -= 1
    return true
  }

  /** Peers with a ban in force, with its end (ms). */
  banned(): Array<{ peer: string; until: number }> {
    const now = this.components.clock.now()
    return [...this.peers]
      .filter(([, r]) => r.bannedUntil > now)
      .map(([peer, r]) => ({ peer, until: r.bannedUntil }))
  }

  private record(peer: string): PeerRecord {
    let r = this.peers.get(peer)
    if (r !== undefined) {
      // Most recently seen last, so the first entry is the one to forget.
      this.peers.delete(peer)
      this.peers.set(peer, r)
      return r
    }
    r = { score: 0, at: this.components.clock.now(), bannedUntil: 0, open: new Map(), buckets: new Map() }
    this.peers.set(peer, r)
    while (this.peers.size > this.opts.maxPeers) this.evictOne()
    return r
  }

  /** Forget the least recently seen peer that is neither banned nor holding streams. */
  private evictOne(): void {
    const now = this.components.clock.now()
    for (const [peer, r] of this.peers) {
      if (r.bannedUntil > now || r.open.size > 0) continue
      this.peers.delete(peer)
      return
    }
    // Every tracked peer is banned or busy: drop the oldest anyway rather than grow.
    const first = this.peers.keys().next()
    if (first.done !== true) this.peers.delete(first.value)
  }

  private decay(r: PeerRecord, now: number): void {
    r.score = Math.max(0, r.score - ((now - r.at) / 1000) * this.opts.decayPerSecond)
    r.at = now
  }
}
