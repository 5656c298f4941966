import type { ApiRoute } from '../server.js'
import type { ApiContext } from '../context.js'
import { HttpError } from '../errors.js'
import {
  CodecError,
  getGovernanceParams,
  readModelId,
  readUnits,
  type SignedTx,
} from '../../../ledger/index.js'
import { txRefusal } from '../txRefusal.js'
import { modelGovernanceView } from '../views/modelsView.js'

/** What `POST /models/propose` and `POST /models/:id/vote` answer. */
export interface ModelTxView {
  model: string
  /** The transaction: in the mempool, not final yet (`GET /ledger/tx/:hash` follows it). */
  hash: string
  nonce: number
  from: string
  /** ModelPropose: units per token proposed and the deposit escrowed (base units). */
  unitsPerToken?: number
  deposit?: string
  /** ModelVote: the vote cast. */
  approve?: boolean
}

/** The chain's refusals of ModelPropose and ModelVote (src/ledger/tx/types/model*.ts) as HTTP errors. */
const REFUSALS: Record<string, [number, string]> = {
  NO_GOVERNANCE: [409, 'no_governance'],
  MODEL_APPROVED: [409, 'already_approved'],
  MODEL_PENDING: [409, 'already_pending'],
  PROPOSALS_FULL: [409, 'proposals_full'],
  NO_PROPOSAL: [404, 'not_found'],
  NO_WEIGHT: [403, 'no_weight'],
  INSUFFICIENT_FUNDS: [402, 'insufficient_funds'],
}

const refusal = (err: unknown): unknown => txRefusal(err, REFUSALS, 'the transaction')

function object(b: unknown): Record<string, unknown> {
  if (typeof b !== 'object' || b === null || Array.isArray(b))
    throw new HttpError(400, 'invalid_value', 'the body must be a JSON object')
  return b as Record<string, unknown>
}

function field<T>(read: () => T): T {
  try {
    return read()
  } catch (err) {
    if (err instanceof CodecError) throw new HttpError(400, 'invalid_value', err.message)
    throw err
  }
}

function governed(ctx: ApiContext): void {
  if (getGovernanceParams(ctx.chain.replica.state) === undefined)
    throw new HttpError(409, 'no_governance', 'this chain adds no models by vote')
}

/** `GET /models/governance`: approved models, pending proposals with their votes, recent decisions. */
export function modelGovernanceRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/models/governance',
    handler: async () => modelGovernanceView(ctx.chain.replica.state),
  }
}

/**
 * `POST /models/propose` `{"model": "name@hash", "unitsPerToken": N}`: the daemon proposes the
 * model with a ModelPropose signed by its key, escrowing the chain's `modelDeposit` from its
 * account. Checked against the state (with its pending transactions) before it is signed, so a
 * refusal is immediate: 409 `no_governance` / `already_approved` / `already_pending` /
 * `proposals_full`, 402 `insufficient_funds`, 400 `invalid_value`; 503 `busy`.
 */
export function modelProposeRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'POST',
    path: '/models/propose',
    handler: async (req) => {
      const o = object(req.body)
      const model = field(() => readModelId(o.model))
      const unitsPerToken = field(() => readUnits(o.unitsPerToken))
      governed(ctx)
      const deposit = getGovernanceParams(ctx.chain.replica.state)!.modelDeposit
      let tx: SignedTx
      try {
        tx = await ctx.chain.queueTx(
          'ModelPropose',
          { model, unitsPerToken },
          { lane: 'new', signal: req.signal },
        ).done
      } catch (err) {
        throw refusal(err)
      }
      return {
        model,
        hash: tx.hashHex,
        nonce: tx.nonce,
        from: tx.from,
        unitsPerToken,
        deposit: deposit.toString(),
      } satisfies ModelTxView
    },
  }
}

/**
 * `POST /models/:id/vote` `{"approve": true|false}`: the daemon votes on a pending proposal with
 * a ModelVote signed by its key (it needs weight in the current epoch). Refusals: 404 `not_found`
 * (no proposal pending), 409 `already_approved` / `no_governance`, 403 `no_weight`,
 * 400 `invalid_value`; 503 `busy`.
 */
export function modelVoteRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'POST',
    path: '/models/:id/vote',
    handler: async (req) => {
      const model = field(() => readModelId(req.params.id ?? ''))
      const o = object(req.body)
      if (typeof o.approve !== 'boolean')
        throw new HttpError(400, 'invalid_value', 'approve must be true (yes) or false (no)')
      const approve = o.approve
      governed(ctx)
      let tx: SignedTx
      try {
        tx = await ctx.chain.queueTx('ModelVote', { model, approve }, { lane: 'new', signal: req.signal })
          .done
      } catch (err) {
        throw refusal(err)
      }
      return { model, hash: tx.hashHex, nonce: tx.nonce, from: tx.from, approve } satisfies ModelTxView
    },
  }
}
