import { read, amount } from '../../codec.js'
import { CodecError, TxRejectedError } from '../../errors.js'
import { getAccount, putAccount } from '../../state/access.js'
import type { TxType } from '../tx.js'

export interface StakeBody {
  amount: bigint
}

export function decodeAmountBody(v: unknown, what: string): StakeBody {
  const [a] = read.array(v, 1, what)
  const body = { amount: read.amount(a, 'amount') }
  if (body.amount === 0n) throw new CodecError('BAD_SHAPE', 'amount: must be positive', { what: 'amount' })
  return body
}

/** Stake: bond `amount` from the balance; bonded stake is what a double-signer loses. */
export const stake: TxType<StakeBody> = {
  name: 'Stake',
  encodeBody: (b) => [amount(b.amount)],
  decodeBody: (v) => decodeAmountBody(v, 'Stake'),
  apply: (s, tx) => {
    const acct = getAccount(s, tx.from)
    if (acct.balance < tx.body.amount) {
      throw new TxRejectedError(
        'INSUFFICIENT_FUNDS',
        `balance ${acct.balance} is below the amount ${tx.body.amount}`,
      )
    }
    putAccount(s, tx.from, {
      ...acct,
      balance: acct.balance - tx.body.amount,
      stake: acct.stake + tx.body.amount,
    })
  },
}
