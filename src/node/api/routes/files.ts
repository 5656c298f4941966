import type { ApiRoute } from '../server.js'
import { RawResponse } from '../server.js'
import type { ApiContext } from '../context.js'
import { HttpError } from '../errors.js'
import { parseMultipart } from '../multipart.js'
import type { BatchService } from '../../batch/index.js'
import { fileView } from '../views/batchView.js'
import { batchCall } from './batchErrors.js'

// OpenAI's Files API, for batch jobs: upload an input file, read a file's object and content.

export function batches(ctx: ApiContext): BatchService {
  if (ctx.batches === null) throw new HttpError(503, 'inference_off', 'this chain takes no inference tasks')
  return ctx.batches
}

/**
 * `POST /v1/files`: a `multipart/form-data` form with `file` (the JSONL) and `purpose` (`batch`).
 * Every line is checked before anything is stored: 400 `invalid_file` naming the first bad line,
 * 413 `file_too_large`, 400 `too_many_lines`, 429 `limit_reached` when the daemon keeps as many
 * files as it may.
 */
export function uploadFileRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'POST',
    path: '/v1/files',
    multipart: true,
    handler: async (req) => {
      const svc = batches(ctx)
      if (req.upload === undefined)
        throw new HttpError(
          400,
          'invalid_value',
          'send the file as multipart/form-data with fields file and purpose',
        )
      const parts = parseMultipart(req.upload.contentType, req.upload.bytes)
      const file = parts.find((p) => p.name === 'file')
      const purpose = parts.find((p) => p.name === 'purpose')
      if (file === undefined) throw new HttpError(400, 'invalid_value', 'the form has no file field')
      if (purpose === undefined) throw new HttpError(400, 'invalid_value', 'the form has no purpose field')
      const meta = await batchCall(() =>
        svc.files.upload({
          filename: file.filename ?? 'upload.jsonl',
          purpose: purpose.data.toString('utf8'),
          bytes: file.data,
        }),
      )
      return fileView(meta)
    },
  }
}

/** `GET /v1/files?purpose=P`: every file this daemon keeps, newest first, as OpenAI's list. */
export function listFilesRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/v1/files',
    handler: async (req) => ({
      object: 'list',
      data: batches(ctx)
        .files.list(req.query.get('purpose') ?? undefined)
        .map(fileView),
      has_more: false,
    }),
  }
}

export function fileRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/v1/files/:id',
    handler: async (req) => fileView(await batchCall(() => batches(ctx).files.get(req.params.id ?? ''))),
  }
}

/** `DELETE /v1/files/:id`: OpenAI's deletion object; 409 for the input of a batch not finished. */
export function deleteFileRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'DELETE',
    path: '/v1/files/:id',
    handler: async (req) => {
      const id = req.params.id ?? ''
      await batchCall(() => batches(ctx).deleteFile(id))
      return { id, object: 'file', deleted: true }
    },
  }
}

/** `GET /v1/files/:id/content`: the file as it is (JSONL). */
export function fileContentRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/v1/files/:id/content',
    handler: async (req) =>
      new RawResponse(
        'application/jsonl',
        await batchCall(() => batches(ctx).files.content(req.params.id ?? '')),
      ),
  }
}
