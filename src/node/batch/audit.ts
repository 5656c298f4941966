/** A task's verification in one word, as `GET /tasks/:id` says it (src/node/api/views/taskView.ts). */
export type TaskVerdict = 'pending' | 'verified' | 'fraud' | 'unchecked' | 'unknown'

/** The chain's status of a checked task, as the ledger keeps it. */
export type ChainStatus = 'open' | 'disputed' | 'fraud' | 'cleared' | 'verified' | 'unchecked' | 'unproven'

/**
 * The audit of a batch's tasks: how many there are, how many have each verification, and of
 * those the chain holds, how many have each chain status (`disputed`: a check failed or it was
 * reported, the weighted majority has not decided; `fraud`: its executor was convicted).
 */
export interface BatchAudit {
  tasks: number
  verification: Record<TaskVerdict, number>
  chain: Record<ChainStatus, number>
}

/** Count the verifications of a batch's tasks (`status` undefined: the chain holds no record of it). */
export function countAudit(
  tasks: Array<{ verification: TaskVerdict; status: ChainStatus | undefined }>,
): BatchAudit {
  const a: BatchAudit = {
    tasks: tasks.length,
    verification: { pending: 0, verified: 0, fraud: 0, unchecked: 0, unknown: 0 },
    chain: { open: 0, disputed: 0, fraud: 0, cleared: 0, verified: 0, unchecked: 0, unproven: 0 },
  }
  for (const t of tasks) {
    a.verification[t.verification]++
    if (t.status !== undefined) a.chain[t.status]++
  }
  return a
}
