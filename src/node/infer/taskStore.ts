import type { Level } from 'level'

/** What a gateway keeps of a task for verifiers (SPEC 5.3 step 5): request, output, receipt. */
export interface TaskRecordJson {
  taskId: string
  time: number
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
}

/**
 * Task records in their own sublevel, at most `max` of them: the oldest is dropped first. Keys are
 * `s:<sequence>` (order) and `i:<task id>` (lookup); both are written in one batch.
 */
export class TaskStore {
  private readonly db
  private seq = 0
  private count = 0
  private oldest = 0

  constructor(
    root: Level<string, Uint8Array>,
    private readonly max: number,
  ) {
    this.db = root.sublevel<string, string>('tasks', { valueEncoding: 'utf8' })
  }

  async open(): Promise<void> {
    for await (const key of this.db.keys({ gte: 's:', lt: 's;' })) {
      const n = Number(key.slice(2))
      if (this.count === 0) this.oldest = n
      this.seq = n + 1
      this.count++
    }
  }

  async put(rec: TaskRecordJson): Promise<void> {
    const seqKey = `s:${String(this.seq++).padStart(16, '0')}`
    const ops: Array<{ type: 'put' | 'del'; key: string; value?: string }> = [
      { type: 'put', key: seqKey, value: JSON.stringify(rec) },
      { type: 'put', key: `i:${rec.taskId}`, value: seqKey },
    ]
    this.count++
    while (this.count > this.max && this.oldest < this.seq - 1) {
      const old = `s:${String(this.oldest++).padStart(16, '0')}`
      const value = await this.db.get(old)
      if (value !== undefined) {
        ops.push(
          { type: 'del', key: old },
          { type: 'del', key: `i:${(JSON.parse(value) as TaskRecordJson).taskId}` },
        )
        this.count--
      }
    }
    await this.db.batch(ops as never)
  }

  async get(taskId: string): Promise<TaskRecordJson | undefined> {
    const seqKey = await this.db.get(`i:${taskId}`)
    if (seqKey === undefined) return undefined
    const value = await this.db.get(seqKey)
    return value === undefined ? undefined : (JSON.parse(value) as TaskRecordJson)
  }
}
