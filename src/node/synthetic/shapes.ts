import { GREEDY, type SamplingParams } from '../../engine/index.js'
import type { Random } from './plan.js'

/**
 * What a host sees of a request besides its text: which API it came through, its length, its
 * limits, sampling settings and stop strings, and the escrow on the ledger. Synthetic requests
 * copy these from real ones, so that no field sets them apart.
 */
export interface RequestShape {
  model: string
  chat: boolean
  promptTokens: number
  /** As the client gave them: absent means the gateway's default, as for the real request. */
  maxTokens?: number
  maxCost?: bigint
  sampling: SamplingParams
  stop: string[]
}

const pick = <T>(xs: readonly T[], random: Random): T => xs[Math.floor(random() * xs.length)]!

/**
 * The shapes of the last real requests this gateway ran, a uniform sample of them all (reservoir
 * sampling, bounded): synthetic requests are drawn from it. Before any real request has been seen
 * (a new network, or a gateway with no clients of its own) they come from a fixed mixture of
 * common settings instead, which a host could learn to recognise; docs/economics.md says so.
 */
export class TrafficShapes {
  private readonly kept: RequestShape[] = []
  private seen = 0

  constructor(
    private readonly max: number,
    private readonly random: Random,
  ) {}

  get size(): number {
    return this.kept.length
  }

  observe(shape: RequestShape): void {
    this.seen++
    if (this.kept.length < this.max) this.kept.push(shape)
    else {
      const j = Math.floor(this.random() * this.seen)
      if (j < this.max) this.kept[j] = shape
    }
  }

  /** A shape for `model`: a real one seen for it, else one from the fixed mixture. */
  draw(model: string): RequestShape {
    const real = this.kept.filter((s) => s.model === model)
    if (real.length > 0) return pick(real, this.random)
    return fallbackShape(model, this.random)
  }
}

/** The fixed mixture: short to medium prompts, either API, greedy or sampled, a few limits. */
export function fallbackShape(model: string, random: Random): RequestShape {
  const temperature = pick([0, 0.7, 0.8, 1], random)
  return {
    model,
    chat: random() < 0.5,
    // Log-uniform from 4 to 128 tokens.
    promptTokens: Math.round(4 * 32 ** random()),
    ...(random() < 0.8 ? { maxTokens: pick([16, 32, 48, 64, 128], random) } : {}),
    sampling: temperature === 0 ? GREEDY : { ...GREEDY, temperature, topP: pick([1, 1, 0.9, 0.95], random) },
    stop: random() < 0.8 ? [] : [pick(['\n', '.', '\n\n'], random)],
  }
}
