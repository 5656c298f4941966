import { TxRejectedError } from '../../errors.js'
import { getAccount, putAccount, getUnbonding, putUnbonding } from '../../state/access.js'
import type { TxType } from '../tx.js'
import { amountBody, type StakeBody } from './stake.js'

/**
 * Unstake: unbond `amount`; it returns to the balance `params.unbondingBlocks` blocks later, so
 * that stake stays slashable for evidence that arrives late.
 */
export const unstake: TxType<StakeBody> = {
  name: 'Unstake',
  ...amountBody,
  apply: (s, tx, ctx) => {
    const acct = getAccount(s, tx.from)
    if (acct.stake < tx.body.amount) {
      throw new TxRejectedError(
        'INSUFFICIENT_STAKE',
        `stake ${acct.stake} is below the amount ${tx.body.amount}`,
      )
    }
    putAccount(s, tx.from, { ...acct, stake: acct.stake - tx.body.amount })
    const release = ctx.height + ctx.params.unbondingBlocks
    putUnbonding(s, release, [...getUnbonding(s, release), [tx.from, tx.body.amount]])
  },
}
