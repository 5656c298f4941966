import { read, amount, json } from '../../codec.js'
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
    return check({ to: read.string(to, 64, 'to'), amount: read.amount(a, 'amount') })
  },
  fromJson: (v) => {
    const o = json.object(v, 'body')
    return check({ to: read.string(o.to, 64, 'to'), amount: json.amount(o.amount, 'amount') })
  },
  toJson: (b) => ({ to: b.to, amount: b.amount.toString() }),
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

function check(body: TransferBody): TransferBody {
  if (publicKeyOfPeerId(body.to) === undefined) {
    throw new CodecError('BAD_SHAPE', 'to: not an Ed25519 peer id', { what: 'to' })
  }
  if (body.amount === 0n) throw new CodecError('BAD_SHAPE', 'amount: must be positive', { what: 'amount' })
  return body
}
