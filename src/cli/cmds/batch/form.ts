import { randomBytes } from 'node:crypto'

/** A `multipart/form-data` body of plain fields and one file (RFC 7578), as `POST /v1/files` takes it. */
export function formData(
  fields: Record<string, string>,
  file: { name: string; filename: string; contentType: string; data: Uint8Array },
): { contentType: string; data: Buffer } {
  const boundary = `cordex-${randomBytes(16).toString('hex')}`
  const quote = (s: string): string => s.replace(/["\\\r\n]/g, (c) => encodeURIComponent(c))
  const parts: Buffer[] = Object.entries(fields).map(([k, v]) =>
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${quote(k)}"\r\n\r\n${v}\r\n`),
  )
  parts.push(
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="${quote(file.name)}"; filename="${quote(file.filename)}"\r\n` +
        `Content-Type: ${file.contentType}\r\n\r\n`,
    ),
    Buffer.from(file.data),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  )
  return { contentType: `multipart/form-data; boundary=${boundary}`, data: Buffer.concat(parts) }
}
