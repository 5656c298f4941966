import type { Level } from 'level'
import { toHex } from '../../ledger/index.js'
import { decodeTaskRecord, encodeTaskRecord, type TaskRecordData } from '../../protocols/task/index.js'
import { decodeTrace, encodeTrace, type AuditTrace } from '../../verify/freivalds/index.js'
import { silentLogger, type Logger } from '../../util/logger.js'

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
 * An int8 task's audit trace (every committed product row, what the executor opens when
 * challenged: SPEC 6.2) goes with its record. Traces are large (about 48 KB a token for
 * kjv-small-int8), so their bytes are bounded apart (`maxTraceBytes`): past it the oldest traces
 * go first, their records stay (such a task fails its audits; the log says so when it happens).
 *
 * Keys: `r:<epoch>:<sequence>:<task id>` → the record (epoch order, then arrival order),
 * `i:<task id>` → its `r:` key, `t:<task id>` → its trace, and `z:<epoch>:<sequence>:<task id>`
 * → the trace's size in bytes (decimal), in age order. The task id in the `r:` key lets a prune
 * delete all four without reading a record. Writes and prunes take turns, so the counts stay exact.
 */
export class ExecutorRecords {
  private readonly db
  private seq = 0
  private count = 0
  private traceBytes = 0
  /** The last write or prune: the next one starts after it. */
  private turn: Promise<unknown> = Promise.resolve()

  constructor(
    root: Level<string, Uint8Array>,
    private readonly max: number,
    private readonly maxTraceBytes: number = DEFAULT_MAX_TRACE_BYTES,
    private readonly log: Logger = silentLogger(),
  ) {
    this.db = root.sublevel<string, Uint8Array>('executor-records', { valueEncoding: 'view' })
  }

  async open(): Promise<void> {
    for await (const key of this.db.keys({ gte: 'r:', lt: 'r;' })) {
      const seq = Number(key.split(':')[2])
      if (seq >= this.seq) this.seq = seq + 1
      this.count++
    }
    for await (const size of this.db.values({ gte: 'z:', lt: 'z;' })) this.traceBytes += sizeOf(size)
  }

  /** Records held now. */
  get size(): number {
    return this.count
  }

  /** Bytes of the audit traces held now. */
  get tracesSize(): number {
    return this.traceBytes
  }

  /** Keep `record`, served in `epoch`, and its audit trace if any; a record of the same task is replaced. */
  put(record: TaskRecordData, epoch: number, trace?: AuditTrace): Promise<void> {
    return this.inTurn(async () => {
      const id = toHex(record.receipt.taskId)
      const suffix = `${pad(epoch, 12)}:${pad(this.seq++, 16)}:${id}`
      const ops: Op[] = [
        { type: 'put', key: `r:${suffix}`, value: encodeTaskRecord(record) },
        { type: 'put', key: `i:${id}`, value: new TextEncoder().encode(`r:${suffix}`) },
      ]
      const previous = await this.db.get(`i:${id}`)
      if (previous !== undefined) ops.push(...(await this.drop(new TextDecoder().decode(previous), false)))
      else this.count++
      const over = this.count - this.max
      if (over > 0) {
        for await (const old of this.db.keys({ gte: 'r:', lt: 'r;', limit: over })) {
          ops.push(...(await this.drop(old, true)))
          this.count--
        }
      }
      const bytes = trace === undefined ? undefined : encodeTrace(trace)
      if (bytes !== undefined && bytes.length <= this.maxTraceBytes) {
        ops.push(
          { type: 'put', key: `t:${id}`, value: bytes },
          { type: 'put', key: `z:${suffix}`, value: new TextEncoder().encode(String(bytes.length)) },
        )
        this.traceBytes += bytes.length
        // The oldest traces go until the new one fits.
        for await (const [key, size] of this.db.iterator({ gte: 'z:', lt: 'z;' })) {
          if (this.traceBytes <= this.maxTraceBytes) break
          if (ops.some((o) => o.type === 'del' && o.key === key)) continue
          ops.push({ type: 'del', key }, { type: 'del', key: `t:${idOf(key)}` })
          this.traceBytes -= sizeOf(size)
          this.log.warn(
            { task: idOf(key), traces: this.traceBytes },
            'audit trace dropped for room: that task can no longer be opened',
          )
        }
      } else if (bytes !== undefined)
        this.log.warn({ task: id, bytes: bytes.length }, 'audit trace larger than maxTraceBytes: not kept')
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
      let n = 0
      for await (const key of this.db.keys({ gte: 'r:', lt: `r:${pad(beforeEpoch, 12)}` })) {
        ops.push(...(await this.drop(key, true)))
        n++
      }
      if (ops.length > 0) await this.db.batch(ops as never)
      this.count -= n
      return n
    })
  }

  /**
   * The ops that delete the record under `key` (an `r:` key), with its trace and size entry, and
   * its index entry too unless `index` is false (a replaced record's index is rewritten).
   */
  private async drop(key: string, index: boolean): Promise<Op[]> {
    const id = idOf(key)
    const z = `z:${key.slice(2)}`
    const size = await this.db.get(z)
    const ops: Op[] = [{ type: 'del', key }]
    if (index) ops.push({ type: 'del', key: `i:${id}` })
    if (size !== undefined) {
      this.traceBytes -= sizeOf(size)
      ops.push({ type: 'del', key: z }, { type: 'del', key: `t:${id}` })
    }
    return ops
  }

  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.turn.then(fn, fn)
    this.turn = run.catch(() => {})
    return run
  }
}

/** Audit traces an executor keeps by default: 2 GiB (about 40,000 tokens of kjv-small-int8). */
export const DEFAULT_MAX_TRACE_BYTES = 2 * 1024 ** 3

const idOf = (key: string): string => key.slice(key.lastIndexOf(':') + 1)
const sizeOf = (v: Uint8Array): number => Number(new TextDecoder().decode(v))
