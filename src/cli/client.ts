import http from 'node:http'
import { dataDirPaths } from '../node/dataDir.js'
import { readApiToken } from '../node/apiToken.js'
import { CliError } from './errors.js'
import { ExitCode } from './exitCodes.js'

/** Largest response the CLI reads from its daemon. */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024

export interface ApiCallOptions {
  method?: 'GET' | 'POST' | 'DELETE'
  body?: unknown
  /** A body sent as it is, with its content type, instead of `body` as JSON (file uploads). */
  raw?: { contentType: string; data: Uint8Array }
  /** Resolve with the answer's text as it is (a 2xx answer need not be JSON: file contents). */
  text?: boolean
  timeoutMs?: number
  /**
   * The daemon's TCP listener (`http://127.0.0.1:<port>`, as `cordex status` shows it) to talk to
   * instead of its Unix socket; the bearer token is then read from `<dataDir>/api.token`.
   */
  url?: string
}

/** Where a request goes: the Unix socket, or the TCP listener with the token it requires. */
interface Endpoint {
  /** For messages: the socket path or the URL. */
  where: string
  options: http.RequestOptions
}

async function endpoint(dataDir: string, url: string | undefined): Promise<Endpoint> {
  if (url === undefined) {
    const socketPath = dataDirPaths(dataDir).socket
    return { where: socketPath, options: { socketPath } }
  }
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new CliError(ExitCode.USAGE, 'BAD_API_URL', `not a URL: ${url}`)
  }
  if (u.protocol !== 'http:') throw new CliError(ExitCode.USAGE, 'BAD_API_URL', `not an http:// URL: ${url}`)
  // The TCP listener refuses every request without the token (the Unix socket is guarded by its mode).
  const token = await readApiToken(dataDir)
  return {
    where: u.origin,
    options: {
      host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: u.port === '' ? 80 : Number(u.port),
      headers: { authorization: `Bearer ${token}` },
    },
  }
}

/** A failed request to the daemon: NO_DAEMON when nothing answers on the socket, else DAEMON_ERROR. */
function requestError(err: NodeJS.ErrnoException, dataDir: string, where: string): CliError {
  if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
    return new CliError(
      ExitCode.NO_DAEMON,
      'NO_DAEMON',
      `no daemon is running on ${dataDir} (no answer on ${where})`,
    )
  }
  return new CliError(ExitCode.DAEMON_ERROR, err.code ?? 'REQUEST_FAILED', err.message)
}

/**
 * Call the daemon of `dataDir` over its Unix socket (or, with `opts.url`, its TCP listener) and
 * return the parsed JSON. A missing socket or a refused connection is a NO_DAEMON CliError; a JSON
 * error answer is a DAEMON_ERROR.
 */
export async function callDaemon<T>(dataDir: string, path: string, opts: ApiCallOptions = {}): Promise<T> {
  const to = await endpoint(dataDir, opts.url)
  const payload = opts.raw?.data ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body))
  const contentType = opts.raw?.contentType ?? 'application/json'
  return new Promise<T>((resolve, reject) => {
    const req = http.request(
      {
        ...to.options,
        path,
        method: opts.method ?? 'GET',
        headers: {
          ...to.options.headers,
          ...(payload !== undefined ? { 'content-type': contentType } : {}),
        },
        timeout: opts.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (c: Buffer) => {
          size += c.length
          if (size > MAX_RESPONSE_BYTES) req.destroy(new Error('response too large'))
          else chunks.push(c)
        })
        res.on('end', () => {
          const status = res.statusCode ?? 0
          if (opts.text === true && status >= 200 && status < 300) {
            resolve(Buffer.concat(chunks).toString('utf8') as T)
            return
          }
          let value: unknown
          try {
            value = JSON.parse(Buffer.concat(chunks).toString('utf8'))
          } catch {
            reject(
              new CliError(ExitCode.DAEMON_ERROR, 'BAD_RESPONSE', `daemon sent a response that is not JSON`),
            )
            return
          }
          if (status >= 200 && status < 300) {
            resolve(value as T)
            return
          }
          const e = (value as { error?: { message?: string; code?: string } }).error
          reject(
            new CliError(ExitCode.DAEMON_ERROR, e?.code ?? `HTTP_${status}`, e?.message ?? `HTTP ${status}`),
          )
        })
        res.on('error', reject)
      },
    )
    req.on('timeout', () =>
      req.destroy(new Error(`no answer from the daemon in ${opts.timeoutMs ?? 30_000} ms`)),
    )
    req.on('error', (err: NodeJS.ErrnoException) => reject(requestError(err, dataDir, to.where)))
    if (payload !== undefined) req.write(payload)
    req.end()
  })
}

/**
 * POST `body` to `path` and read the answer as server-sent events (OpenAI's `stream: true`),
 * calling `onEvent` with each parsed `data:` item until `[DONE]`. An event carrying `error`, or a
 * JSON error answer, rejects with a DAEMON_ERROR CliError.
 */
export async function streamDaemon(
  dataDir: string,
  path: string,
  body: unknown,
  onEvent: (event: Record<string, unknown>) => void,
  opts: { timeoutMs?: number; url?: string } = {},
): Promise<void> {
  const to = await endpoint(dataDir, opts.url)
  const payload = JSON.stringify(body)
  const timeoutMs = opts.timeoutMs ?? 600_000
  await new Promise<void>((resolve, reject) => {
    const fail = (code: string, message: string): void => {
      reject(new CliError(ExitCode.DAEMON_ERROR, code, message))
      req.destroy()
    }
    const req = http.request(
      {
        ...to.options,
        path,
        method: 'POST',
        headers: { ...to.options.headers, 'content-type': 'application/json' },
        timeout: timeoutMs,
      },
      (res) => {
        res.setEncoding('utf8')
        let buf = ''
        let size = 0
        const isStream = String(res.headers['content-type'] ?? '').startsWith('text/event-stream')
        res.on('data', (chunk: string) => {
          size += chunk.length
          if (size > MAX_RESPONSE_BYTES) return fail('BAD_RESPONSE', 'response too large')
          buf += chunk
          if (!isStream) return
          for (let i = buf.indexOf('\n\n'); i !== -1; i = buf.indexOf('\n\n')) {
            const line = buf.slice(0, i).trim()
            buf = buf.slice(i + 2)
            if (!line.startsWith('data: ')) continue
            const data = line.slice(6)
            if (data === '[DONE]') return resolve()
            let event: Record<string, unknown>
            try {
              event = JSON.parse(data) as Record<string, unknown>
            } catch {
              return fail('BAD_RESPONSE', 'daemon sent an event that is not JSON')
            }
            const e = event.error as { code?: string; message?: string } | undefined
            if (e !== undefined) return fail(e.code ?? 'STREAM_ERROR', e.message ?? 'stream failed')
            onEvent(event)
          }
        })
        res.on('end', () => {
          if (isStream) return fail('BAD_RESPONSE', 'the stream ended without [DONE]')
          try {
            const e = (JSON.parse(buf) as { error?: { code?: string; message?: string } }).error
            fail(e?.code ?? `HTTP_${res.statusCode}`, e?.message ?? `HTTP ${res.statusCode}`)
          } catch {
            fail('BAD_RESPONSE', `daemon answered HTTP ${res.statusCode} without a JSON body`)
          }
        })
        res.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(new Error(`no answer from the daemon in ${timeoutMs} ms`)))
    req.on('error', (err: NodeJS.ErrnoException) => reject(requestError(err, dataDir, to.where)))
    req.end(payload)
  })
}
