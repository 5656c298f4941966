import type { Clock } from '../util/clock.js'

/**
 * Per-key exponential backoff: after the n-th consecutive failure a key waits
 * `min * 2^(n-1)`, capped at `max`, before it may be tried again. Pure apart from the clock.
 */
export class Backoff {
  private readonly failures = new Map<string, { count: number; until: number }>()

  constructor(
    private readonly clock: Clock,
    private readonly minMs: number,
    private readonly maxMs: number,
  ) {}

  ready(key: string): boolean {
    const f = this.failures.get(key)
    return f === undefined || this.clock.now() >= f.until
  }

  /** When `key` may be tried again (ms since the epoch; 0 when it has no failure). */
  readyAt(key: string): number {
    return this.failures.get(key)?.until ?? 0
  }

  fail(key: string): number {
    const count = (this.failures.get(key)?.count ?? 0) + 1
    const wait = Math.min(this.maxMs, this.minMs * 2 ** Math.min(count - 1, 30))
    this.failures.set(key, { count, until: this.clock.now() + wait })
    return wait
  }

  succeed(key: string): void {
    this.failures.delete(key)
  }

  get size(): number {
    return this.failures.size
  }
}
