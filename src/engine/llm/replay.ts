// The replay rule (issue 10): the sampler's twin. A verifier scores the executor's tokens in one
// teacher-forced pass and checks, position by position, that each token is the one the decoding
// rule of docs/inference.md "Sampling" picks, and that the output ends where generation ends.
// Pure: the logits come in as numbers; the engine's worker runs the pass (`replayOn`).
import { EngineError } from './errors.js'
import { firstStop, MAX_STOP_LENGTH, MAX_STOP_SEQUENCES, type GenerationRequest } from './generate.js'
import { Sampler, argmax, candidates, drawIndex, type Candidates, type SamplingParams } from './sampler.js'

/**
 * How far a verifier's numbers may be from the executor's before a differing token counts as a
 * wrong one. Two scales, because the two modes compare different quantities.
 */
export interface ReplayEpsilon {
  /**
   * Logit units (penalized logits, before the temperature). Greedy: the executor's token may be
   * the rule's pick if its logit is within this of the largest. Sampled: tokens whose logits are
   * within this of each other may stand in either order (so in either's place in the draw), and a
   * token this close below the last kept one may stand at the top-k or top-p cut.
   */
  logit: number
  /**
   * Fraction of the kept weight (the draw's unit: `u = word / 2^32` lies in [0, 1)). Sampled: the
   * draw may land this far outside the executor's token's interval, and a top-p cut this close to
   * `top_p` may fall one token either side.
   */
  draw: number
}

/**
 * Defaults. The honest noise they must cover (float32 models): KV-cache generation against the
 * teacher-forced pass differs by up to 1.5e-5 in a logit on CPU (`npm run calibrate:verify`, 1,000
 * kjv-small tasks; 1.1e-5 on a 100M-parameter random decoder), and onnxruntime's CPU provider
 * against its WebGPU provider by up to 5.8e-5 (FINDINGS.md, "GPU": llama-tiny and kjv-small on an
 * H200, 208 positions each). An executor may run either provider (its fingerprint says which) and
 * a verifier the other, so `logit` covers CPU against GPU with room: 5e-4 is 8.6× the largest
 * difference measured, because that was measured on models of a few million parameters and the
 * differences grow with depth and width, and because a false fraud verdict costs far more than the
 * slack: a cheat may swap tokens only where the top two are within epsilon, 0 of 3,600 sampled
 * kjv-small positions at 5e-4 (1 below 1e-3, 34 below 1e-2). `draw` covers a boundary moved by
 * δ/(2T) at T = 0.2: 1.25e-3. Honest failures at the calibration's 2,000 replays: 0 (0 even at
 * epsilon 0 on CPU). float16 exports are noisier than this covers (docs/inference.md).
 */
export const DEFAULT_REPLAY_EPSILON: ReplayEpsilon = { logit: 5e-4, draw: 1.25e-3 }

/** A replay's input: the request the executor answered and the tokens it returned. */
export interface ReplayRequest extends GenerationRequest {
  /** Exactly `GenerationResult.tokens`: an end-of-sequence token included when one ended them. */
  tokens: number[]
}

/** What the rule needs of the model besides its logits. */
export interface ReplayContext {
  vocab: number
  eos: readonly number[]
  contextLength: number
  decode(ids: readonly number[]): string
}

/** The rule's verdict on one output. */
export type ReplayVerdict = ReplayPass | ReplayFail

export interface ReplayPass {
  ok: true
  mode: 'greedy' | 'sampled'
  /** Output positions checked (the output's length). */
  positions: number
  /** Positions where the executor's token differed from the pick but was within epsilon. */
  nearTies: number
  /**
   * Smallest margin where the executor's token was the pick (what calibration needs). Greedy:
   * its logit minus the runner-up's. Sampled: the draw's distance to the nearest boundary of the
   * token's interval that another token lies beyond, as a fraction of the kept weight. Infinity
   * when no position had a competitor.
   */
  minMargin: number
}

