import { read } from '../../codec.js'
import { toHex } from '../../crypto.js'
import { TxRejectedError } from '../../errors.js'
import { getAccount, getHost, putAccount } from '../../state/access.js'
import { getInferenceParams, getTask, putTask } from '../../task/access.js'
import {
  decodeReceipt,
  encodeReceipt,
  receiptDigest,
  taskFee,
  verifyReceipt,
  type Receipt,
} from '../../task/receipt.js'
import { getEpoch } from '../../epoch/access.js'
import {
  addHeld,
  getAudit,
  getStanding,
  getVerifyParams,
  indexTask,
  putChecked,
  totalWeight,
  weightIn,
} from '../../verify/access.js'
import { checkRateBps } from '../../verify/select.js'
import type { TxType } from '../tx.js'

export interface TaskReceiptBody {
  receipt: Receipt
  executor: string
  /** The executor's signature over the receipt. */
  sig: Uint8Array
}

/**
 * SPEC 5.3 step 5: the client settles its task with the executor's signed receipt. The fee (tokens
 * × unit price × units per token, at most the escrow) goes to the executor's held rewards; the rest
 * of the escrow returns to the client. On a chain with verification the task is then kept for its
 * checks until its epoch's audit closes; a jailed executor cannot be paid.
 */
export const taskReceipt: TxType<TaskReceiptBody> = {
  name: 'TaskReceipt',
  encodeBody: (b) => [encodeReceipt(b.receipt), b.executor, b.sig],
  decodeBody: (v) => {
    const [r, e, sig] = read.array(v, 3, 'TaskReceipt')
    return {
      receipt: decodeReceipt(r),
      executor: read.string(e, 64, 'executor'),
      sig: read.bytes(sig, 'sig', 64),
    }
  },
  fromJson: () => {
    throw new TxRejectedError('BAD_BODY', 'receipts are posted by the gateway itself')
  },
  toJson: (b) => ({
    taskId: toHex(b.receipt.taskId),
    model: b.receipt.modelId,
    executor: b.executor,
    promptTokens: b.receipt.promptTokens,
    completionTokens: b.receipt.completionTokens,
    inputHash: toHex(b.receipt.inputHash),
    outputHash: toHex(b.receipt.outputHash),
    ...(b.receipt.auditRoot === undefined ? {} : { auditRoot: toHex(b.receipt.auditRoot) }),
  }),
  apply: (s, tx, ctx) => {
    const { receipt, executor, sig } = tx.body
    const id = toHex(receipt.taskId)
    const task = getTask(s, id)
    if (task === undefined) throw new TxRejectedError('NO_TASK', `no open task ${id}`)
    if (task.client !== tx.from) throw new TxRejectedError('NOT_CLIENT', 'only the task’s client settles it')
    if (receipt.modelId !== task.model)
      throw new TxRejectedError(
        'BAD_RECEIPT',
        `the receipt names model ${receipt.modelId}, the task ${task.model}`,
      )
    if (getHost(s, executor)?.models.includes(task.model) !== true)
      throw new TxRejectedError('BAD_RECEIPT', `${executor} does not host ${task.model}`)
    if (!verifyReceipt(ctx.chainId, executor, receipt, sig))
      throw new TxRejectedError('BAD_RECEIPT', 'the executor’s signature does not verify')
    const params = getInferenceParams(s)
    const units = params?.models.find(([m]) => m === task.model)?.[1]
    if (params === undefined || units === undefined)
      throw new TxRejectedError('UNKNOWN_MODEL', `model ${task.model} is no longer approved`)
    // At the price the task was opened at (SPEC 7: the price may have changed at an epoch end since).
    const fee = taskFee(receipt.promptTokens + receipt.completionTokens, units, task.unitPrice, task.maxCost)
    const epoch = getEpoch(s)?.number ?? 0
    if (getStanding(s, executor).jailedUntilEpoch > epoch)
      throw new TxRejectedError('JAILED', `${executor} is jailed for fraud`)
    addHeld(s, executor, epoch, fee)
    // Under verification the settled task waits for its checks (docs/verification.md).
    const vp = getVerifyParams(s)
    const audit = getAudit(s, epoch)
    if (vp !== undefined && audit !== undefined) {
      putChecked(s, id, {
        epoch,
        executor,
        client: task.client,
        model: task.model,
        fee,
        rateBps: checkRateBps(getStanding(s, executor).reputation, vp.reputationCap, vp.minCheckRateBps),
        others: totalWeight(audit) - weightIn(audit, executor),
        receipt: receiptDigest(receipt, executor, sig),
        height: ctx.height,
        status: 'open',
        votes: [],
        reportDeposit: 0n,
        parked: false,
        penalty: null,
      })
      indexTask(s, audit, receipt.taskId)
    }
    const acct = getAccount(s, tx.from)
    putAccount(s, tx.from, { ...acct, balance: acct.balance + task.maxCost - fee })
    putTask(s, id, null)
  },
}
