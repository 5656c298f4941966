import path from 'node:path'
import ort from 'onnxruntime-node'
import { EngineError } from './errors.js'
import type { DecoderSpec } from './model.js'

/** One sequence's KV cache: the `past_key_values.*` inputs of the next step, and its length. */
export interface DecoderCache {
  past: Record<string, ort.Tensor>
  length: number
}

export interface DecoderOptions {
  /** Intra-op threads (default: onnxruntime's choice). */
  threads?: number
  /**
   * Let idle threads spin between runs (onnxruntime's default). Faster decoding on an idle
   * machine; off in the daemon, where spinning threads take the CPU from the networking that
   * streams each token out.
   */
  spinning?: boolean
}

/**
 * A standard ONNX decoder export (the layout Hugging Face Optimum and transformers.js use):
 * inputs `input_ids`, optional `attention_mask` and `position_ids`, and `past_key_values.N.key|value`
 * [batch, kvHeads, past, headDim]; outputs `logits` and `present.N.key|value`. One session serves
 * any number of sequences, each with its own cache.
 */
export class OrtDecoder {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly spec: DecoderSpec,
    private readonly pastNames: string[],
    private readonly feedsMask: boolean,
    private readonly feedsPositions: boolean,
  ) {}

  static async open(dir: string, spec: DecoderSpec, opts: DecoderOptions = {}): Promise<OrtDecoder> {
    let session: ort.InferenceSession
    try {
      session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'), {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        ...(opts.spinning === false
          ? { extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } }
          : {}),
        ...(opts.threads !== undefined ? { intraOpNumThreads: opts.threads, interOpNumThreads: 1 } : {}),
      })
    } catch (err) {
      throw new EngineError('MODEL_INVALID', `${dir}/model.onnx: ${(err as Error).message}`)
    }
    const inputs = session.inputNames
    const pastNames = inputs.filter((n) => n.startsWith('past_key_values.'))
    const missing = ['input_ids', 'logits'].filter(
      (n) => !inputs.includes(n) && !session.outputNames.includes(n),
    )
    if (missing.length > 0 || pastNames.length !== spec.layers * 2) {
      await session.release()
      throw new EngineError(
        'MODEL_INVALID',
        `${dir}/model.onnx is not a decoder export with past key values for ${spec.layers} layers ` +
          `(inputs: ${inputs.join(', ')})`,
      )
    }
    return new OrtDecoder(
      session,
      spec,
      pastNames,
      inputs.includes('attention_mask'),
      inputs.includes('position_ids'),
    )
  }

  /** An empty cache: past tensors of length 0, which the first step accepts. */
  emptyCache(): DecoderCache {
    const { kvHeads, headDim } = this.spec
    const past: Record<string, ort.Tensor> = {}
    for (const n of this.pastNames)
      past[n] = new ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, headDim])
    return { past, length: 0 }
  }

  /** Feed `tokens` after the cache; returns the logits of the last position and the grown cache. */
  async step(
    cache: DecoderCache,
    tokens: readonly number[],
  ): Promise<{ logits: Float32Array; cache: DecoderCache }> {
    const { logits, cache: next } = await this.forward(cache, tokens)
    return { logits: logits.slice(logits.length - this.spec.vocab), cache: next }
  }

  /**
   * Teacher forcing: one pass over `tokens` from an empty cache, no decoding loop. Returns the
   * logits rows of positions `from` to the last, row-major (a view of the pass's output, which
   * holds every position: keep it in the thread that made it).
   */
  async score(tokens: readonly number[], from: number): Promise<Float32Array> {
    if (!(Number.isInteger(from) && from >= 0 && from < tokens.length))
      throw new EngineError('BAD_PARAMS', `score: no position ${from} among ${tokens.length}`)
    const { logits } = await this.forward(this.emptyCache(), tokens)
    // Some exports return the last position's logits only; replay needs every position's.
    if (logits.length !== tokens.length * this.spec.vocab)
      throw new EngineError('MODEL_INVALID', 'the model returns no logits for every position')
    return logits.subarray(from * this.spec.vocab)
  }

  private async forward(
    cache: DecoderCache,
    tokens: readonly number[],
  ): Promise<{ logits: Float32Array; cache: DecoderCache }> {
    const n = tokens.length
    const total = cache.length + n
    if (total > this.spec.contextLength) {
      throw new EngineError(
        'CONTEXT_OVERFLOW',
        `position ${total} is past the context of ${this.spec.contextLength}`,
      )
    }
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(tokens, BigInt), [1, n]),
      ...cache.past,
    }
    if (this.feedsMask)
      feeds.attention_mask = new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total])
    if (this.feedsPositions) {
      const pos = BigInt64Array.from({ length: n }, (_, i) => BigInt(cache.length + i))
      feeds.position_ids = new ort.Tensor('int64', pos, [1, n])
    }
    const out = await this.session.run(feeds)
    const logits = out.logits
    if (logits === undefined) throw new EngineError('ENGINE_FAILED', 'the model returned no logits')
    const data = logits.data as Float32Array
    const past: Record<string, ort.Tensor> = {}
    for (const name of this.pastNames) {
      const t = out[name.replace('past_key_values.', 'present.')]
      if (t === undefined) throw new EngineError('ENGINE_FAILED', `the model returned no ${name} successor`)
      past[name] = t
    }
    return { logits: data, cache: { past, length: total } }
  }

  async close(): Promise<void> {
    await this.session.release()
  }
}
