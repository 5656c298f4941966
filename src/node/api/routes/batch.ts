import type { ApiRoute } from '../server.js'
import type { ApiContext } from '../context.js'
import { HttpError } from '../errors.js'
import { countAudit, type BatchJob } from '../../batch/index.js'
import { batchView } from '../views/batchView.js'
import { taskVerdict } from '../views/taskStatus.js'
import { batchCall } from './batchErrors.js'
import { batches } from './files.js'

// OpenAI's Batch API: create a batch over an uploaded file, follow it, list, cancel. The Batch
// object carries `cordex`, the audit of the batch's tasks.

/** Batches a list answers at most, and by default (OpenAI's). */
const MAX_LIST = 100
const DEFAULT_LIST = 20

/** The Batch object with the audit of its tasks, each task's verification as `GET /tasks/:id` has it. */
async function view(ctx: ApiContext, job: BatchJob): Promise<Record<string, unknown>> {
  const ids = await batches(ctx).taskIds(job.id)
  const tasks = await Promise.all(
    ids.map(async (id) => {
      const v = await taskVerdict(ctx, id)
      return { verification: v.verification ?? 'unknown', status: v.status }
    }),
  )
  return batchView(job, countAudit(tasks))
}

/**
 * `POST /v1/batches` `{input_file_id, endpoint, completion_window: "24h", metadata?}`: the Batch
 * object, `in_progress`, or `failed` with `errors` when a line names a model not served here.
 */
export function createBatchRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'POST',
    path: '/v1/batches',
    handler: async (req) => {
      const b = req.body
      if (typeof b !== 'object' || b === null || Array.isArray(b))
        throw new HttpError(400, 'invalid_value', 'the request body must be a JSON object')
      const o = b as Record<string, unknown>
      const job = await batchCall(() =>
        batches(ctx).create({
          inputFileId: o.input_file_id,
          endpoint: o.endpoint,
          completionWindow: o.completion_window,
          metadata: o.metadata,
        }),
      )
      return view(ctx, job)
    },
  }
}

export function batchRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/v1/batches/:id',
    handler: async (req) => view(ctx, await batchCall(() => batches(ctx).get(req.params.id ?? ''))),
  }
}

/** `GET /v1/batches?after=ID&limit=N`: newest first, OpenAI's list object. */
export function listBatchesRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/v1/batches',
    handler: async (req) => {
      const raw = req.query.get('limit')
      const limit = raw === null ? DEFAULT_LIST : Number(raw)
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST)
        throw new HttpError(400, 'invalid_value', `limit must be an integer from 1 to ${MAX_LIST}`)
      const after = req.query.get('after') ?? undefined
      const page = await batchCall(() => batches(ctx).list(after, limit))
      const data = await Promise.all(page.data.map((j) => view(ctx, j)))
      return {
        object: 'list',
        data,
        first_id: page.data[0]?.id ?? null,
        last_id: page.data.at(-1)?.id ?? null,
        has_more: page.hasMore,
      }
    },
  }
}

/** `POST /v1/batches/:id/cancel`: the Batch object, `cancelling` (or `cancelled`); 409 once finished. */
export function cancelBatchRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'POST',
    path: '/v1/batches/:id/cancel',
    handler: async (req) => view(ctx, await batchCall(() => batches(ctx).cancel(req.params.id ?? ''))),
  }
}
