import type { ValidatorSet } from './validatorSet.js'
import { voteKey, type Vote } from './vote.js'

/**
 * The votes of one type for one height and round (CometBFT's VoteSet): at most one per
 * validator, with the power behind each block hash (or nil). Pure counting; signatures are
 * checked before votes get here. A second, different vote from the same validator is returned as
 * a conflict: evidence of double-signing.
 */
export class VoteSet {
  private readonly byValidator = new Map<string, Vote>()
  private readonly powerByKey = new Map<string, number>()
  private power = 0

  constructor(private readonly validators: ValidatorSet) {}

  /** Add a vote; returns the earlier conflicting vote if the validator already voted otherwise. */
  add(v: Vote): { added: boolean; conflict?: Vote } {
    const prior = this.byValidator.get(v.validator)
    if (prior !== undefined) {
      return voteKey(prior.blockHash) === voteKey(v.blockHash)
        ? { added: false }
        : { added: false, conflict: prior }
    }
    const p = this.validators.powerOf(v.validator)
    if (p === 0) return { added: false }
    this.byValidator.set(v.validator, v)
    const key = voteKey(v.blockHash)
    this.powerByKey.set(key, (this.powerByKey.get(key) ?? 0) + p)
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
    return [...this.byValidator.values()]
      .filter((v) => voteKey(v.blockHash) === key)
      .sort((a, b) => (a.validator < b.validator ? -1 : a.validator > b.validator ? 1 : 0))
  }

  voters(): string[] {
    return [...this.byValidator.keys()]
  }

  all(): Vote[] {
    return [...this.byValidator.values()]
  }
}
