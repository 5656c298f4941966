import { read, amount } from '../../codec.js'
import { publicKeyOfPeerId } from '../../crypto.js'
import { CodecError, TxRejectedError } from '../../errors.js'
import { getAccount, putAccount } from '../../state/access.js'
import type { TxType } from '../tx.js'

export interface TransferBody {
  to: string
  amount: bigint
}

/** Transfer: move `amount` base units from the sender's balance to `to`. */
export const transfer: TxType<TransferBody> = {
  name: 'Transfer',
  encodeBody: (b) => [b.to, amount(b.amount)],
  decodeBody: (v) => {
    const [to, a] = read.array(v, 2, 'Transfer')
    const body = { to: read.string(to, 64, 'to'), amount: read.amount(a, 'amount') }
    if (publicKeyOfPeerId(body.to) === undefined)
      throw new CodecError('BAD_SHAPE', 'to: not an Ed25519 peer id', { what: 'to' })
    if (body.amount === 0n) throw new CodecError('BAD_SHAPE', 'amount: must be positive', { what: 'amount' })
    return body
  },
  apply: (s, tx) => {
    const from = getAccount(s, tx.from)
    if (from.balance < tx.body.amount) {
      throw new TxRejectedError(
        'INSUFFICIENT_FUNDS',
        `balance ${from.balance} is below the amount ${tx.body.amount}`,
      )
    }
    putAccount(s, tx.from, { ...from, balance: from.balance - tx.body.amount })
    const to = getAccount(s, tx.body.to)
    putAccount(s, tx.body.to, { ...to, balance: to.balance + tx.body.amount })
  },
}
