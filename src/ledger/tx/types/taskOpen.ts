import { read, json, amount } from '../../codec.js'
import { toHex } from '../../crypto.js'
import { TxRejectedError } from '../../errors.js'
import { getAccount, putAccount } from '../../state/access.js'
import { getInferenceParams, putTask, unitsPerToken } from '../../task/access.js'
import { taskIdOf } from '../../task/receipt.js'
import type { TxType } from '../tx.js'

export interface TaskOpenBody {
  model: string
  /** Escrowed from the sender's balance until a receipt or cancel settles the task. */
  maxCost: bigint
}

/**
 * SPEC 5.3 step 2: a client escrows `maxCost` for a task on an approved model. The task's id is
 * `H(sender ‖ nonce)` (taskIdOf), so neither gateway nor client picks it, and it keys the executor draw.
 */
export const taskOpen: TxType<TaskOpenBody> = {
  name: 'TaskOpen',
  encodeBody: (b) => [b.model, amount(b.maxCost)],
  decodeBody: (v) => {
    const [m, c] = read.array(v, 2, 'TaskOpen')
    return { model: read.string(m, 128, 'model'), maxCost: read.amount(c, 'maxCost') }
  },
  fromJson: (v) => {
    const o = json.object(v, 'body')
    return { model: read.string(o.model, 128, 'model'), maxCost: json.amount(o.maxCost, 'maxCost') }
  },
  toJson: (b) => ({ model: b.model, maxCost: b.maxCost.toString() }),
  apply: (s, tx, ctx) => {
    if (unitsPerToken(s, tx.body.model) === undefined)
      throw new TxRejectedError('UNKNOWN_MODEL', `model ${tx.body.model} is not approved on this chain`)
    if (tx.body.maxCost === 0n) throw new TxRejectedError('BAD_BODY', 'maxCost must be positive')
    const acct = getAccount(s, tx.from)
    if (acct.balance < tx.body.maxCost) {
      throw new TxRejectedError(
        'INSUFFICIENT_FUNDS',
        `balance ${acct.balance} is below max_cost ${tx.body.maxCost}`,
      )
    }
    putAccount(s, tx.from, { ...acct, balance: acct.balance - tx.body.maxCost })
    putTask(s, toHex(taskIdOf(tx.from, tx.nonce)), {
      client: tx.from,
      model: tx.body.model,
      maxCost: tx.body.maxCost,
      height: ctx.height,
      // SPEC 7: the task is charged at the price in force now, even if it settles after a change.
      unitPrice: getInferenceParams(s)!.unitPrice,
    })
  },
}
