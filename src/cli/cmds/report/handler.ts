import type { ReportView } from '../../../node/index.js'
import { callDaemon } from '../../client.js'
import { printJson } from '../../output.js'
import type { GlobalArgs } from '../../options.js'
import { checkTaskId } from '../task/handler.js'
import { waitFinal } from '../tx/handler.js'

export interface ReportArgs extends GlobalArgs {
  id: string
  wait: boolean
  timeout: number
}

/**
 * Ask the daemon to report a task (`POST /tasks/:id/report`), then, unless --no-wait, wait until
 * the Report is final. A refusal (not this daemon's task, already decided or reported, the audit
 * over, too little balance) exits 6 with the daemon's reason.
 */
export async function reportHandler(args: ReportArgs): Promise<void> {
  const id = checkTaskId(args.id)
  const sent = await callDaemon<ReportView>(args.dataDir, `/tasks/${id}/report`, { method: 'POST' })
  const status = await waitFinal(args, sent.hash)
  if (args.json) return printJson({ ...sent, ...status })
  console.log(
    `reported task ${id}: transaction ${sent.hash} ${status.status}` +
      `${status.height !== undefined ? ` in block ${status.height}` : ''}, deposit ${sent.deposit} in escrow\n` +
      `follow it with: cordex task ${id}`,
  )
}
