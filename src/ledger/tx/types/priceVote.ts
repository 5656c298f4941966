import { amount, json } from '../../codec.js'
import { TxRejectedError } from '../../errors.js'
import { putPriceVote } from '../../price/access.js'
import type { TxType } from '../tx.js'

export interface PriceVoteBody {
  /** Base units per unit of compute; a positive integer below 2^64. */
  price: bigint
}

const MAX = 1n << 64n

/**
 * A price: in CBOR an integer, in JSON a decimal string (as every amount a client posts); anything
 * else, zero, or 2^64 and above is BAD_PRICE.
 */
function price(v: unknown, from: 'cbor' | 'json'): bigint {
  const b =
    from === 'cbor'
      ? typeof v === 'number' && Number.isSafeInteger(v)
        ? BigInt(v)
        : v
      : typeof v === 'string' && /^\d{1,20}$/.test(v)
        ? BigInt(v)
        : undefined
  if (typeof b !== 'bigint' || b <= 0n || b >= MAX) {
    const shown = typeof v === 'bigint' ? v.toString() : String(JSON.stringify(v))
    throw new TxRejectedError(
      'BAD_PRICE',
      `price: expected a positive integer of base units per unit of compute, below 2^64${from === 'json' ? ', as a decimal string' : ''}; got ${shown.slice(0, 40)}`,
    )
  }
  return b
}

/**
 * PriceVote (SPEC 7, seed 004 appendix J): the sender's vote for the price of a unit of compute.
 * It replaces the sender's earlier vote and counts, with the sender's weight, in the weighted
 * median taken at the end of every epoch in which the sender has weight (src/ledger/price). Anyone
 * may vote; a vote without weight counts for nothing until its sender has weight.
 */
export const priceVote: TxType<PriceVoteBody> = {
  name: 'PriceVote',
  encodeBody: (b) => [amount(b.price)],
  decodeBody: (v) => {
    if (!Array.isArray(v) || v.length !== 1)
      throw new TxRejectedError('BAD_BODY', 'PriceVote: expected [price]')
    return { price: price(v[0], 'cbor') }
  },
  fromJson: (v) => ({ price: price(json.object(v, 'body').price, 'json') }),
  toJson: (b) => ({ price: b.price.toString() }),
  apply: (s, tx, ctx) => {
    // Decoding refused the rest already; a body built in memory is checked here too.
    price(tx.body.price, 'cbor')
    putPriceVote(s, tx.from, { price: tx.body.price, height: ctx.height })
  },
}
