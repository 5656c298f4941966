import { getChecked, getVerifyParams, type CheckedTask } from '../../../ledger/index.js'
import { getEpoch } from '../../../ledger/epoch/access.js'
import type { TaskRecordJson } from '../../infer/taskStore.js'
import type { ApiContext } from '../context.js'
import { taskVerification, verificationOf, type Verification } from './taskView.js'

/** What is known of one task: the gateway's record, the chain's, and the verification they mean. */
export interface TaskStatus {
  rec: TaskRecordJson | undefined
  checked: CheckedTask | undefined
  /** Undefined: neither this gateway nor the chain knows the task. */
  verification: Verification | undefined
}

/** A task's status as `GET /tasks/:id` shows it (and a batch's audit counts it). */
export async function taskStatus(ctx: Pick<ApiContext, 'tasks' | 'chain'>, id: string): Promise<TaskStatus> {
  const rec = await ctx.tasks?.get(id)
  const state = ctx.chain.replica.state
  const checked = getChecked(state, id)
  const params = getVerifyParams(state)
  const verification = taskVerification({
    status: checked?.status,
    verifying: params !== undefined,
    recorded: rec !== undefined,
    saved: rec?.verification,
    recordEpoch: rec?.epoch,
    epoch: getEpoch(state)?.number ?? 0,
    disputeEpochs: params?.disputeEpochs ?? 0,
  })
  return { rec, checked, verification }
}

/**
 * A task's verification and chain status, as `taskStatus` finds them, reading the gateway's record
 * only when the chain holds none (a batch's audit counts many tasks at each read).
 */
export async function taskVerdict(
  ctx: Pick<ApiContext, 'tasks' | 'chain'>,
  id: string,
): Promise<{ verification: Verification | undefined; status: CheckedTask['status'] | undefined }> {
  const checked = getChecked(ctx.chain.replica.state, id)
  if (checked !== undefined) return { verification: verificationOf(checked.status), status: checked.status }
  return { verification: (await taskStatus(ctx, id)).verification, status: undefined }
}
