import { taggedHash, u64 } from '../crypto.js'
import type { ValidatorEntry } from '../state/records.js'

/**
 * The validators with voting power at one height: jailed ones and those with no power are left
 * out. Quorum arithmetic (SPEC 3.3): strictly more than 2/3 of the total power; "one third" is
 * strictly more than 1/3, the smallest set that must contain an honest validator.
 */
export class ValidatorSet {
  readonly members: ReadonlyArray<{ id: string; power: number }>
  readonly total: number
  private readonly byId: Map<string, number>

  constructor(entries: readonly ValidatorEntry[], height: number) {
    this.members = entries
      .filter((v) => v.power > 0 && v.jailedUntil < height)
      .map((v) => ({ id: v.id, power: v.power }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    this.byId = new Map(this.members.map((m) => [m.id, m.power]))
    this.total = this.members.reduce((s, m) => s + m.power, 0)
  }

  powerOf(id: string): number {
    return this.byId.get(id) ?? 0
  }

  has(id: string): boolean {
    return this.byId.has(id)
  }

  /** `power` is strictly more than 2/3 of the total. */
  isQuorum(power: number): boolean {
    return 3 * power > 2 * this.total
  }

  /** `power` is strictly more than 1/3 of the total. */
  isOneThird(power: number): boolean {
    return 3 * power > this.total
  }

  /**
   * SPEC 3.3: the proposer of (height, round) is a weighted draw seeded by the seed, height and
   * round: deterministic, and each validator's chance is its share of the power.
   */
  proposer(seed: Uint8Array, height: number, round: number): string {
    if (this.total === 0) throw new Error('empty validator set')
    const h = taggedHash('cordex/proposer', seed, u64(height), u64(round))
    let x = new DataView(h.buffer, h.byteOffset).getBigUint64(0) % BigInt(this.total)
    for (const m of this.members) {
      if (x < BigInt(m.power)) return m.id
      x -= BigInt(m.power)
    }
    return this.members[this.members.length - 1]!.id
  }
}
