import http from 'node:http'
import { dataDirPaths } from '../node/dataDir.js'
import { CliError } from './errors.js'
import { ExitCode } from './exitCodes.js'

/** Largest response the CLI reads from its daemon. */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024

export interface ApiCallOptions {
  method?: 'GET' | 'POST'
  body?: unknown
  timeoutMs?: number
}

/**
 * Call the daemon of `dataDir` over its Unix socket and return the parsed JSON. A missing socket
 * or a refused connection is a NO_DAEMON CliError; a JSON error answer is a DAEMON_ERROR.
 */
export async function callDaemon<T>(dataDir: string, path: string, opts: ApiCallOptions = {}): Promise<T> {
  const socketPath = dataDirPaths(dataDir).socket
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body)
  return new Promise<T>((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        path,
        method: opts.method ?? 'GET',
        headers: payload !== undefined ? { 'content-type': 'application/json' } : {},
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
          let value: unknown
          try {
            value = JSON.parse(Buffer.concat(chunks).toString('utf8'))
          } catch {
            reject(
              new CliError(ExitCode.DAEMON_ERROR, 'BAD_RESPONSE', `daemon sent a response that is not JSON`),
            )
            return
          }
          const status = res.statusCode ?? 0
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
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        reject(
          new CliError(
            ExitCode.NO_DAEMON,
            'NO_DAEMON',
            `no daemon is running on ${dataDir} (no answer on ${socketPath})`,
          ),
        )
      } else {
        reject(new CliError(ExitCode.DAEMON_ERROR, err.code ?? 'REQUEST_FAILED', err.message))
      }
    })
    if (payload !== undefined) req.write(payload)
    req.end()
  })
}
