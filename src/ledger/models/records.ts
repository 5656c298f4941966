import { read, amount } from '../codec.js'
import { CodecError } from '../errors.js'

/**
 * Model governance from genesis (SPEC 7; seed 004, appendix J "Decentralized Model Registration
 * Process"). Without it the approved models stay as genesis lists them.
 */
export interface GovernanceParams {
  /** Base units a ModelPropose escrows: returned on approval, burned otherwise. */
  modelDeposit: bigint
  /** Epochs a proposal is open to votes, counting the one it was made in. At least 1. */
  modelVotingEpochs: number
  /** Proposals pending at once, at most. */
  maxPendingModels: number
}

/** A model proposal awaiting its vote: the deposit is held in it (a holding of the supply). */
export interface ModelProposal {
  /** `name@hash` (see MODEL_ID). */
  model: string
  /** Units of compute per token, the factor of its fee once approved. */
  unitsPerToken: number
  proposer: string
  /** Escrowed from the proposer. */
  deposit: bigint
  /** Epoch in which it was proposed. */
  epoch: number
  /** It expires as this epoch begins, unless decided before: `epoch + modelVotingEpochs`. */
  closesAt: number
  /** Height of the ModelPropose. */
  height: number
  /** (peer, approves), sorted by peer: a peer's last vote replaces its earlier one. */
  votes: Array<[string, boolean]>
}

export type ModelOutcome = 'approved' | 'rejected' | 'expired'
const OUTCOMES: readonly ModelOutcome[] = ['approved', 'rejected', 'expired']

/** How a proposal ended, kept among the last RECENT_DECISIONS for people to read. */
export interface ModelDecision {
  model: string
  unitsPerToken: number
  proposer: string
  deposit: bigint
  outcome: ModelOutcome
  /** Epoch in which it was decided. */
  epoch: number
}

/**
 * A model id as the engine derives it from a model folder (src/engine/llm/manifest.ts): the
 * manifest's name, `@`, the first 16 hex digits of the manifest's SHA-256. At most 81 characters.
 */
export const MODEL_ID = /^[A-Za-z0-9._-]{1,64}@[0-9a-f]{16}$/
export const MAX_MODEL_ID_CHARS = 81
/** Largest units of compute per token a proposal may name (the manifest schema's bound). */
export const MAX_UNITS_PER_TOKEN = 1e12
/** Decided proposals kept in state for `cordex model list`. */
export const RECENT_DECISIONS = 32
/** Hard bound on `maxPendingModels`, whatever genesis says. */
export const MAX_PENDING_MODELS = 256

export const ModelKeys = {
  governance: 'governance',
  /** Ids of the pending proposals, in the order they were made. */
  pendingModels: 'modelprops',
  proposal: (model: string): string => `modelprop:${model}`,
  recentModels: 'modeldone',
} as const

const id = (v: unknown, what: string): string => read.string(v, 64, what)

/** Read a model id: the engine's `name@hash` shape; throws CodecError BAD_SHAPE. */
export function readModelId(v: unknown, what = 'model'): string {
  const s = read.string(v, MAX_MODEL_ID_CHARS, what)
  if (!MODEL_ID.test(s))
    throw new CodecError('BAD_SHAPE', `${what}: expected a model id name@<16 hex digits>`, { what })
  return s
}

/** Read units of compute per token: a whole number from 1 to 10^12; throws CodecError BAD_SHAPE. */
export function readUnits(v: unknown, what = 'unitsPerToken'): number {
  const n = read.uint(v, what)
  if (n < 1 || n > MAX_UNITS_PER_TOKEN)
    throw new CodecError('BAD_SHAPE', `${what}: expected a whole number from 1 to 10^12`, { what })
  return n
}

export const governanceParamsCodec = {
  encode: (p: GovernanceParams): unknown => [amount(p.modelDeposit), p.modelVotingEpochs, p.maxPendingModels],
  decode: (v: unknown): GovernanceParams => {
    const [d, e, m] = read.array(v, 3, 'governance')
    return {
      modelDeposit: read.amount(d, 'modelDeposit'),
      modelVotingEpochs: read.uint(e, 'modelVotingEpochs'),
      maxPendingModels: read.uint(m, 'maxPendingModels'),
    }
  },
}

export const pendingModelsCodec = {
  encode: (ids: string[]): unknown => ids,
  decode: (v: unknown): string[] =>
    read.list(v, MAX_PENDING_MODELS, 'pending models').map((x) => readModelId(x)),
}

export const proposalCodec = {
  encode: (p: ModelProposal): unknown => [
    p.model,
    p.unitsPerToken,
    p.proposer,
    amount(p.deposit),
    p.epoch,
    p.closesAt,
    p.height,
    p.votes,
  ],
  decode: (v: unknown): ModelProposal => {
    const [m, u, p, d, e, c, h, votes] = read.array(v, 8, 'model proposal')
    return {
      model: readModelId(m),
      unitsPerToken: readUnits(u),
      proposer: id(p, 'proposer'),
      deposit: read.amount(d, 'deposit'),
      epoch: read.uint(e, 'epoch'),
      closesAt: read.uint(c, 'closesAt'),
      height: read.uint(h, 'height'),
      votes: read.list(votes, 100_000, 'votes').map((x) => {
        const [peer, yes] = read.array(x, 2, 'vote')
        return [id(peer, 'voter'), read.bool(yes, 'approves')] as [string, boolean]
      }),
    }
  },
}

export const recentModelsCodec = {
  encode: (list: ModelDecision[]): unknown =>
    list.map((d) => [d.model, d.unitsPerToken, d.proposer, amount(d.deposit), d.outcome, d.epoch]),
  decode: (v: unknown): ModelDecision[] =>
    read.list(v, RECENT_DECISIONS, 'decided models').map((x) => {
      const [m, u, p, d, o, e] = read.array(x, 6, 'decided model')
      const outcome = read.string(o, 16, 'outcome')
      if (!OUTCOMES.includes(outcome as ModelOutcome))
        throw new CodecError('BAD_SHAPE', `outcome: unknown ${outcome}`, { what: 'outcome' })
      return {
        model: readModelId(m),
        unitsPerToken: readUnits(u),
        proposer: id(p, 'proposer'),
        deposit: read.amount(d, 'deposit'),
        outcome: outcome as ModelOutcome,
        epoch: read.uint(e, 'epoch'),
      }
    }),
}
