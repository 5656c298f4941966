import type { BatchAudit, BatchJob, FileMeta } from '../../batch/index.js'

/** OpenAI's File object. */
export function fileView(f: FileMeta): Record<string, unknown> {
  return {
    id: f.id,
    object: 'file',
    bytes: f.bytes,
    created_at: f.createdAt,
    filename: f.filename,
    purpose: f.purpose,
    status: 'processed',
    expires_at: null,
    status_details: null,
  }
}

/**
 * OpenAI's Batch object, with `cordex`: the audit of the batch's tasks (how many are pending,
 * verified, fraud... and of those the chain holds, how many are open, disputed, convicted...).
 */
export function batchView(j: BatchJob, audit: BatchAudit): Record<string, unknown> {
  return {
    id: j.id,
    object: 'batch',
    endpoint: j.endpoint,
    errors:
      j.errors === null
        ? null
        : {
            object: 'list',
            data: j.errors.map((e) => ({ code: e.code, message: e.message, param: null, line: e.line })),
          },
    input_file_id: j.inputFileId,
    completion_window: '24h',
    status: j.status,
    output_file_id: j.outputFileId,
    error_file_id: j.errorFileId,
    created_at: j.createdAt,
    in_progress_at: j.inProgressAt,
    expires_at: j.expiresAt,
    finalizing_at: j.finalizingAt,
    completed_at: j.completedAt,
    failed_at: j.failedAt,
    expired_at: j.expiredAt,
    cancelling_at: j.cancellingAt,
    cancelled_at: j.cancelledAt,
    request_counts: j.counts,
    metadata: j.metadata,
    cordex: audit,
  }
}
