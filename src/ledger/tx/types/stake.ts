import { read, amount, json } from '../../codec.js'
import { CodecError, TxRejectedError } from '../../errors.js'
import { getAccount, putAccount } from '../../state/access.js'
import type { TxType } from '../tx.js'

export interface StakeBody {
  amount: bigint
}

/** Body codec shared by Stake and Unstake: one positive amount. */
export const amountBody = {
  encodeBody: (b: StakeBody): unknown => [amount(b.amount)],
  decodeBody: (v: unknown): StakeBody => positive(read.amount(read.array(v, 1, 'body')[0], 'amount')),
  fromJson: (v: unknown): StakeBody => positive(json.amount(json.object(v, 'body').amount, 'amount')),
  toJson: (b: StakeBody): unknown => ({ amount: b.amount.toString() }),
}

function positive(a: bigint): StakeBody {
  if (a === 0n) throw new CodecError('BAD_SHAPE', 'amount: must be positive', { what: 'amount' })
  return { amount: a }
}

/** Stake: bond `amount` from the balance; bonded stake is what a double-signer loses. */
export const stake: TxType<StakeBody> = {
  name: 'Stake',
  ...amountBody,
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
