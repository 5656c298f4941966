import type { Level } from 'level'
import { toHex } from '../../ledger/index.js'
import { decodeTaskRecord, encodeTaskRecord, type TaskRecordData } from '../../protocols/task/index.js'
import { decodeTrace, encodeTrace, type AuditTrace } from '../../verify/freivalds/index.js'

type Op = { type: 'put' | 'del'; key: string; value?: Uint8Array }

/** Fixed-width decimal, so that LevelDB's byte order is numeric order. */
const pad = (n: number, width: number): string => String(n).padStart(width, '0')

/**
 * What an executor keeps of each task it served (SPEC 6.1): the request frame exactly as it
 * arrived, the output tokens and the receipt it signed, so that a verifier can fetch them over
 * `task` from the executor as well as from the gateway. One binary record per task in the
 * `executor-records` sublevel, stamped with the epoch it was served in and kept until that
 * epoch's rewards are paid (`prune`), at most `max` of them (the oldest epoch's go first).
 *
 * Keys: `r:<epoch>:<sequence>:<task id>` → the record (epoch order, then arrival order),
 * `i:<task id>` → its `r:` key, and for an int8 task `t:<task id>` → its audit trace (every
 * committed product row, what the executor opens when challenged: SPEC 6.2), which goes with it. The task id in the `r:` key lets a prune delete both without
 * reading a record. Writes and prunes take turns, so the count stays exact.
 */
export class ExecutorRecords {
  private readonly db
  private seq = 0
  private count = 0
  /** The last write or prune: the next one starts after it. */
  private turn: Promise<unknown> = Promise.resolve()

  constructor(
    root: Level<string, Uint8Array>,
    private readonly max: number,
  ) {
    this.db = root.sublevel<string, Uint8Array>('executor-records', { valueEncoding: 'view' })
  }

  async open(): Promise<void> {
    for await (const key of this.db.keys({ gte: 'r:', lt: 'r;' })) {
      const seq = Number(key.split(':')[2])
      if (seq >= this.seq) this.seq = seq + 1
      this.count++
    }
  }

  /** Records held now. */
  get size(): number {
    return this.count
  }

  /** Keep `record`, served in `epoch`, and its audit trace if any; a record of the same task is replaced. */
  put(record: TaskRecordData, epoch: number, trace?: AuditTrace): Promise<void> {
    return this.inTurn(async () => {
      const id = toHex(record.receipt.taskId)
      const key = `r:${pad(epoch, 12)}:${pad(this.seq++, 16)}:${id}`
      const ops: Op[] = [
        { type: 'put', key, value: encodeTaskRecord(record) },
        { type: 'put', key: `i:${id}`, value: new TextEncoder().encode(key) },
        trace === undefined
          ? { type: 'del', key: `t:${id}` }
          : { type: 'put', key: `t:${id}`, value: encodeTrace(trace) },
      ]
      const previous = await this.db.get(`i:${id}`)
      if (previous !== undefined) ops.push({ type: 'del', key: new TextDecoder().decode(previous) })
      else this.count++
      const over = this.count - this.max
      if (over > 0) {
        for await (const old of this.db.keys({ gte: 'r:', lt: 'r;', limit: over })) {
          ops.push(...drop(old))
          this.count--
        }
      }
      await this.db.batch(ops as never)
    })
  }

  /** The record of `taskId` (32 bytes or 64 hex digits), if this executor keeps one. */
  async get(taskId: Uint8Array | string): Promise<TaskRecordData | undefined> {
    const id = typeof taskId === 'string' ? taskId : toHex(taskId)
    const key = await this.db.get(`i:${id}`)
    if (key === undefined) return undefined
    const bytes = await this.db.get(new TextDecoder().decode(key))
    return bytes === undefined ? undefined : decodeTaskRecord(bytes)
  }

  /** The audit trace of `taskId` (an int8 task this executor served and still keeps). */
  async trace(taskId: Uint8Array): Promise<AuditTrace | undefined> {
    const bytes = await this.db.get(`t:${toHex(taskId)}`)
    return bytes === undefined ? undefined : decodeTrace(bytes)
  }

  /** Drop the records served in epochs before `beforeEpoch` (their rewards are paid); returns how many. */
  prune(beforeEpoch: number): Promise<number> {
    return this.inTurn(async () => {
      const ops: Op[] = []
      for await (const key of this.db.keys({ gte: 'r:', lt: `r:${pad(beforeEpoch, 12)}` }))
        ops.push(...drop(key))
      if (ops.length > 0) await this.db.batch(ops as never)
      this.count -= ops.length / 3
      return ops.length / 3
    })
  }

  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.turn.then(fn, fn)
    this.turn = run.catch(() => {})
    return run
  }
}

/** The ops that delete the record under `key`, its index entry and its trace. */
function drop(key: string): Op[] {
  const id = key.slice(key.lastIndexOf(':') + 1)
  return [
    { type: 'del', key },
    { type: 'del', key: `i:${id}` },
    { type: 'del', key: `t:${id}` },
  ]
}