export interface ReplayFail {
  ok: false
  /** 'token': a token is not the rule's pick; 'end': the output ends too early or too late. */
  reason: 'token' | 'end'
  /** Output position (0 is the first output token). */
  position: number
  /** The rule's pick there; -1 when the output should have ended before this position. */
  expected: number
  /** The executor's token there; -1 when the output ended before this position. */
  actual: number
  /**
   * How far beyond agreement: the logit gap (greedy), the draw's distance as a fraction of the
   * kept weight (sampled), Infinity when no tolerance applies (an end, an id outside the vocab).
   */
  margin: number
}

/**
 * How many output tokens a teacher-forced pass should feed: all of them, but never a position past
 * the context nor an id outside the vocabulary (the rule fails there without reading further).
 * The pass then yields `fed + 1` rows: row i predicts output position i.
 */
export function replayFeed(ctx: Pick<ReplayContext, 'vocab' | 'contextLength'>, req: ReplayRequest): number {
  let fed = Math.min(req.tokens.length, Math.max(0, ctx.contextLength - req.promptIds.length))
  const bad = req.tokens.findIndex((t) => !validId(t, ctx.vocab))
  if (bad !== -1) fed = Math.min(fed, bad)
  return fed
}

/**
 * The replay rule. `logits` holds one row of `ctx.vocab` floats per output position, row i being
 * the model's prediction for position i given the prompt and the executor's tokens before it
 * (teacher forcing); it needs rows 0..replayFeed(ctx, req). The penalties count the executor's
 * own tokens and the PRNG stream advances one word per sampled position, exactly as `Sampler`
 * does in generation, so the first disagreement is reported where it is.
 */
export function replayRule(
  ctx: ReplayContext,
  req: ReplayRequest,
  logits: Float32Array | ReadonlyMap<number, Float32Array>,
  eps: ReplayEpsilon,
): ReplayVerdict {
  const { tokens, promptIds, sampling } = req
  const V = ctx.vocab
  const sampler = new Sampler(sampling, req.seed, promptIds)
  // Sparse rows (an int8 audit opens some positions only): a position without one is not checked,
  // but its token is recorded and its PRNG word consumed, as generation did.
  const sparse = logits instanceof Float32Array ? null : logits
  const has = (i: number): boolean => sparse === null || sparse.has(i)
  const row = (i: number): Float32Array => {
    const r =
      sparse === null
        ? (i + 1) * V <= (logits as Float32Array).length
          ? (logits as Float32Array).subarray(i * V, (i + 1) * V)
          : undefined
        : sparse.get(i)
    if (r === undefined || r.length !== V)
      throw new EngineError('ENGINE_FAILED', `replay: no logits row ${i}`)
    return r
  }
  // What generation picks at `i` (for reports; -1 without its row); consumes the position's word like generation.
  const pick = (i: number): number => (has(i) ? sampler.next(row(i)) : -1)
  const ends = new EndTracker(ctx, req)
  let nearTies = 0
  let minMargin = Infinity

  for (let i = 0; i < tokens.length; i++) {
    const actual = tokens[i]!
    // SPEC (generate.ts): generation stops after an end-of-sequence token, a completed stop string,
    // max_tokens tokens, or at the context's end; any token after that is one too many.
    if (ends.ended(i))
      return { ok: false, reason: 'end', position: i, expected: -1, actual, margin: Infinity }
    if (!validId(actual, V))
      return { ok: false, reason: 'token', position: i, expected: pick(i), actual, margin: Infinity }
    if (!has(i)) {
      if (sampler.sampled) sampler.nextWord()
      sampler.record(actual)
      ends.push(actual)
      continue
    }
    const z = sampler.penalized(row(i))
    const check = sampler.sampled
      ? checkSampled(sampling, z, sampler.nextWord(), actual, eps)
      : checkGreedy(z, actual, eps)
    if (check.pick === actual) minMargin = Math.min(minMargin, check.margin)
    else if (check.tolerated) nearTies++
    else
      return { ok: false, reason: 'token', position: i, expected: check.pick, actual, margin: check.margin }
    sampler.record(actual)
    ends.push(actual)
  }
  const n = tokens.length
  if (!ends.ended(n))
    return { ok: false, reason: 'end', position: n, expected: pick(n), actual: -1, margin: Infinity }
  return { ok: true, mode: sampler.sampled ? 'sampled' : 'greedy', positions: n, nearTies, minMargin }
}

