import { EngineError } from './errors.js'
import { Stream } from '../../race/prng.js'
import { Sampler, type SamplingParams } from './sampler.js'
import type { DecoderCache } from './decoder.js'
import type { AuditTrace } from '../../verify/freivalds/trace.js'

/** What one generation is asked for, after the prompt is tokenized. */
export interface GenerationRequest {
  promptIds: number[]
  sampling: SamplingParams
  /** Key of the sampling PRNG (the task's seed), 32 bytes. */
  seed: Uint8Array
  /** Tokens to generate at most. */
  maxTokens: number
  /** Strings that end the output (not included in it). */
  stop: string[]
  /**
   * Devnet cheat only (docs/verification.md, "Cheating on purpose"): replace the first sampled
   * token and this share of the others with other ids, as a host returning garbage would (every
   * output is then wrong somewhere, however short). Absent or 0: never.
   */
  wrongTokenRate?: number
  /**
   * An int8 model only (issue 13): also record every audited integer product and commit to them
   * (`GenerationResult.audit`). Ignored for a model without audit outputs.
   */
  audit?: boolean
  /** Devnet cheats only: how the committed products are falsified (docs/verification.md). */
  auditCheat?: AuditCheat
  /**
   * Devnet cheat only: emit these tokens instead of sampling (a host committing to another
   * model's output under this model's name). Ends where they end.
   */
  forceTokens?: number[]
}

/**
 * How a cheating int8 host (devnet only) falsifies its commitment: `corruptProduct` adds 1 to an
 * output of one product in every row (a wrong GEMM); `skipLayer` feeds block 2 the input of block
 * 1, as a host that skipped block 1 would, with products computed exactly from those inputs.
 */
export type AuditCheat = 'corruptProduct' | 'skipLayer'

export type FinishReason = 'stop' | 'length'

export interface GenerationResult {
  text: string
  /** Every token sampled, in order (an end-of-sequence token included when one ended the output). */
  tokens: number[]
  finishReason: FinishReason
  promptTokens: number
  completionTokens: number
  /** The committed products (an int8 model asked with `audit`): their root goes in the receipt. */
  audit?: AuditTrace
}

/** One piece of streamed output: the tokens sampled and the text they completed (may be empty). */
export interface GenerationChunk {
  tokens: number[]
  text: string
}

/** What the loop needs of a model: one forward step, and the tokenizer's decode. */
export interface LoopModel {
  step(cache: DecoderCache, tokens: readonly number[]): Promise<{ logits: Float32Array; cache: DecoderCache }>
  emptyCache(): DecoderCache
  /** Done with a sequence's cache (the decoder may hold it in place until then). */
  release?(cache: DecoderCache): void
  decode(ids: readonly number[]): string
  eos: readonly number[]
  contextLength: number
}

export const MAX_STOP_SEQUENCES = 4
export const MAX_STOP_LENGTH = 64

/**
 * Generate with a KV cache: prefill the prompt, then one token per step until an end-of-sequence
 * token, a stop string, `maxTokens`, or the context's end. Text is streamed as it becomes certain:
 * a partial UTF-8 character, or a tail that could still grow into a stop string, is held back.
 * Cancelled by `signal` between steps.
 */
export async function generate(
  model: LoopModel,
  req: GenerationRequest,
  onChunk: (chunk: GenerationChunk) => void,
  signal?: AbortSignal,
): Promise<GenerationResult> {
  const { promptIds, maxTokens, stop } = req
  if (promptIds.length === 0) throw new EngineError('BAD_PARAMS', 'the prompt is empty')
  if (!Number.isInteger(maxTokens) || maxTokens < 1)
    throw new EngineError('BAD_PARAMS', 'max_tokens must be ≥ 1')
  if (promptIds.length + 1 > model.contextLength) {
    throw new EngineError(
      'CONTEXT_OVERFLOW',
      `the prompt is ${promptIds.length} tokens; the context holds ${model.contextLength} with room for one more`,
    )
  }
  if (stop.length > MAX_STOP_SEQUENCES || stop.some((s) => s.length === 0 || s.length > MAX_STOP_LENGTH))
    throw new EngineError(
      'BAD_PARAMS',
      `stop: at most ${MAX_STOP_SEQUENCES} strings of 1 to ${MAX_STOP_LENGTH} characters`,
    )
  const sampler = new Sampler(req.sampling, req.seed, promptIds)
  const wrongRate = req.wrongTokenRate ?? 0
  // Its own PRNG stream (2; the sampler draws from 1), so the honest tokens stay the same.
  const wrong = wrongRate > 0 ? new Stream(req.seed, 2) : null
  const holdBack = stop.reduce((m, s) => Math.max(m, s.length - 1), 0)

  const tokens: number[] = []
  const output: number[] = []
  let text = ''
  let sent = 0
  let pending: number[] = []
  let finishReason: FinishReason = 'length'
  const emit = (upTo: number): void => {
    if (upTo > sent || pending.length > 0) {
      onChunk({ tokens: pending, text: text.slice(sent, Math.max(sent, upTo)) })
      sent = Math.max(sent, upTo)
      pending = []
    }
  }

  let { logits, cache } = await model.step(model.emptyCache(), promptIds)
  try {
    for (;;) {
      if (signal?.aborted === true) throw new EngineError('CANCELLED', 'generation cancelled')
      let token = req.forceTokens === undefined ? sampler.next(logits) : req.forceTokens[tokens.length]!
      // The first token always (so that every output served is wrong somewhere, however short),
      // then `wrongRate` of the others.
      if (wrong !== null && (tokens.length === 0 || wrong.next() / 4294967296 < wrongRate))
        token = (token + 1 + (wrong.next() % (logits.length - 1))) % logits.length
      tokens.push(token)
      pending.push(token)
      if (model.eos.includes(token)) {
        finishReason = 'stop'
        break
      }
      output.push(token)
      const full = model.decode(output)
      if (!full.endsWith('\uFFFD')) {
        const at = firstStop(full, stop, Math.max(0, sent - holdBack))
        if (at !== -1) {
          text = full.slice(0, at)
          finishReason = 'stop'
          break
        }
        text = full
        emit(text.length - holdBack)
      }
      // Prompt and output together stay within the context.
      if (tokens.length >= maxTokens || promptIds.length + tokens.length >= model.contextLength) break
      if (req.forceTokens !== undefined && tokens.length >= req.forceTokens.length) break
      ;({ logits, cache } = await model.step(cache, [token]))
    }
  } finally {
    model.release?.(cache)
  }
  if (finishReason === 'length') text = model.decode(output)
  emit(text.length)
  return {
    text,
    tokens,
    finishReason,
    promptTokens: promptIds.length,
    completionTokens: tokens.length,
  }
}

/** Index of the earliest stop string in `text` at or after `from` (-1: none); replay.ts mirrors generate with it. */
export function firstStop(text: string, stop: readonly string[], from: number): number {
  let best = -1
  for (const s of stop) {
    const i = text.indexOf(s, from)
    if (i !== -1 && (best === -1 || i < best)) best = i
  }
  return best
}
