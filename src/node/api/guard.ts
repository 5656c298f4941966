import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { HttpError } from './errors.js'

/** What the TCP listener checks a request against. */
export interface TcpGuard {
  /** The bearer token every request must carry. */
  token: string
  /** Where the token lives, named in the 401 so that a person knows where to look. */
  tokenFile: string
  /** The listener's port: its own origins are `http://<loopback name>:<port>`. */
  port: number
  /**
   * The request is for one of the status page's files (statusPage.ts), which hold no data: it
   * needs no token (a browser cannot send one when it opens the page; the page's own API requests
   * carry it), but every other check still applies.
   */
  page?: boolean
}

/** Names a request to the loopback listener may carry in `Host`; anything else is DNS rebinding. */
const LOOPBACK_HOST = /^(?:localhost|127\.0\.0\.1|\[::1\])(?::\d{1,5})?$/i

/**
 * Refuse what a process other than the operator's may send to the TCP listener, which any local
 * user and any web page the operator visits can reach (the Unix socket is guarded by its mode
 * instead). Returns the refusal, or null for a request that may go on. In order:
 * - a `Host` that is not a loopback name (403 FORBIDDEN_HOST): a page whose name was rebound to
 *   127.0.0.1 sends its own name;
 * - a browser's cross-site request (403 FORBIDDEN_ORIGIN): an `Origin` other than the listener's
 *   own, a `Sec-Fetch-Site` of another site, or a CORS preflight, answered without any
 *   Access-Control-Allow-* header so the browser sends nothing more;
 * - a missing or wrong `Authorization: Bearer <token>` (401 UNAUTHORIZED), compared in constant
 *   time; not asked of a request for the status page's files (`guard.page`).
 */
export function checkTcpRequest(
  method: string,
  headers: IncomingHttpHeaders,
  guard: TcpGuard,
): HttpError | null {
  const host = headers.host
  if (host === undefined || !LOOPBACK_HOST.test(host)) {
    return new HttpError(
      403,
      'FORBIDDEN_HOST',
      `the API answers only requests to a loopback name (localhost, 127.0.0.1, [::1]), ` +
        `not ${JSON.stringify((host ?? '').slice(0, 100))}`,
    )
  }
  const origin = headers.origin
  if (origin !== undefined && !ownOrigin(origin, guard.port)) {
    return new HttpError(403, 'FORBIDDEN_ORIGIN', 'cross-origin requests are refused')
  }
  // Fetch Metadata: a page on another port of localhost is "same-site"; only "none" (the user's own
  // act) and "same-origin" (the status page's own requests) pass.
  const site = headers['sec-fetch-site']
  if (site === 'cross-site' || site === 'same-site') {
    return new HttpError(403, 'FORBIDDEN_ORIGIN', `${site} requests are refused`)
  }
  if (method === 'OPTIONS' && headers['access-control-request-method'] !== undefined) {
    return new HttpError(403, 'FORBIDDEN_ORIGIN', 'cross-origin requests are refused')
  }
  if (guard.page === true) return null
  const given = /^Bearer +(\S+) *$/i.exec(headers.authorization ?? '')?.[1]
  if (given === undefined || !sameToken(given, guard.token)) {
    return new HttpError(
      401,
      'UNAUTHORIZED',
      `${given === undefined ? 'missing' : 'wrong'} bearer token: send \`Authorization: Bearer <token>\` ` +
        `with the token in ${guard.tokenFile}`,
      { 'www-authenticate': 'Bearer' },
    )
  }
  return null
}

function ownOrigin(origin: string, port: number): boolean {
  return ['localhost', '127.0.0.1', '[::1]'].some((name) => origin.toLowerCase() === `http://${name}:${port}`)
}

/** Equal tokens, in a time that says nothing of where they differ nor of the token's length. */
function sameToken(given: string, token: string): boolean {
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest()
  return timingSafeEqual(digest(given), digest(token))
}
