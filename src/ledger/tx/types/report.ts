import { read, json } from '../../codec.js'
import { toHex } from '../../crypto.js'
import { TxRejectedError } from '../../errors.js'
import { getAccount, putAccount } from '../../state/access.js'
import { getAudit, getChecked, getVerifyParams, putChecked } from '../../verify/access.js'
import { settleDispute } from '../../verify/decide.js'
import type { TxType } from '../tx.js'
import { taskIdJson } from './taskCancel.js'

export interface ReportBody {
  taskId: Uint8Array
}

/**
 * SPEC 6.3: a client disputes its own task, escrowing `reportDeposit`. The task is disputed as if
 * a check had failed: every weighted peer but the executor may vote, and the majority decides.
 * Upheld, the client gets its fee, its deposit and a share of the forfeit; rejected, the deposit
 * pays the verifiers who passed the task. Allowed until the task's audit closes. The votes cast
 * before the report count: a task its checkers passed by a majority already is cleared at once.
 */
export const report: TxType<ReportBody> = {
  name: 'Report',
  encodeBody: (b) => [b.taskId],
  decodeBody: (v) => {
    const [t] = read.array(v, 1, 'Report')
    return { taskId: read.bytes(t, 'taskId', 32) }
  },
  fromJson: (v) => ({ taskId: taskIdJson(json.object(v, 'body').taskId) }),
  toJson: (b) => ({ taskId: toHex(b.taskId) }),
  apply: (s, tx) => {
    const params = getVerifyParams(s)
    if (params === undefined) throw new TxRejectedError('NO_VERIFICATION', 'this chain checks no tasks')
    const id = toHex(tx.body.taskId)
    const task = getChecked(s, id)
    if (task === undefined) throw new TxRejectedError('NO_TASK', `no task ${id} under verification`)
    if (task.client !== tx.from) throw new TxRejectedError('NOT_CLIENT', 'only the task’s client reports it')
    if (task.status !== 'open' && task.status !== 'disputed')
      throw new TxRejectedError('TASK_DECIDED', `task ${id} is already ${task.status}`)
    if (task.reportDeposit > 0n) throw new TxRejectedError('DUPLICATE', 'this task is reported already')
    if (getAudit(s, task.epoch)?.closed !== false)
      throw new TxRejectedError('AUDIT_CLOSED', `the audit of epoch ${task.epoch} is over`)
    const acct = getAccount(s, tx.from)
    if (acct.balance < params.reportDeposit)
      throw new TxRejectedError(
        'INSUFFICIENT_FUNDS',
        `balance ${acct.balance} cannot pay the report deposit ${params.reportDeposit}`,
      )
    putAccount(s, tx.from, { ...acct, balance: acct.balance - params.reportDeposit })
    const next = { ...task, status: 'disputed' as const, reportDeposit: params.reportDeposit }
    putChecked(s, id, next)
    // The checks made before the report count: when they hold a majority already, it is decided
    // now (no one left to vote could decide it later).
    settleDispute(s, id, next, params)
  },
}
