import type { ApiRoute } from '../server.js'
import type { ApiContext } from '../context.js'
import { HttpError } from '../errors.js'
import { fromHex, getVerifyParams, type SignedTx } from '../../../ledger/index.js'
import { txRefusal } from '../txRefusal.js'
import { taskStatus, taskVerdict } from '../views/taskStatus.js'
import {
  chainTaskView,
  isFinal,
  verificationOf,
  type ChainTaskView,
  type FinalVerification,
  type Verification,
} from '../views/taskView.js'

function taskId(raw: string | undefined): string {
  const id = raw ?? ''
  if (!/^[0-9a-f]{64}$/.test(id)) throw new HttpError(400, 'invalid_value', 'a task id is 64 hex digits')
  return id
}

/**
 * `GET /tasks/:id`: the record this gateway keeps of the task (request, output, receipt, route),
 * if any, with its verification (see Verification) and the chain's record of it (null when the
 * chain holds none: not settled yet, dropped, or a chain that checks no tasks). A task neither
 * recorded here nor on the chain is a 404. A final status read from the chain is saved in the
 * gateway's record, which outlives the chain's.
 */
export function taskRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/tasks/:id',
    handler: async (req) => {
      const id = taskId(req.params.id)
      const { rec, checked, verification } = await taskStatus(ctx, id)
      const state = ctx.chain.replica.state
      if (verification === undefined)
        throw new HttpError(404, 'not_found', `no task ${id} here or on the chain`)
      if (rec !== undefined && checked !== undefined && isFinal(checked.status)) {
        const final = verificationOf(checked.status) as FinalVerification
        // Saving is a convenience for later reads: a failure leaves this answer as it is.
        if (rec.verification !== final) await ctx.tasks?.setVerification(id, final).catch(() => false)
      }
      const chain: ChainTaskView | null = checked === undefined ? null : chainTaskView(state, checked)
      const answer: { verification: Verification; chain: ChainTaskView | null } = { verification, chain }
      return rec === undefined ? { taskId: id, ...answer } : { ...rec, ...answer }
    },
  }
}

/** One element of `GET /tasks`: a task this gateway ran, in brief. */
export interface RecentTaskView {
  taskId: string
  /** When the gateway recorded it (ISO 8601). */
  time: string
  model: string
  executor: string
  /** What it cost the client, base units (decimal string). */
  cost: string
  /** Output tokens. */
  tokens: number
  verification: Verification
  /** The prompt as the gateway ran it, cut to PROMPT_CHARS. */
  prompt: string
  /** Sent by this daemon's synthetic traffic rather than by a client. */
  synthetic: boolean
}

const PROMPT_CHARS = 200
const RECENT_DEFAULT = 20
const RECENT_MAX = 100

/**
 * `GET /tasks?limit=N` (1–100, default 20): `{data}`, the newest tasks this gateway recorded,
 * newest first, each with its verification as `GET /tasks/:id` tells it (the status page's list).
 */
export function recentTasksRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/tasks',
    handler: async (req) => {
      const raw = req.query.get('limit')
      const limit = raw === null ? RECENT_DEFAULT : Number(raw)
      if (!Number.isInteger(limit) || limit < 1 || limit > RECENT_MAX)
        throw new HttpError(400, 'invalid_value', `limit is an integer from 1 to ${RECENT_MAX}`)
      const recs = (await ctx.tasks?.recent(limit)) ?? []
      const data: RecentTaskView[] = []
      for (const rec of recs) {
        const { verification } = await taskVerdict(ctx, rec.taskId)
        data.push({
          taskId: rec.taskId,
          time: new Date(rec.time).toISOString(),
          model: rec.model,
          executor: rec.executor,
          cost: rec.cost,
          tokens: rec.tokens.length,
          verification: verification ?? 'unknown',
          prompt: rec.prompt.slice(0, PROMPT_CHARS),
          synthetic: rec.synthetic === true,
        })
      }
      return { data }
    },
  }
}

/** What `POST /tasks/:id/report` answers. */
export interface ReportView {
  taskId: string
  /** The Report transaction: in the mempool, not final yet (`GET /ledger/tx/:hash` follows it). */
  hash: string
  nonce: number
  from: string
  /** What it escrows from this daemon's account, base units. */
  deposit: string
}

/** The chain's refusals of a Report (src/ledger/tx/types/report.ts) as HTTP errors. */
const REFUSALS: Record<string, [number, string]> = {
  NO_TASK: [404, 'not_found'],
  NOT_CLIENT: [403, 'not_client'],
  TASK_DECIDED: [409, 'already_decided'],
  DUPLICATE: [409, 'already_reported'],
  AUDIT_CLOSED: [409, 'audit_closed'],
  NO_VERIFICATION: [409, 'no_verification'],
  INSUFFICIENT_FUNDS: [402, 'insufficient_funds'],
}

/**
 * `POST /tasks/:id/report` (no body, or `{}`): the daemon disputes one of its own tasks with a
 * Report signed by its key (its account is the client of the tasks its gateway opened), escrowing
 * the chain's `reportDeposit` (docs/verification.md). The transaction goes through the daemon's
 * queue of own transactions, behind its settlements, and is checked against the state (with its
 * pending transactions) before it is signed, so a refusal is immediate: 404 `not_found`, 403
 * `not_client`, 409 `already_decided` / `already_reported` / `audit_closed` / `no_verification`,
 * 402 `insufficient_funds`; 503 `busy` when it found no room in the mempools in time.
 */
export function reportRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'POST',
    path: '/tasks/:id/report',
    handler: async (req) => {
      const id = taskId(req.params.id)
      const b = req.body
      if (b !== undefined && (typeof b !== 'object' || b === null || Array.isArray(b)))
        throw new HttpError(400, 'invalid_value', 'the body must be empty or a JSON object')
      const params = getVerifyParams(ctx.chain.replica.state)
      if (params === undefined) throw new HttpError(409, 'no_verification', 'this chain checks no tasks')
      let tx: SignedTx
      try {
        tx = await ctx.chain.queueTx('Report', { taskId: fromHex(id) }, { lane: 'new', signal: req.signal })
          .done
      } catch (err) {
        throw refusal(err)
      }
      return {
        taskId: id,
        hash: tx.hashHex,
        nonce: tx.nonce,
        from: tx.from,
        deposit: params.reportDeposit.toString(),
      } satisfies ReportView
    },
  }
}

const refusal = (err: unknown): unknown => txRefusal(err, REFUSALS, 'the report')
