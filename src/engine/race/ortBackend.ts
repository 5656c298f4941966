import ort from 'onnxruntime-node'
import {
  distanceFromLogits,
  generateWeights,
  inputSeed,
  targetVector,
  tokensAndPermutation,
  type RaceBackend,
  type RaceProfile,
} from '../../race/index.js'
import { buildRaceGraph, weightInputNames } from './graph.js'

export interface OrtRaceOptions {
  /** Nonces per onnxruntime run. */
  batch?: number
  /** Intra-op threads (default: onnxruntime's choice, all cores). */
  threads?: number
}

/**
 * The Race on onnxruntime-node's CPU provider: the graph is built in code, the weights are
 * generated once by the reference PRNG and handed to every run as input tensors, and nonces are
 * evaluated `batch` at a time. The permutation, centring and distance are the reference's own.
 */
export class OrtRaceBackend implements RaceBackend {
  readonly name = 'onnxruntime-cpu'

  private constructor(
    readonly profile: RaceProfile,
    private readonly seed: Uint8Array,
    private readonly session: ort.InferenceSession,
    private readonly weights: Record<string, ort.Tensor>,
    private readonly target: Float64Array,
    private readonly batch: number,
  ) {}

  static async create(
    profile: RaceProfile,
    seed: Uint8Array,
    opts: OrtRaceOptions = {},
  ): Promise<OrtRaceBackend> {
    const session = await ort.InferenceSession.create(buildRaceGraph(profile), {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      ...(opts.threads !== undefined ? { intraOpNumThreads: opts.threads, interOpNumThreads: 1 } : {}),
    })
    const w = generateWeights(profile, seed)
    const { width: d, ffn: f, vocab: V } = profile
    const arrays: Array<[Float32Array, number[]]> = [[w.embedding, [V, d]]]
    for (const l of w.layers) {
      arrays.push(
        [l.wq, [d, d]],
        [l.wk, [d, d]],
        [l.wv, [d, d]],
        [l.wo, [d, d]],
        [l.w1, [d, f]],
        [l.w2, [f, d]],
      )
    }
    arrays.push([w.output, [d, V]])
    const names = weightInputNames(profile)
    const weights: Record<string, ort.Tensor> = {}
    names.forEach((name, i) => (weights[name] = new ort.Tensor('float32', arrays[i]![0], arrays[i]![1])))
    return new OrtRaceBackend(
      profile,
      seed,
      session,
      weights,
      targetVector(seed, profile.vocab),
      opts.batch ?? 64,
    )
  }

  async distances(node: Uint8Array, nonces: readonly number[]): Promise<Float64Array> {
    const { seqLen: S, vocab: V } = this.profile
    const out = new Float64Array(nonces.length)
    for (let start = 0; start < nonces.length; start += this.batch) {
      const chunk = nonces.slice(start, start + this.batch)
      const tokens = new BigInt64Array(chunk.length * S)
      const perms: Int32Array[] = []
      chunk.forEach((nonce, b) => {
        const { tokens: t, perm } = tokensAndPermutation(inputSeed(this.seed, node, nonce), S, V)
        for (let i = 0; i < S; i++) tokens[b * S + i] = BigInt(t[i]!)
        perms.push(perm)
      })
      const result = await this.session.run({
        ...this.weights,
        tokens: new ort.Tensor('int64', tokens, [chunk.length, S]),
      })
      const logits = result.logits!.data as Float32Array
      for (let b = 0; b < chunk.length; b++) {
        out[start + b] = distanceFromLogits(logits.subarray(b * V, (b + 1) * V), perms[b]!, this.target)
      }
    }
    return out
  }

  async close(): Promise<void> {
    await this.session.release()
  }
}
