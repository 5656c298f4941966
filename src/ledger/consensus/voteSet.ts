import type { ValidatorSet } from './validatorSet.js'
import { voteKey, type Vote } from './vote.js'

/**
 * The votes of one type for one height and round (CometBFT's VoteSet), with the power behind each
 * block hash (or nil). Pure counting; signatures are checked before votes get here. A second,
 * different vote from the same validator is returned as a conflict (evidence of double-signing)
 * and counted for its value too, as Algorithm 1 counts every vote it receives: otherwise honest
 * nodes that saw the two halves of an equivocation in different orders see different polkas and
 * can lock on different rounds for good. Counting both is safe: two sets of more than 2/3 of the
 * power share more than 1/3, so an honest validator, who never votes twice. A validator's votes
 * beyond its second value are dropped, so equivocating costs no memory.
 */
export class VoteSet {
  /** Each validator's first vote. */
  private readonly byValidator = new Map<string, Vote>()
  /** Per key, the validators that voted for it and their votes. */
  private readonly byKey = new Map<string, Map<string, Vote>>()
  /** Validators whose second, conflicting vote is counted already. */
  private readonly conflicted = new Set<string>()
  private readonly powerByKey = new Map<string, number>()
  private power = 0

  constructor(private readonly validators: ValidatorSet) {}

  /** Add a vote; returns the earlier conflicting vote if the validator already voted otherwise. */
  add(v: Vote): { added: boolean; conflict?: Vote } {
    const p = this.validators.powerOf(v.validator)
    if (p === 0) return { added: false }
    const key = voteKey(v.blockHash)
    const prior = this.byValidator.get(v.validator)
    if (prior !== undefined) {
      if (voteKey(prior.blockHash) === key || this.conflicted.has(v.validator)) return { added: false }
      this.conflicted.add(v.validator)
    }
    let forKey = this.byKey.get(key)
    if (forKey === undefined) this.byKey.set(key, (forKey = new Map()))
    forKey.set(v.validator, v)
    this.powerByKey.set(key, (this.powerByKey.get(key) ?? 0) + p)
    if (prior !== undefined) return { added: true, conflict: prior }
    this.byValidator.set(v.validator, v)
    this.power += p
    return { added: true }
  }
  /** More than 2/3 of the power voted, for anything. */
  hasQuorumAny(): boolean {
    return this.validators.isQuorum(this.power)
  }

  /** More than 1/3 of the power voted (for anything). */
  hasOneThirdAny(): boolean {
    return this.validators.isOneThird(this.power)
  }

  /** The key ("nil" or a block hash in hex) with more than 2/3 of the power, if any. */
  quorumKey(): string | undefined {
    for (const [key, p] of this.powerByKey) if (this.validators.isQuorum(p)) return key
    return undefined
  }

  /** The votes for `key`, sorted by validator. */
  votesFor(key: string): Vote[] {
    return [...(this.byKey.get(key)?.values() ?? [])].sort((a, b) =>
      a.validator < b.validator ? -1 : a.validator > b.validator ? 1 : 0,
    )
  }

  voters(): string[] {
    return [...this.byValidator.keys()]
  }

  all(): Vote[] {
    return [...this.byValidator.values()]
  }
}
