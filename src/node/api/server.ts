import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { chmod, rm } from 'node:fs/promises'
import type { Logger } from '../../util/logger.js'
import { HttpError, errorBody } from './errors.js'

export interface ApiServerOptions {
  /** Unix socket path (mode 0600). */
  socketPath: string
  /** Port of the optional TCP listener on 127.0.0.1; null keeps it off, 0 picks one. */
  tcpPort: number | null
  /** Largest request body, in bytes. */
  maxBodyBytes: number
  headersTimeoutMs: number
  requestTimeoutMs: number
  maxConnections: number
}

export interface ApiRequest {
  method: string
  /** Path without the query string. */
  path: string
  params: Record<string, string>
  query: URLSearchParams
  /** Parsed JSON body (undefined for requests without one). */
  body: unknown
  /** Aborted when the client goes away or the server stops. */
  signal: AbortSignal
}

export interface ApiRoute {
  method: 'GET' | 'POST' | 'DELETE'
  /** Path pattern with `:name` segments, e.g. `/peers/:id`. */
  path: string
  handler: (req: ApiRequest) => Promise<unknown>
}

/**
 * A handler's answer as server-sent events (OpenAI's `stream: true`): each item is sent as
 * `data: <json>`, then `data: [DONE]`. An error thrown while streaming is sent as an event with
 * an `error` object, the shape OpenAI clients raise.
 */
export class EventStream {
  constructor(readonly events: AsyncIterable<unknown>) {}
}

interface CompiledRoute extends ApiRoute {
  regex: RegExp
  names: string[]
}

/**
 * HTTP over the daemon's Unix socket, and optionally over TCP on 127.0.0.1. Every request is
 * bounded: header and request deadlines, a body size cap, a connection cap. Every failure,
 * including a malformed request the HTTP parser rejects, gets a JSON error; nothing a client sends
 * reaches the rest of the daemon unchecked.
 */
export class ApiServer {
  private readonly servers: http.Server[] = []
  private readonly routes: CompiledRoute[]
  private tcpUrl: string | null = null
  private readonly stopping = new AbortController()

  constructor(
    private readonly components: { log: Logger },
    private readonly opts: ApiServerOptions,
    routes: ApiRoute[],
  ) {
    this.routes = routes.map(compile)
  }

  /** `http://127.0.0.1:<port>` when the TCP listener runs, else null. */
  get apiUrl(): string | null {
    return this.tcpUrl
  }

  async start(): Promise<void> {
    const unix = this.createServer()
    await rm(this.opts.socketPath, { force: true })
    await listen(unix, { path: this.opts.socketPath })
    await chmod(this.opts.socketPath, 0o600)
    this.servers.push(unix)
    if (this.opts.tcpPort !== null) {
      const tcp = this.createServer()
      await listen(tcp, { host: '127.0.0.1', port: this.opts.tcpPort })
      this.servers.push(tcp)
      const addr = tcp.address()
      if (addr !== null && typeof addr === 'object') this.tcpUrl = `http://127.0.0.1:${addr.port}`
    }
  }

