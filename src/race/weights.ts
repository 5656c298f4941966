import type { RaceProfile } from './profile.js'
import { Stream, fillUniform } from './prng.js'
import { weightKey } from './seeds.js'

/** One layer's matrices, row-major `[in][out]` (x · W). */
export interface LayerWeights {
  wq: Float32Array
  wk: Float32Array
  wv: Float32Array
  wo: Float32Array
  /** d × f */
  w1: Float32Array
  /** f × d */
  w2: Float32Array
}

export interface RaceWeights {
  /** V × d */
  embedding: Float32Array
  layers: LayerWeights[]
  /** d × V */
  output: Float32Array
}

/**
 * Every weight from the Race seed (docs/race-function.md, "Weights"): tensor k is stream k under
 * `weightKey(seed)`, each value `uniform(word) · √(3 / fanIn)` (variance 1/fanIn), the embedding
 * with fanIn 1. Stream order: 0 embedding; 1 + 6l + {0..5} layer l's Wq, Wk, Wv, Wo, W1, W2;
 * 1 + 6L the output projection.
 */
export function generateWeights(profile: RaceProfile, seed: Uint8Array): RaceWeights {
  const key = weightKey(seed)
  const { width: d, ffn: f, vocab: V, layers: L } = profile
  const tensor = (index: number, rows: number, cols: number, fanIn: number): Float32Array => {
    const out = new Float32Array(rows * cols)
    fillUniform(new Stream(key, index), out, Math.fround(Math.sqrt(3 / fanIn)))
    return out
  }
  const layers: LayerWeights[] = []
  for (let l = 0; l < L; l++) {
    const b = 1 + 6 * l
    layers.push({
      wq: tensor(b, d, d, d),
      wk: tensor(b + 1, d, d, d),
      wv: tensor(b + 2, d, d, d),
      wo: tensor(b + 3, d, d, d),
      w1: tensor(b + 4, d, f, d),
      w2: tensor(b + 5, f, d, f),
    })
  }
  return { embedding: tensor(0, V, d, 1), layers, output: tensor(1 + 6 * L, d, V, d) }
}
