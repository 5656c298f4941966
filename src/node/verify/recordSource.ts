import { toHex } from '../../ledger/index.js'
import type { TaskRecordData, TaskRecordLookup } from '../../protocols/index.js'
import type { ExecutorRecords } from '../infer/executorRecords.js'
import type { TaskStore } from '../infer/taskStore.js'

export interface TaskRecordSourceOptions {
  /**
   * Devnet-only misbehaviour: answer "not found" for every task, as a host that keeps no records
   * would, so that tests can watch verifiers deal with it. Default false.
   */
  noRecords: boolean
}

/**
 * What this daemon serves over `task` (SPEC 6.1): the records it keeps as an executor first (the
 * request as it arrived, the output it produced), then those it keeps as a gateway. Either store
 * may be absent (a daemon that hosts no model, or a chain without inference).
 */
export class TaskRecordSource {
  private readonly opts: TaskRecordSourceOptions

  constructor(
    private readonly components: { executor: ExecutorRecords | null; gateway: TaskStore | null },
    opts: Partial<TaskRecordSourceOptions> = {},
  ) {
    this.opts = { noRecords: false, ...opts }
  }

  /** The record of `taskId`, or undefined when this daemon keeps none. */
  async get(taskId: Uint8Array): Promise<TaskRecordData | undefined> {
    if (this.opts.noRecords) return undefined
    const id = toHex(taskId)
    return (await this.components.executor?.get(id)) ?? (await this.components.gateway?.verifiableRecord(id))
  }

  /** The `task` protocol's handler. */
  readonly lookup: TaskRecordLookup = (taskId) => this.get(taskId)
}