  async stop(): Promise<void> {
    this.stopping.abort()
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve())
            s.closeAllConnections()
          }),
      ),
    )
    this.servers.length = 0
    await rm(this.opts.socketPath, { force: true })
  }

  private createServer(): http.Server {
    const server = http.createServer(
      {
        headersTimeout: this.opts.headersTimeoutMs,
        requestTimeout: this.opts.requestTimeoutMs,
        // How often Node checks the two deadlines above (default 30 s).
        connectionsCheckingInterval: Math.min(1000, this.opts.headersTimeoutMs),
        maxHeaderSize: 16 * 1024,
      },
      (req, res) => void this.serve(req, res),
    )
    server.maxConnections = this.opts.maxConnections
    server.keepAliveTimeout = 5000
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket))
    return server
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const client = new AbortController()
    res.on('close', () => client.abort())
    const signal = AbortSignal.any([client.signal, this.stopping.signal])
    try {
      const url = new URL(req.url ?? '/', 'http://cordex')
      // The body is bounded before anything else looks at the request.
      const body = await readBody(req, this.opts.maxBodyBytes)
      const { route, params } = this.match(req.method ?? 'GET', url.pathname)
      const result = await route.handler({
        method: req.method ?? 'GET',
        path: url.pathname,
        params,
        query: url.searchParams,
        body,
        signal,
      })
      if (result instanceof EventStream) await streamEvents(res, result, this.components.log)
      else send(res, 200, JSON.stringify(result))
    } catch (err) {
      if (err instanceof HttpError) {
        send(res, err.status, errorBody(err.status, err.code, err.message))
        if (err.status === 413) lingeringClose(req)
      } else {
        this.components.log.error({ err, path: req.url }, 'request failed')
        send(res, 500, errorBody(500, 'INTERNAL', (err as Error).message))
      }
    }
  }

  private match(method: string, path: string): { route: CompiledRoute; params: Record<string, string> } {
    let pathMatched = false
    for (const route of this.routes) {
      const m = route.regex.exec(path)
      if (m === null) continue
      pathMatched = true
      if (route.method !== method) continue
      const params: Record<string, string> = {}
      route.names.forEach((name, i) => (params[name] = decodeURIComponent(m[i + 1] ?? '')))
      return { route, params }
    }
    if (pathMatched) throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}`)
    throw new HttpError(404, 'NOT_FOUND', `no such endpoint: ${method} ${path}`)
  }

  /** The HTTP parser refused the request (malformed, headers too large, or too slow). */
  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const status =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? 431
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 408
          : err.code === 'ECONNRESET'
            ? 0
            : 400
    this.components.log.debug({ code: err.code, status }, 'client error')
    if (status === 0 || !socket.writable) {
      socket.destroy()
      return
    }
    const body = errorBody(
      status,
      err.code ?? 'BAD_REQUEST',
      status === 408 ? 'request timed out' : 'malformed request',
    )
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    )
  }
}

function compile(route: ApiRoute): CompiledRoute {
  const names: string[] = []
  const pattern = route.path
    .split('/')
    .map((seg) => {
      if (!seg.startsWith(':')) return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      names.push(seg.slice(1))
      return '([^/]+)'
    })
    .join('/')
  return { ...route, regex: new RegExp(`^${pattern}/?$`), names }
}

/** Read and parse a JSON body, refusing more than `max` bytes without buffering them. */
async function readBody(req: IncomingMessage, max: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > max) {
    throw new HttpError(
      413,
      'BODY_TOO_LARGE',
      `request body of ${declared} bytes is over the limit of ${max}`,
    )
  }
  const data = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size <= max) {
        chunks.push(chunk)
        return
      }
      // Stop listening without destroying the request: the 413 still has to be written.
      req.off('data', onData)
      req.off('end', onEnd)
      req.pause()
      reject(new HttpError(413, 'BODY_TOO_LARGE', `request body is over the limit of ${max} bytes`))
    }
    const onEnd = (): void => resolve(Buffer.concat(chunks))
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', reject)
  })
  if (data.length === 0) return undefined
  try {
    return JSON.parse(data.toString('utf8'))
  } catch (err) {
    throw new HttpError(400, 'INVALID_JSON', `request body is not valid JSON: ${(err as Error).message}`)
  }
}

async function streamEvents(res: ServerResponse, stream: EventStream, log: Logger): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  try {
    for await (const event of stream.events) {
      if (res.destroyed) return
      res.write(`data: ${JSON.stringify(event)}\n\n`)
    }
    res.end('data: [DONE]\n\n')
  } catch (err) {
    const e = err instanceof HttpError ? err : new HttpError(500, 'INTERNAL', (err as Error).message)
    if (!(err instanceof HttpError)) log.error({ err }, 'stream failed')
    res.end(`data: ${errorBody(e.status, e.code, e.message)}\n\n`)
  }
}

function send(res: ServerResponse, status: number, body: string): void {
  if (res.headersSent) {
    res.end()
    return
  }
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

/** Bytes and time a refused body may still take to arrive before the connection is cut. */
const LINGER_BYTES = 16 * 1024 * 1024
const LINGER_MS = 2000

/**
 * After refusing an oversized body, read and discard what the client is still sending for a
 * moment, then close. Closing at once would reset a client that is still writing, and it would
 * lose the 413 it was sent.
 */
function lingeringClose(req: IncomingMessage): void {
  const socket = req.socket as Socket | null
  let discarded = 0
  const cut = (): void => {
    clearTimeout(timer)
    socket?.destroy()
  }
  const timer = setTimeout(cut, LINGER_MS)
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length
    if (discarded > LINGER_BYTES) cut()
  })
  req.on('end', cut)
  req.resume()
}

function listen(
  server: http.Server,
  where: { path: string } | { host: string; port: number },
): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(where, () => {
      server.off('error', reject)
      resolve()
    })
  })
}
