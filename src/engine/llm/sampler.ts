import { Stream } from '../../race/prng.js'
import { EngineError } from './errors.js'

/**
 * How the next token is chosen (docs/inference.md, "Sampling"). With `temperature` 0 the choice is
 * greedy; otherwise it is a draw from a PRNG keyed by the task's seed, so that an output is a pure
 * function of its request and any verifier can replay it.
 */
export interface SamplingParams {
  /** 0: greedy. Otherwise logits are divided by it (0 < t ≤ 2). */
  temperature: number
  /** Nucleus: keep the most likely tokens whose probabilities sum to at least this (0 < p ≤ 1). */
  topP: number
  /** Keep only the k most likely tokens (0: all). */
  topK: number
  /** CTRL-style penalty on every token already seen, prompt included (1: off; 1 ≤ r ≤ 2). */
  repetitionPenalty: number
  /** OpenAI-style: subtract `f × count` for tokens in the output so far (-2 ≤ f ≤ 2). */
  frequencyPenalty: number
  /** OpenAI-style: subtract `p` once for any token in the output so far (-2 ≤ p ≤ 2). */
  presencePenalty: number
}

export const GREEDY: SamplingParams = {
  temperature: 0,
  topP: 1,
  topK: 0,
  repetitionPenalty: 1,
  frequencyPenalty: 0,
  presencePenalty: 0,
}

export function checkSampling(p: SamplingParams): void {
  const bad = (what: string, range: string): never => {
    throw new EngineError('BAD_PARAMS', `${what} must be ${range}`)
  }
  if (!(p.temperature >= 0 && p.temperature <= 2)) bad('temperature', 'between 0 and 2')
  if (!(p.topP > 0 && p.topP <= 1)) bad('top_p', 'above 0 and at most 1')
  if (!(Number.isInteger(p.topK) && p.topK >= 0 && p.topK <= 1_000_000)) bad('top_k', 'an integer ≥ 0')
  if (!(p.repetitionPenalty >= 1 && p.repetitionPenalty <= 2)) bad('repetition_penalty', 'between 1 and 2')
  if (!(p.frequencyPenalty >= -2 && p.frequencyPenalty <= 2)) bad('frequency_penalty', 'between -2 and 2')
  if (!(p.presencePenalty >= -2 && p.presencePenalty <= 2)) bad('presence_penalty', 'between -2 and 2')
}

/**
 * The sampler of one generation: holds the token counts the penalties need and the PRNG stream
 * (stream 1 of the Race's AES-256-CTR PRNG under the 32-byte seed; one word per sampled token).
 */
export class Sampler {
  private readonly stream: Stream | null
  private readonly seen = new Set<number>()
  private readonly counts = new Map<number, number>()

  constructor(
    private readonly params: SamplingParams,
    seed: Uint8Array,
    prompt: readonly number[],
  ) {
    checkSampling(params)
    if (seed.length !== 32) throw new EngineError('BAD_PARAMS', 'the sampling seed must be 32 bytes')
    this.stream = params.temperature === 0 ? null : new Stream(seed, 1)
    for (const t of prompt) this.seen.add(t)
  }

  /** Choose the next token from `logits` (one row, the vocabulary wide) and record it. */
  next(logits: Float32Array): number {
    const z = this.penalized(logits)
    const token = this.stream === null ? argmax(z) : this.draw(z)
    this.record(token)
    return token
  }

  // The pieces below are public so that the verifier's replay (replay.ts) runs the very same code
  // as generation, step for step; `next` is their only composition generation uses.

  /** Sampling turns on the PRNG stream (temperature above 0). */
  get sampled(): boolean {
    return this.stream !== null
  }

  /** Steps 1–2 of docs/inference.md "Sampling": the row in float64 with the penalties applied. */
  penalized(logits: Float32Array): Float64Array {
    const p = this.params
    const z = Float64Array.from(logits)
    if (p.repetitionPenalty !== 1) {
      for (const t of this.seen)
        if (t < z.length) z[t] = z[t]! > 0 ? z[t]! / p.repetitionPenalty : z[t]! * p.repetitionPenalty
    }
    if (p.frequencyPenalty !== 0 || p.presencePenalty !== 0) {
      for (const [t, n] of this.counts)
        if (t < z.length) z[t] = z[t]! - p.frequencyPenalty * n - p.presencePenalty
    }
    return z
  }

  /** The next 32-bit word of the stream: one per sampled token. */
  nextWord(): number {
    if (this.stream === null) throw new EngineError('BAD_PARAMS', 'greedy decoding draws no words')
    return this.stream.next()
  }

  /** Count `token` as chosen, for the penalties of the steps after it. */
  record(token: number): void {
    this.seen.add(token)
    this.counts.set(token, (this.counts.get(token) ?? 0) + 1)
  }

  private draw(z: Float64Array): number {
    const c = candidates(this.params, z)
    return c.order[drawIndex(c, this.nextWord())]!
  }
}

/** The kept tokens of one sampled step, most likely first, with their unnormalized weights. */
export interface Candidates {
  /** Every token by penalized logit, highest first, lower id first on ties. */
  sorted: number[]
  /** The prefix of `sorted` that top-k and top-p keep (at least one token). */
  order: number[]
  /** `w[i] = exp(z[order[i]]/T − z_max/T)`. */
  w: number[]
  /** Sum of `w`, summed in order. */
  total: number
}

/** Step 4 of docs/inference.md "Sampling" (temperature > 0). */
export function candidates(p: SamplingParams, z: Float64Array): Candidates {
  const sorted = Array.from(z.keys()).sort((a, b) => z[b]! - z[a]! || a - b)
  let order = p.topK > 0 && p.topK < sorted.length ? sorted.slice(0, p.topK) : sorted
  const max = z[order[0]!]! / p.temperature
  let w = order.map((t) => Math.exp(z[t]! / p.temperature - max))
  let total = w.reduce((s, x) => s + x, 0)
  if (p.topP < 1) {
    let cum = 0
    let keep = 0
    while (keep < w.length && cum < p.topP * total) cum += w[keep++]!
    order = order.slice(0, Math.max(1, keep))
    w = w.slice(0, order.length)
    total = w.reduce((s, x) => s + x, 0)
  }
  return { sorted, order, w, total }
}

/**
 * Step 5: the index into `c.order` that `word` draws: `u = word / 2^32 · total`, then the first
 * index whose running sum exceeds `u` (the last one if rounding leaves `u` past the end).
 */
export function drawIndex(c: Pick<Candidates, 'w' | 'total'>, word: number): number {
  const u = (word / 4294967296) * c.total
  let cum = 0
  for (let i = 0; i < c.w.length; i++) {
    cum += c.w[i]!
    if (u < cum) return i
  }
  return c.w.length - 1
}

/** Index of the largest value; the lowest index on ties. */
export function argmax(z: ArrayLike<number>): number {
  let best = 0
  for (let i = 1; i < z.length; i++) if (z[i]! > z[best]!) best = i
  return best
}
