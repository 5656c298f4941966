import { read, amount } from '../codec.js'

/** A peer's recorded price vote (SPEC 7): what its last PriceVote asked for. */
export interface PriceVoteRecord {
  /** Base units per unit of compute; always positive. */
  price: bigint
  /** Height of the block that recorded it. */
  height: number
}

export const PriceKeys = {
  /** One entry per peer that ever voted; a later vote replaces it. */
  priceVote: (peer: string): string => `pricevote:${peer}`,
} as const

export const priceVoteCodec = {
  encode: (v: PriceVoteRecord): unknown => [amount(v.price), v.height],
  decode: (v: unknown): PriceVoteRecord => {
    const [p, h] = read.array(v, 2, 'pricevote')
    return { price: read.amount(p, 'price'), height: read.uint(h, 'height') }
  },
}
