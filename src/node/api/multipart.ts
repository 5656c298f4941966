import { HttpError } from './errors.js'

/** One field of a `multipart/form-data` body (RFC 7578). */
export interface FormPart {
  name: string
  /** The `filename` of a file field, if it has one. */
  filename?: string
  /** The part's own Content-Type, if it has one. */
  contentType?: string
  data: Buffer
}

/** Parts a form may have: an upload takes two (`file`, `purpose`); more is not a client of ours. */
const MAX_PARTS = 16
/** Bytes of one part's headers. */
const MAX_PART_HEADER_BYTES = 4096

const bad = (message: string): HttpError => new HttpError(400, 'invalid_multipart', message)

/**
 * Split a `multipart/form-data` body into its parts. The body is already within the control
 * socket's size limit; parts and their headers are bounded here. Throws HttpError 400
 * `invalid_multipart` for a body that does not follow RFC 7578.
 */
export function parseMultipart(contentType: string, body: Buffer): FormPart[] {
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType)
  const boundary = m?.[1] ?? m?.[2]
  if (boundary === undefined) throw bad('multipart/form-data without a boundary')
  const delimiter = Buffer.from(`--${boundary}`)
  const parts: FormPart[] = []
  let at = body.indexOf(delimiter)
  if (at === -1) throw bad('the body does not contain its multipart boundary')
  for (;;) {
    at += delimiter.length
    // `--` after a delimiter closes the body.
    if (body[at] === 0x2d && body[at + 1] === 0x2d) return parts
    if (body[at] !== 0x0d || body[at + 1] !== 0x0a) throw bad('a multipart boundary is not followed by CRLF')
    at += 2
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), at)
    if (next === -1) throw bad('a part of the multipart body has no closing boundary')
    if (parts.length === MAX_PARTS) throw bad(`a form of more than ${MAX_PARTS} parts`)
    parts.push(part(body.subarray(at, next)))
    at = next + 2
  }
}

function part(raw: Buffer): FormPart {
  const end = raw.indexOf('\r\n\r\n')
  if (end === -1 || end > MAX_PART_HEADER_BYTES) throw bad('a part has no headers, or too long ones')
  const headers = new Map<string, string>()
  for (const line of raw.subarray(0, end).toString('utf8').split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim())
  }
  const disposition = headers.get('content-disposition') ?? ''
  if (!/^form-data\s*(;|$)/i.test(disposition)) throw bad('a part without Content-Disposition: form-data')
  const name = param(disposition, 'name')
  if (name === undefined) throw bad('a part without a name')
  const filename = param(disposition, 'filename')
  const contentType = headers.get('content-type')
  return {
    name,
    ...(filename !== undefined ? { filename } : {}),
    ...(contentType !== undefined ? { contentType } : {}),
    data: raw.subarray(end + 4),
  }
}

/** A parameter of a Content-Disposition header, quoted (with `\"` escapes) or not. */
function param(header: string, key: string): string | undefined {
  const m = new RegExp(`;\\s*${key}="((?:[^"\\\\]|\\\\.)*)"|;\\s*${key}=([^;\\s]+)`, 'i').exec(header)
  if (m === null) return undefined
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]
}
