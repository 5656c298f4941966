import { read, json } from '../../codec.js'
import { fromHex, toHex } from '../../crypto.js'
import { TxRejectedError } from '../../errors.js'
import { getAccount, putAccount } from '../../state/access.js'
import { getTask, putTask } from '../../task/access.js'
import type { TxType } from '../tx.js'

export interface TaskCancelBody {
  taskId: Uint8Array
}

/** A task id as a client posts it: 64 lowercase hex digits. */
export function taskIdJson(v: unknown): Uint8Array {
  const hex = read.string(v, 64, 'taskId')
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new TxRejectedError('BAD_BODY', 'taskId: 64 hex digits')
  return fromHex(hex)
}

/** A client takes back the whole escrow of a task that no executor answered with a receipt. */
export const taskCancel: TxType<TaskCancelBody> = {
  name: 'TaskCancel',
  encodeBody: (b) => [b.taskId],
  decodeBody: (v) => {
    const [t] = read.array(v, 1, 'TaskCancel')
    return { taskId: read.bytes(t, 'taskId', 32) }
  },
  fromJson: (v) => ({ taskId: taskIdJson(json.object(v, 'body').taskId) }),
  toJson: (b) => ({ taskId: toHex(b.taskId) }),
  apply: (s, tx) => {
    const id = toHex(tx.body.taskId)
    const task = getTask(s, id)
    if (task === undefined) throw new TxRejectedError('NO_TASK', `no open task ${id}`)
    if (task.client !== tx.from) throw new TxRejectedError('NOT_CLIENT', 'only the task’s client cancels it')
    const acct = getAccount(s, tx.from)
    putAccount(s, tx.from, { ...acct, balance: acct.balance + task.maxCost })
    putTask(s, id, null)
  },
}
