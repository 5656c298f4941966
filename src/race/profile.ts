/** A Race profile (SPEC 4.1): the transformer's shape, the target rate and the tolerance. */
export interface RaceProfile {
  /** Version of the Race function; a change of the function is a new version. */
  version: 1
  layers: number
  /** Model width d. */
  width: number
  heads: number
  /** Feed-forward width f. */
  ffn: number
  vocab: number
  /** Input sequence length S. */
  seqLen: number
  /** Target success rate per nonce. */
  q: number
  /** A recomputed distance may exceed τ by this much before a nonce counts as failed. */
  tolerance: number
}

export function checkProfile(p: RaceProfile): string | undefined {
  if (p.version !== 1) return `unknown Race function version ${String(p.version)}`
  for (const k of ['layers', 'width', 'heads', 'ffn', 'vocab', 'seqLen'] as const) {
    if (!Number.isSafeInteger(p[k]) || p[k] < 1) return `${k} must be a positive integer`
  }
  if (p.width % p.heads !== 0) return 'width must be a multiple of heads'
  if (p.vocab < 3) return 'vocab must be at least 3'
  if (!(p.q > 0 && p.q < 0.5)) return 'q must be in (0, 0.5)'
  if (!(p.tolerance >= 0 && p.tolerance < 0.1)) return 'tolerance must be in [0, 0.1)'
  return undefined
}

/** Parameters of the transformer (weights only). */
export function parameterCount(p: RaceProfile): number {
  const perLayer = 4 * p.width * p.width + 2 * p.width * p.ffn
  return p.layers * perLayer + 2 * p.vocab * p.width
}

/** Multiply-adds ×2 for one nonce (one forward pass of S tokens, logits at the last position). */
export function flopsPerNonce(p: RaceProfile): number {
  const S = p.seqLen
  const d = p.width
  const proj = 2 * S * (4 * d * d + 2 * d * p.ffn)
  const attn = 2 * 2 * S * S * d
  return p.layers * (proj + attn) + 2 * d * p.vocab
}