/** What a replay runs on: the rule's context plus a teacher-forced pass. */
export interface ReplayModel extends ReplayContext {
  /** One forward pass over `ids`; the logits rows of positions `from`..ids.length-1, row-major. */
  score(ids: readonly number[], from: number): Promise<Float32Array>
}

/**
 * Check a request the way `generate` does (the same refusals), run one teacher-forced pass over
 * the prompt and the fed output tokens, and apply the rule. What the engine's worker runs.
 */
export async function replayOn(
  model: ReplayModel,
  req: ReplayRequest,
  eps: ReplayEpsilon,
): Promise<ReplayVerdict> {
  const { promptIds, maxTokens, stop } = req
  if (promptIds.length === 0) throw new EngineError('BAD_PARAMS', 'the prompt is empty')
  if (!Number.isInteger(maxTokens) || maxTokens < 1)
    throw new EngineError('BAD_PARAMS', 'max_tokens must be ≥ 1')
  if (promptIds.length + 1 > model.contextLength)
    throw new EngineError(
      'CONTEXT_OVERFLOW',
      `the prompt is ${promptIds.length} tokens; the context is ${model.contextLength}`,
    )
  if (!promptIds.every((t) => validId(t, model.vocab)))
    throw new EngineError('BAD_PARAMS', 'the prompt holds an id outside the vocabulary')
  if (stop.length > MAX_STOP_SEQUENCES || stop.some((s) => s.length === 0 || s.length > MAX_STOP_LENGTH))
    throw new EngineError(
      'BAD_PARAMS',
      `stop: at most ${MAX_STOP_SEQUENCES} strings of 1 to ${MAX_STOP_LENGTH} characters`,
    )
  if (!(eps.logit >= 0 && eps.draw >= 0)) throw new EngineError('BAD_PARAMS', 'replay epsilons must be ≥ 0')
  const fed = replayFeed(model, req)
  const ids = [...promptIds, ...req.tokens.slice(0, fed)]
  const rows = await model.score(ids, promptIds.length - 1)
  return replayRule(model, req, rows, eps)
}

const validId = (t: number, vocab: number): boolean => Number.isInteger(t) && t >= 0 && t < vocab

/**
 * Where generation would have stopped, mirroring `generate` exactly: an end-of-sequence token
 * stops it at once; otherwise the decoded output is searched for the stop strings unless it ends
 * in U+FFFD (a partial character), from `sent - holdBack` on, `sent` being how far text was
 * streamed (the decoded length less `holdBack` at each searched step).
 */
class EndTracker {
  private readonly output: number[] = []
  private readonly holdBack: number
  private sent = 0
  private stopped = false

  constructor(
    private readonly ctx: ReplayContext,
    private readonly req: ReplayRequest,
  ) {
    this.holdBack = req.stop.reduce((m, s) => Math.max(m, s.length - 1), 0)
  }

  /** Record output token `t` (the token at position `output.length`, EOS included). */
  push(t: number): void {
    if (this.ctx.eos.includes(t)) {
      this.stopped = true
      return
    }
    this.output.push(t)
    if (this.req.stop.length === 0) return
    const full = this.ctx.decode(this.output)
    if (full.endsWith('\uFFFD')) return
    if (firstStop(full, this.req.stop, Math.max(0, this.sent - this.holdBack)) !== -1) this.stopped = true
    else this.sent = Math.max(this.sent, full.length - this.holdBack)
  }

  /** Whether generation stops before producing position `i` (after `i` tokens were pushed). */
  ended(i: number): boolean {
    return this.stopped || i >= this.req.maxTokens || this.req.promptIds.length + i >= this.ctx.contextLength
  }
}

interface Check {
  pick: number
  /** The pick's margin when the executor agreed; otherwise how far the executor's token is. */
  margin: number
  /** A differing token within epsilon (never with epsilon 0: then only the pick passes). */
  tolerated: boolean
}

const within = (d: number, e: number): boolean => e > 0 && d <= e

