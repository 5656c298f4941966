import type { BatchLine } from './jsonl.js'
import type { LineOutcome } from './runner.js'

/** How one line of a batch ended, as stored once it finished (the line is never run again). */
export interface LineResult {
  /** Index of the request in the input file (0-based, empty lines not counted). */
  index: number
  customId: string
  /** A 2xx answer: it goes to the output file; otherwise to the error file. */
  ok: boolean
  /** The task that answered it, for its verification; null when no task settled. */
  taskId: string | null
  /** The HTTP status the single-request endpoint would have answered; null: no answer at all. */
  status: number | null
  /** That endpoint's body: the completion, or `{error: {message, type, code}}`. */
  body: unknown
  /** Why it failed, when it did. */
  error: { code: string; message: string } | null
}

/** The id of a line's entry in the output or error file. */
export function requestId(batchId: string, index: number): string {
  return `${batchId.replace(/^batch_/, 'batch_req_')}_${index + 1}`
}

/**
 * One line of a batch's output or error file, in OpenAI's shape: `{id, custom_id, response:
 * {status_code, request_id, body}, error}`; `response` is null for a request that got no answer
 * (its batch expired before it ran).
 */
export function outputLine(batchId: string, r: LineResult): string {
  const id = requestId(batchId, r.index)
  return JSON.stringify({
    id,
    custom_id: r.customId,
    response:
      r.status === null
        ? null
        : { status_code: r.status, request_id: id.replace(/^batch_req_/, 'req_'), body: r.body },
    error: r.error,
  })
}

/** The OpenAI error body of a failed request. */
export function errorBodyOf(status: number, code: string, message: string): unknown {
  return { error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', code } }
}

/** The JSONL of `results` (in file order), or null when there are none. */
export function jsonl(batchId: string, results: LineResult[]): Uint8Array | null {
  if (results.length === 0) return null
  return Buffer.from(results.map((r) => `${outputLine(batchId, r)}\n`).join(''))
}

/** The stored result of line `index`, from what the gateway answered. */
export function resultOf(index: number, line: BatchLine, o: LineOutcome): LineResult {
  return o.ok
    ? {
        index,
        customId: line.customId,
        ok: true,
        taskId: o.taskId,
        status: o.status,
        body: o.body,
        error: null,
      }
    : {
        index,
        customId: line.customId,
        ok: false,
        taskId: null,
        status: o.status,
        body: errorBodyOf(o.status, o.code, o.message),
        error: { code: o.code, message: o.message },
      }
}

/** Results for the lines of an expired batch that never ran: no answer, `batch_expired`. */
export function expiredResults(lines: BatchLine[], results: LineResult[]): LineResult[] {
  const done = new Set(results.map((r) => r.index))
  return lines.flatMap((l, index) =>
    done.has(index)
      ? []
      : [
          {
            index,
            customId: l.customId,
            ok: false,
            taskId: null,
            status: null,
            body: null,
            error: { code: 'batch_expired', message: 'the batch expired before this request ran' },
          },
        ],
  )
}
