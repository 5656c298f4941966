import { BatchError } from './errors.js'

/** The endpoints a batch line may call. */
export const BATCH_ENDPOINTS = ['/v1/chat/completions', '/v1/completions'] as const
export type BatchEndpoint = (typeof BATCH_ENDPOINTS)[number]

/** One request of a batch input file: `{custom_id, method: "POST", url, body}` (OpenAI's shape). */
export interface BatchLine {
  /** Where it is in the file: 1-based, counting empty lines. */
  line: number
  customId: string
  url: BatchEndpoint
  body: Record<string, unknown>
  /** The request's model, as its body names it. */
  model: string
}

export interface JsonlLimits {
  /** Largest file, bytes. */
  maxBytes: number
  /** Most requests (non-empty lines) in a file. */
  maxLines: number
}

/** Longest `custom_id`, characters (OpenAI allows 64 as well). */
export const MAX_CUSTOM_ID = 64

/**
 * Check one request body as its endpoint's route would (throws with a message for the user):
 * injected, so that this file stays free of the API.
 */
export type CheckRequest = (body: unknown, url: BatchEndpoint) => void

/**
 * Parse and check a batch input file: UTF-8 JSONL within the limits, each non-empty line a
 * request to a supported endpoint whose body `check` accepts, every `custom_id` distinct. Throws
 * BatchError naming the first line at fault (1-based, counting empty lines), so that nothing is
 * stored from a file with any bad line.
 */
export function parseBatchFile(bytes: Uint8Array, limits: JsonlLimits, check: CheckRequest): BatchLine[] {
  if (bytes.byteLength > limits.maxBytes)
    throw new BatchError(
      'FILE_TOO_LARGE',
      `the file is ${bytes.byteLength} bytes, over the limit of ${limits.maxBytes}`,
    )
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw new BatchError('INVALID_FILE', 'the file is not UTF-8 text')
  }
  const lines: BatchLine[] = []
  const seen = new Set<string>()
  const raw = text.split('\n')
  for (let i = 0; i < raw.length; i++) {
    const src = raw[i]!.trim()
    if (src === '') continue
    if (lines.length === limits.maxLines)
      throw new BatchError('TOO_MANY_LINES', `the file has more than ${limits.maxLines} requests`)
    const line = parseLine(src, i + 1, check)
    if (seen.has(line.customId))
      throw lineError(i + 1, `custom_id ${JSON.stringify(line.customId)} is used by an earlier line`)
    seen.add(line.customId)
    lines.push(line)
  }
  if (lines.length === 0) throw new BatchError('INVALID_FILE', 'the file holds no requests')
  return lines
}

function lineError(line: number, message: string): BatchError {
  return new BatchError('INVALID_FILE', `line ${line}: ${message}`, { line })
}

function parseLine(src: string, n: number, check: CheckRequest): BatchLine {
  let v: unknown
  try {
    v = JSON.parse(src)
  } catch (err) {
    throw lineError(n, `not valid JSON (${(err as Error).message})`)
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw lineError(n, 'not a JSON object')
  const o = v as Record<string, unknown>
  const id = o.custom_id
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_CUSTOM_ID)
    throw lineError(n, `custom_id must be a string of 1 to ${MAX_CUSTOM_ID} characters`)
  if (o.method !== 'POST') throw lineError(n, 'method must be "POST"')
  const url = o.url
  if (typeof url !== 'string' || !(BATCH_ENDPOINTS as readonly string[]).includes(url))
    throw lineError(n, `url must be one of ${BATCH_ENDPOINTS.join(', ')}`)
  const body = o.body
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw lineError(n, 'body must be a JSON object')
  const b = body as Record<string, unknown>
  if (b.stream === true) throw lineError(n, 'stream is not supported in a batch')
  try {
    check(b, url as BatchEndpoint)
  } catch (err) {
    throw lineError(n, (err as Error).message)
  }
  return { line: n, customId: id, url: url as BatchEndpoint, body: b, model: String(b.model) }
}
