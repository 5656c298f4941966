import { read, json } from '../../codec.js'
import { toHex } from '../../crypto.js'
import { TxRejectedError } from '../../errors.js'
import { getAudit, getChecked, getVerifyParams, putChecked, weightIn } from '../../verify/access.js'
import { settleDispute } from '../../verify/decide.js'
import { readReason, type VerifyReason, type CheckVote } from '../../verify/records.js'
import type { TxType } from '../tx.js'
import { taskIdJson } from './taskCancel.js'

export interface VerifyResultBody {
  taskId: Uint8Array
  /** The output follows the decoding rule and the record matches the receipt. */
  ok: boolean
  reason: VerifyReason
  /** Evidence of a failed check: the first bad position, the rule's token there and the executor's (-1: none). */
  position: number
  expected: number
  actual: number
}

/**
 * SPEC 6.1–6.3: a verifier's verdict on a settled task. A sampled check comes from a peer with
 * weight in the task's epoch, before its key for that epoch is revealed (or, after, only where the
 * key selects it); its selection is proved by that key (`VerifyKey`), which voids the sampled
 * votes it does not select. A failing verdict disputes the task: then every weighted peer but the
 * executor may vote, and the weighted majority decides.
 */
export const verifyResult: TxType<VerifyResultBody> = {
  name: 'VerifyResult',
  encodeBody: (b) => [b.taskId, b.ok, b.reason, b.position, b.expected, b.actual + 1],
  decodeBody: (v) => {
    const [t, ok, reason, pos, exp, act] = read.array(v, 6, 'VerifyResult')
    const body = {
      taskId: read.bytes(t, 'taskId', 32),
      ok: read.bool(ok, 'ok'),
      reason: readReason(reason),
      position: read.uint(pos, 'position'),
      expected: read.uint(exp, 'expected'),
      actual: read.uint(act, 'actual') - 1,
    }
    if (body.ok !== (body.reason === 'ok'))
      throw new TxRejectedError('BAD_BODY', 'a passing verdict has reason ok, a failing one another')
    return body
  },
  fromJson: (v) => {
    const o = json.object(v, 'body')
    const ok = read.bool(o.ok, 'ok')
    return {
      taskId: taskIdJson(o.taskId),
      ok,
      reason: ok ? 'ok' : readReason(o.reason ?? 'token'),
      position: read.uint(o.position ?? 0, 'position'),
      expected: read.uint(o.expected ?? 0, 'expected'),
      actual: typeof o.actual === 'number' && o.actual === -1 ? -1 : read.uint(o.actual ?? 0, 'actual'),
    }
  },
  toJson: (b) => ({
    taskId: toHex(b.taskId),
    ok: b.ok,
    reason: b.reason,
    position: b.position,
    expected: b.expected,
    actual: b.actual,
  }),
  apply: (s, tx) => {
    const params = getVerifyParams(s)
    if (params === undefined) throw new TxRejectedError('NO_VERIFICATION', 'this chain checks no tasks')
    const id = toHex(tx.body.taskId)
    const task = getChecked(s, id)
    if (task === undefined) throw new TxRejectedError('NO_TASK', `no task ${id} under verification`)
    if (task.status !== 'open' && task.status !== 'disputed')
      throw new TxRejectedError('TASK_DECIDED', `task ${id} is already ${task.status}`)
    if (task.executor === tx.from)
      throw new TxRejectedError('NOT_VERIFIER', 'an executor does not check itself')
    const audit = getAudit(s, task.epoch)
    if (audit === undefined)
      throw new TxRejectedError('AUDIT_CLOSED', `the audit of epoch ${task.epoch} is over`)
    if (weightIn(audit, tx.from) === 0)
      throw new TxRejectedError('NOT_VERIFIER', `the sender had no weight in epoch ${task.epoch}`)
    if (task.votes.some((x) => x.verifier === tx.from))
      throw new TxRejectedError('ALREADY_VOTED', 'this verifier has voted on this task')
    const escalation = task.status === 'disputed'
    if (!escalation) {
      if (audit.closed) throw new TxRejectedError('AUDIT_CLOSED', `the audit of epoch ${task.epoch} is over`)
      if (audit.duties.some(([p]) => p === tx.from))
        throw new TxRejectedError(
          'KEY_REVEALED',
          'this verifier revealed its key; it checks disputes only now',
        )
    }
    const vote: CheckVote = {
      verifier: tx.from,
      ok: tx.body.ok,
      reason: tx.body.reason,
      position: tx.body.position,
      expected: tx.body.expected,
      actual: tx.body.actual,
      escalation,
    }
    const next = {
      ...task,
      votes: [...task.votes, vote],
      status: tx.body.ok ? task.status : ('disputed' as const),
    }
    putChecked(s, id, next)
    settleDispute(s, id, next, params)
  },
}
