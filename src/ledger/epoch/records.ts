import { CodecError } from '../errors.js'
import { read } from '../codec.js'

/** Race parameters from genesis (SPEC 4): phase lengths, windows, proof and sample limits. */
export interface RaceParams {
  /** Blocks of the commit phase, then of the reveal phase. */
  commitBlocks: number
  revealBlocks: number
  /** Wall-clock length of the Race from the starting gun (the block that closes the reveals), ms. */
  raceMs: number
  /** After the Race: time to get proofs into blocks, then time for verdicts, ms. */
  submitMs: number
  validateMs: number
  /** Nonces in one proof at most. */
  maxProofNonces: number
  /** Nonces a validator recomputes from each proof. */
  sampleSize: number
  /** A proof is rejected when more than this many sampled nonces fail beyond the tolerance. */
  maxSampleFailures: number
  /** Base units burned from a committer that does not reveal. */
  noRevealPenalty: bigint
  /** Cap on one peer's weight (0: none). */
  maxWeightPerPeer: number
  /** Revealers must hold more than this share of validator power (basis points), or the seed falls back. */
  minRevealBps: number
  /**
   * Validators that judge each proof, drawn by weight from the epoch seed and the prover (0: all
   * of them). A proof needs more than half its committee's power. Bounds each validator's work
   * when there are many provers.
   */
  committeeSize: number
}

/**
 * `serve`: inference only, until the epoch's Race begins at `raceStart`; then the Race's phases.
 * The Race's activation ends the epoch.
 */
export type Phase = 'serve' | 'commit' | 'reveal' | 'race' | 'validate'
const PHASES: readonly string[] = ['serve', 'commit', 'reveal', 'race', 'validate']

/** The current epoch's Race state (SPEC 4): one record, bounded by the validator and prover counts. */
export interface EpochState {
  number: number
  phase: Phase
  /** Height at which the current phase began. */
  phaseStart: number
  /**
   * Height at which this epoch's Race begins (its commit phase): `epochBlocks` after the previous
   * Race began, or at once when that Race ran past it. Races thus recur every `epochBlocks`.
   */
  raceStart: number
  /** The previous epoch's seed; this epoch's seed once the reveals close. */
  prevSeed: Uint8Array
  seed: Uint8Array | null
  /** Time of the starting gun (block time), ms; 0 before it. */
  gunTime: number
  /** The seed came from the fallback rule (too few reveals). */
  fallback: boolean
  commits: Array<[string, Uint8Array]>
  reveals: Array<[string, Uint8Array]>
  /** (prover, nonce count, Merkle root of the nonce list). */
  proofs: Array<[string, number, Uint8Array]>
  /** (prover, validator, accepted). */
  verdicts: Array<[string, string, boolean]>
  /** Weights activated at the end of the previous epoch: (peer, weight). */
  weights: Array<[string, number]>
}

/**
 * The record of an epoch that begins at height `start`: serving until `raceStart`, or in its
 * commit phase at once when the Race is due.
 */
export function freshEpoch(
  number: number,
  start: number,
  prevSeed: Uint8Array,
  weights: Array<[string, number]>,
  raceStart = start,
): EpochState {
  const due = raceStart <= start
  return {
    number,
    phase: due ? 'commit' : 'serve',
    phaseStart: start,
    raceStart: due ? start : raceStart,
    prevSeed,
    seed: null,
    gunTime: 0,
    fallback: false,
    commits: [],
    reveals: [],
    proofs: [],
    verdicts: [],
    weights,
  }
}

const list = (v: unknown, what: string): unknown[] => read.list(v, 100_000, what)

export const epochCodec = {
  encode: (e: EpochState): unknown => [
    e.number,
    e.phase,
    e.phaseStart,
    e.raceStart,
    e.prevSeed,
    e.seed,
    e.gunTime,
    e.fallback,
    e.commits,
    e.reveals,
    e.proofs,
    e.verdicts,
    e.weights,
  ],
  decode: (v: unknown): EpochState => {
    const f = read.array(v, 13, 'epoch')
    const phase = read.string(f[1], 16, 'phase')
    if (!PHASES.includes(phase))
      throw new CodecError('BAD_SHAPE', `phase: unknown ${phase}`, { what: 'phase' })
    const pair =
      <A, B>(what: string, a: (x: unknown) => A, b: (x: unknown) => B) =>
      (e: unknown): [A, B] => {
        const [x, y] = read.array(e, 2, what)
        return [a(x), b(y)]
      }
    const id = (x: unknown): string => read.string(x, 64, 'peer')
    const b32 = (x: unknown): Uint8Array => read.bytes(x, 'hash', 32)
    return {
      number: read.uint(f[0], 'number'),
      phase: phase as Phase,
      phaseStart: read.uint(f[2], 'phaseStart'),
      raceStart: read.uint(f[3], 'raceStart'),
      prevSeed: b32(f[4]),
      seed: f[5] === null ? null : b32(f[5]),
      gunTime: read.uint(f[6], 'gunTime'),
      fallback: read.bool(f[7], 'fallback'),
      commits: list(f[8], 'commits').map(pair('commit', id, b32)),
      reveals: list(f[9], 'reveals').map(pair('reveal', id, b32)),
      proofs: list(f[10], 'proofs').map((e) => {
        const [p, n, h] = read.array(e, 3, 'proof')
        return [id(p), read.uint(n, 'count'), b32(h)] as [string, number, Uint8Array]
      }),
      verdicts: list(f[11], 'verdicts').map((e) => {
        const [p, val, ok] = read.array(e, 3, 'verdict')
        return [id(p), id(val), read.bool(ok, 'accepted')] as [string, string, boolean]
      }),
      weights: list(f[12], 'weights').map(pair('weight', id, (x) => read.uint(x, 'weight'))),
    }
  },
}

export const raceParamsCodec = {
  encode: (p: RaceParams): unknown => [
    p.commitBlocks,
    p.revealBlocks,
    p.raceMs,
    p.submitMs,
    p.validateMs,
    p.maxProofNonces,
    p.sampleSize,
    p.maxSampleFailures,
    p.noRevealPenalty <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(p.noRevealPenalty) : p.noRevealPenalty,
    p.maxWeightPerPeer,
    p.minRevealBps,
    p.committeeSize,
  ],
  decode: (v: unknown): RaceParams => {
    const f = read.array(v, 12, 'raceParams')
    const u = (i: number, what: string): number => read.uint(f[i], what)
    return {
      commitBlocks: u(0, 'commitBlocks'),
      revealBlocks: u(1, 'revealBlocks'),
      raceMs: u(2, 'raceMs'),
      submitMs: u(3, 'submitMs'),
      validateMs: u(4, 'validateMs'),
      maxProofNonces: u(5, 'maxProofNonces'),
      sampleSize: u(6, 'sampleSize'),
      maxSampleFailures: u(7, 'maxSampleFailures'),
      noRevealPenalty: read.amount(f[8], 'noRevealPenalty'),
      maxWeightPerPeer: u(9, 'maxWeightPerPeer'),
      minRevealBps: u(10, 'minRevealBps'),
      committeeSize: u(11, 'committeeSize'),
    }
  },
}
