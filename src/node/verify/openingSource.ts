import { ProtocolError } from '../../protocols/errors.js'
import type { OpeningsLookup } from '../../protocols/index.js'
import { openTrace, type RowOpening, type RowRequest } from '../../verify/freivalds/index.js'
import type { ExecutorRecords } from '../infer/executorRecords.js'

/**
 * What this executor opens over `task-open` (SPEC 6.2): the challenged rows of an int8 task it
 * served, from the trace it kept with the task's record, under the root its receipt signed.
 * Opening rebuilds the tree from the kept leaf hashes (a few thousand hashes for a task of
 * kjv-small-int8) and slices the rows: no model runs. A request naming rows the trace does not
 * hold is malformed: an honest verifier derives them from the same shapes.
 */
export function openingSource(records: ExecutorRecords, protocol: string): OpeningsLookup {
  return async (taskId: Uint8Array, requests: RowRequest[]): Promise<RowOpening[] | undefined> => {
    const trace = await records.trace(taskId)
    if (trace === undefined) return undefined
    for (const { product, rows } of requests) {
      const s = trace.shapes[product]
      if (s === undefined || rows.some((r) => r >= s.rows))
        throw new ProtocolError('MALFORMED', `no row ${rows.join(',')} of product ${product} in this task`, {
          protocol,
          action: 'reject',
        })
    }
    return openTrace(trace, requests)
  }
}
