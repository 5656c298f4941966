// Continuous batching (issue 14, item 6): the generations running on one model each ask for their
// next step, and the decoding steps asked for while the model was busy run together, in one batched
// onnxruntime call; so do the prompts of the sequences that arrived meanwhile (batched prefill).
// Sequences join (after their prefill) and leave (when they end or are cancelled) between steps;
// each keeps its own cache, a row of the last batch it ran in.
import type { AuditRows, DecoderCache, OrtDecoder } from './decoder.js'

export interface StepResult {
  /** The logits of the last position fed. */
  logits: Float32Array
  cache: DecoderCache
  /** This sequence's audited rows of the step (an int8 export asked with `audit`), else empty. */
  audit: AuditRows
}

interface Pending {
  cache: DecoderCache
  tokens: readonly number[]
  audit: boolean
  resolve: (r: StepResult) => void
  reject: (e: unknown) => void
}

/**
 * Runs one model's steps, one onnxruntime call at a time: every decoding step waiting when the
 * model is free goes into one batch of at most `maxBatch` sequences, ordered so that a batch whose
 * members all step again is fed its own present tensors without a copy; then the new sequences'
 * prompts, in batches of at most `maxBatch` and of lengths within 2× of each other (the shorter are
 * padded to the longest); then the rest (audited prefills, several tokens after a cache) alone.
 * A batch that fails is run again one sequence at a time, so that an error reaches only the
 * sequence it belongs to.
 */
export class StepScheduler {
  private queue: Pending[] = []
  private busy = false
  private scheduled = false

  constructor(
    private readonly decoder: OrtDecoder,
    private readonly maxBatch: number,
  ) {}

  /** Feed `tokens` after `cache`; with `audit`, also return the step's audited rows. */
  step(cache: DecoderCache, tokens: readonly number[], audit = false): Promise<StepResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ cache, tokens, audit, resolve, reject })
      this.schedule()
    })
  }

  /**
   * The next run starts on the next turn of the event loop, not at once: the generations that the
   * last run resumed ask for their next steps first, and go in the same batch.
   */
  private schedule(): void {
    if (this.busy || this.scheduled) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      void this.flush()
    })
  }

  private async flush(): Promise<void> {
    this.busy = true
    const work = this.queue.splice(0)
    try {
      const decodes = work.filter(isDecode)
      const prompts = work.filter(isPrompt)
      const rest = work.filter((p) => !isDecode(p) && !isPrompt(p))
      const size = this.decoder.batchable ? this.maxBatch : 1
      const ordered = byBatch(decodes)
      for (let i = 0; i < ordered.length; i += size) await this.run(ordered.slice(i, i + size))
      for (const group of byLength(prompts, size)) await this.run(group)
      for (const p of rest) await this.run([p])
    } finally {
      this.busy = false
      if (this.queue.length > 0) this.schedule()
    }
  }

  private async run(batch: Pending[]): Promise<void> {
    try {
      if (batch.length > 1 && isPrompt(batch[0]!)) {
        const out = await this.decoder.prefillBatch(batch.map((p) => p.tokens))
        batch.forEach((p, i) => p.resolve({ ...out[i]!, audit: {} }))
        return
      }
      if (!isDecode(batch[0]!)) {
        const p = batch[0]!
        const { logits, cache, audit } = p.audit
          ? await this.decoder.stepAudited(p.cache, p.tokens)
          : { ...(await this.decoder.step(p.cache, p.tokens)), audit: {} }
        const rows: AuditRows = {}
        for (const [name, t] of Object.entries(audit)) rows[name] = t.data as AuditRows[string]
        p.resolve({ logits, cache, audit: rows })
        return
      }
      const out = await this.decoder.decodeBatch(
        batch.map((p) => p.cache),
        batch.map((p) => p.tokens[0]!),
        batch.some((p) => p.audit),
      )
      batch.forEach((p, i) => p.resolve(out[i]!))
    } catch (err) {
      if (batch.length === 1) batch[0]!.reject(err)
      else for (const p of batch) await this.run([p])
    }
  }
}

/** A decoding step: one token after a cache (a prefill feeds the prompt to an empty one). */
const isDecode = (p: Pending): boolean => p.tokens.length === 1 && p.cache.length > 0

/** A new sequence's prompt, unaudited: it can be fed in a batch with others. */
const isPrompt = (p: Pending): boolean => p.cache.length === 0 && !p.audit

/**
 * Prompts in batches of at most `size`, shortest first, each batch's longest at most twice its
 * shortest (so that padding at most doubles a batch's work).
 */
function byLength(prompts: readonly Pending[], size: number): Pending[][] {
  const groups: Pending[][] = []
  for (const p of [...prompts].sort((a, b) => a.tokens.length - b.tokens.length)) {
    const last = groups[groups.length - 1]
    if (last !== undefined && last.length < size && p.tokens.length <= 2 * last[0]!.tokens.length)
      last.push(p)
    else groups.push([p])
  }
  return groups
}

/**
 * The steps in batch order: the rows of one earlier batch together and in their order (so that a
 * batch that steps again whole is fed as it is), earlier batches first.
 */
function byBatch(steps: readonly Pending[]): Pending[] {
  const groups = new Map<object, Pending[]>()
  for (const p of steps) {
    const g = groups.get(p.cache.past)
    if (g === undefined) groups.set(p.cache.past, [p])
    else g.push(p)
  }
  return [...groups.values()].flatMap((g) => g.sort((a, b) => (a.cache.row ?? 0) - (b.cache.row ?? 0)))
}
