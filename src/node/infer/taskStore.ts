import type { Level } from 'level'
import { decodeTaskRecord, encodeTaskRecord, type TaskRecordData } from '../../protocols/task/index.js'

/** What a gateway keeps of a task for verifiers (SPEC 5.3 step 5): request, output, receipt. */
export interface TaskRecordJson {
  taskId: string
  time: number
  /** The epoch the task settled in: the record is kept until that epoch's rewards are paid. Absent in records of older versions (read as 0). */
  epoch?: number
  model: string
  executor: string
  /** The request as the gateway ran it (sampling parameters, stop strings, the token limit it set). */
  request: unknown
  /** How the executor was drawn: the seed, the weighted candidates, the draw order, who was tried. */
  route: { seed: string; candidates: Array<[string, number]>; order: string[]; attempts: string[] }
  prompt: string
  output: string
  tokens: number[]
  receipt: Record<string, unknown>
  receiptSig: string
  cost: string
  /**
   * The task's final verification as this gateway last read it from the chain (`GET /tasks/:id`
   * saves it), so that it is still known after the chain drops the task's record. Absent until then.
   */
  verification?: 'verified' | 'fraud' | 'unchecked'
  /** Sent by this daemon's synthetic traffic, not by a client (absent: a client's). */
  synthetic?: true
}

type Op = { type: 'put' | 'del'; sublevel: unknown; key: string; value?: string | Uint8Array }

/**
 * Task records in their own sublevel, at most `max` of them: the oldest is dropped first. Keys are
 * `s:<sequence>` (order) and `i:<task id>` (lookup). Beside each, under the same `s:` key in the
 * `task-records` sublevel, the record verifiers fetch over `task` (the exact request frame, the
 * tokens, the signed receipt), in binary; everything of one record is written in one batch.
 * Writes and pruning take turns, so the count and the oldest sequence stay exact.
 */
export class TaskStore {
  private readonly db
  private readonly verifiable
  private seq = 0
  private count = 0
  private oldest = 0
  /** The last write or prune: the next one starts after it. */
  private turn: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly root: Level<string, Uint8Array>,
    private readonly max: number,
  ) {
    this.db = root.sublevel<string, string>('tasks', { valueEncoding: 'utf8' })
    this.verifiable = root.sublevel<string, Uint8Array>('task-records', { valueEncoding: 'view' })
  }

  async open(): Promise<void> {
    for await (const key of this.db.keys({ gte: 's:', lt: 's;' })) {
      const n = Number(key.slice(2))
      if (this.count === 0) this.oldest = n
      this.seq = n + 1
      this.count++
    }
  }

  /** Records held now. */
  get size(): number {
    return this.count
  }

  /** Keep `rec`, and `verifiable` (what the `task` protocol serves) when there is one. */
  put(rec: TaskRecordJson, verifiable?: TaskRecordData): Promise<void> {
    return this.inTurn(async () => {
      const seqKey = `s:${String(this.seq++).padStart(16, '0')}`
      const ops: Op[] = [
        { type: 'put', sublevel: this.db, key: seqKey, value: JSON.stringify(rec) },
        { type: 'put', sublevel: this.db, key: `i:${rec.taskId}`, value: seqKey },
      ]
      if (verifiable !== undefined)
        ops.push({ type: 'put', sublevel: this.verifiable, key: seqKey, value: encodeTaskRecord(verifiable) })
      this.count++
      while (this.count > this.max && this.oldest < this.seq - 1) {
        const old = `s:${String(this.oldest++).padStart(16, '0')}`
        const value = await this.db.get(old)
        if (value !== undefined) {
          ops.push(...this.drop(old, (JSON.parse(value) as TaskRecordJson).taskId))
          this.count--
        }
      }
      await this.root.batch(ops as never)
    })
  }

  async get(taskId: string): Promise<TaskRecordJson | undefined> {
    const seqKey = await this.db.get(`i:${taskId}`)
    if (seqKey === undefined) return undefined
    const value = await this.db.get(seqKey)
    return value === undefined ? undefined : (JSON.parse(value) as TaskRecordJson)
  }

  /** The newest `limit` records, newest first. */
  async recent(limit: number): Promise<TaskRecordJson[]> {
    const recs: TaskRecordJson[] = []
    for await (const value of this.db.values({ gte: 's:', lt: 's;', reverse: true, limit })) {
      recs.push(JSON.parse(value) as TaskRecordJson)
    }
    return recs
  }

  /**
   * Save a task's final verification in its record (see TaskRecordJson.verification); false when
   * there is no record of it (any more).
   */
  setVerification(
    taskId: string,
    verification: NonNullable<TaskRecordJson['verification']>,
  ): Promise<boolean> {
    return this.inTurn(async () => {
      const seqKey = await this.db.get(`i:${taskId}`)
      const value = seqKey === undefined ? undefined : await this.db.get(seqKey)
      if (seqKey === undefined || value === undefined) return false
      const rec = JSON.parse(value) as TaskRecordJson
      if (rec.verification !== verification)
        await this.db.put(seqKey, JSON.stringify({ ...rec, verification }))
      return true
    })
  }

  /** The record verifiers fetch for `taskId` (hex), if this gateway keeps one. */
  async verifiableRecord(taskId: string): Promise<TaskRecordData | undefined> {
    const seqKey = await this.db.get(`i:${taskId}`)
    if (seqKey === undefined) return undefined
    const bytes = await this.verifiable.get(seqKey)
    return bytes === undefined ? undefined : decodeTaskRecord(bytes)
  }

  /**
   * Drop the records of epochs before `beforeEpoch` (once their rewards are paid); returns how
   * many. Records go in the order they were written, which is epoch order but for tasks that
   * settled at an epoch's turn and were written late: such a record waits for the next prune.
   */
  prune(beforeEpoch: number): Promise<number> {
    return this.inTurn(async () => {
      let dropped = 0
      const ops: Op[] = []
      for await (const [key, value] of this.db.iterator({ gte: 's:', lt: 's;' })) {
        const rec = JSON.parse(value) as TaskRecordJson
        if ((rec.epoch ?? 0) >= beforeEpoch) break
        ops.push(...this.drop(key, rec.taskId))
        this.oldest = Number(key.slice(2)) + 1
        dropped++
      }
      if (ops.length > 0) await this.root.batch(ops as never)
      this.count -= dropped
      return dropped
    })
  }

  private drop(seqKey: string, taskId: string): Op[] {
    return [
      { type: 'del', sublevel: this.db, key: seqKey },
      { type: 'del', sublevel: this.db, key: `i:${taskId}` },
      { type: 'del', sublevel: this.verifiable, key: seqKey },
    ]
  }

  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.turn.then(fn, fn)
    this.turn = run.catch(() => {})
    return run
  }
}