/** Greedy: the largest penalized logit, the lowest id on ties. */
function checkGreedy(z: Float64Array, actual: number, eps: ReplayEpsilon): Check {
  const pick = argmax(z)
  if (actual === pick) {
    let second = -Infinity
    for (let t = 0; t < z.length; t++) if (t !== pick && z[t]! > second) second = z[t]!
    return { pick, margin: z[pick]! - second, tolerated: true }
  }
  // A near-tie: within eps.logit of the largest, float noise could have made it the argmax.
  const gap = z[pick]! - z[actual]!
  return { pick, margin: gap, tolerated: within(gap, eps.logit) }
}

/** Sampled: the draw of `word` over the kept candidates, as `Sampler` makes it. */
function checkSampled(
  p: SamplingParams,
  z: Float64Array,
  word: number,
  actual: number,
  eps: ReplayEpsilon,
): Check {
  const c = candidates(p, z)
  const j = drawIndex(c, word)
  const pick = c.order[j]!
  if (actual === pick) return { pick, margin: pickMargin(c, word, j), tolerated: true }
  // Not the pick: how close could float noise bring it? Try the kept set, and, when the top-p cut
  // is within eps.draw of `top_p`, the set one token shorter or longer.
  let best = Infinity
  for (const L of cutAlternatives(p, z, c, eps))
    best = Math.min(best, reach(z, p, c.sorted, L, word, actual, eps))
  return { pick, margin: best, tolerated: within(best, eps.draw) }
}

/** Distance from the draw to the pick's interval edges that have another token beyond them. */
function pickMargin(c: Candidates, word: number, j: number): number {
  const u = (word / 4294967296) * c.total
  let lo = 0
  for (let i = 0; i < j; i++) lo += c.w[i]!
  const hi = lo + c.w[j]!
  let m = Infinity
  if (j > 0) m = Math.min(m, u - lo)
  if (j < c.w.length - 1) m = Math.min(m, hi - u)
  return Math.max(0, m / c.total)
}

/** Kept-prefix lengths of `c.sorted` that noise within epsilon could have produced. */
function cutAlternatives(p: SamplingParams, z: Float64Array, c: Candidates, eps: ReplayEpsilon): number[] {
  const L = c.order.length
  const out = [L]
  if (p.topP >= 1) return out
  const K = p.topK > 0 && p.topK < c.sorted.length ? p.topK : c.sorted.length
  const max = z[c.sorted[0]!]! / p.temperature
  const w = (i: number): number => Math.exp(z[c.sorted[i]!]! / p.temperature - max)
  let all = 0
  for (let i = 0; i < K; i++) all += w(i)
  let before = 0
  for (let i = 0; i < L - 1; i++) before += w(i)
  const kept = before + w(L - 1)
  // One shorter: the executor's first L-1 weights already reached top_p.
  if (L > 1 && p.topP - before / all <= eps.draw) out.push(L - 1)
  // One longer: the executor's first L weights fell just short of top_p.
  if (L < K && kept / all - p.topP <= eps.draw) out.push(L + 1)
  return out
}

/**
 * Distance, as a fraction of the kept weight, from the draw to the widest interval `actual` could
 * occupy among the first `L` tokens of `sorted` if logits within eps.logit of its own may stand in
 * either order. Infinity when it is not among them and not within eps.logit of the last of them.
 */
function reach(
  z: Float64Array,
  p: SamplingParams,
  sorted: readonly number[],
  L: number,
  word: number,
  actual: number,
  eps: ReplayEpsilon,
): number {
  const za = z[actual]!
  const last = z[sorted[L - 1]!]!
  const member = sorted.indexOf(actual) < L
  if (!member && za < last - eps.logit) return Infinity
  const max = z[sorted[0]!]! / p.temperature
  let total = 0
  let lo = 0
  let hi = 0
  for (let i = 0; i < L; i++) {
    const t = sorted[i]!
    const w = Math.exp(z[t]! / p.temperature - max)
    total += w
    if (t === actual) continue
    if (z[t]! > za + eps.logit) lo += w
    if (z[t]! >= za - eps.logit) hi += w
  }
  hi += Math.exp(za / p.temperature - max)
  hi = Math.min(hi, total)
  const u = (word / 4294967296) * total
  const d = u < lo ? lo - u : u >= hi ? u - hi : 0
  return d / total
}
