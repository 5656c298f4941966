import type { ValidatorSet } from './validatorSet.js'

/**
 * How far ahead the network is, as claimed by signed messages of current validators for heights
 * beyond the next one. One claim per validator (its highest), so memory is bounded by the
 * validator set. A height counts as reached only when validators with more than a third of the
 * power claim it or beyond: at least one of them is honest, so no minority of liars can send
 * this node chasing a height nobody has (SPEC 3.3's "one third" is the smallest set with an honest
 * member).
 */
export class AheadTracker {
  private readonly claims = new Map<string, number>()

  /** Record that `validator` signed a message for `height`. */
  note(validator: string, height: number): void {
    if (height > (this.claims.get(validator) ?? 0)) this.claims.set(validator, height)
  }

  /** Forget claims at or below `head`: they are no longer ahead. */
  prune(head: number): void {
    for (const [v, h] of this.claims) if (h <= head) this.claims.delete(v)
  }

  /**
   * The highest height that validators with more than a third of `validators`' power have
   * reached, by their own signed messages; undefined when no such height exists. Claims of
   * non-members count for nothing.
   */
  reached(validators: ValidatorSet): number | undefined {
    const byHeight = [...this.claims].filter(([v]) => validators.has(v)).sort((a, b) => b[1] - a[1])
    let power = 0
    for (const [v, h] of byHeight) {
      power += validators.powerOf(v)
      if (validators.isOneThird(power)) return h
    }
    return undefined
  }
}
