import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { TestDaemon } from '../helpers/daemon.js'
import { tempDir, waitFor } from '../helpers/cli.js'
import { testSigner } from '../helpers/chainSim.js'
import { apiRoutes, type ApiContext } from '../../src/node/api/index.js'
import { parsePrometheus } from '../helpers/prometheus.js'
import { baseRegistry } from '../../src/ledger/index.js'
import {
  type Rng,
  jsonValue,
  deepJson,
  badJsonText,
  weirdString,
  asciiString,
  randomBytes,
  concat,
} from './gen.js'
import {
  budget,
  rngFor,
  Tally,
  MiB,
  mib,
  report,
  assertClean,
  testTimeout,
  pool,
  sleep,
  show,
  SEED,
} from './harness.js'

// Every route of the control API (listed from the source: apiRoutes) on one real daemon, over the
// Unix socket and over TCP, fed generated requests: odd methods, percent-encoding junk in paths,
// missing, huge and odd headers, bodies of random JSON, deep JSON, wrong types, huge numbers,
// malformed JSON and oversized bodies; and slow and silent clients. Properties: every answer to a
// complete request is an HTTP response; a 4xx or 5xx is JSON with an error code; there is never a
// 500; the daemon stays up and keeps answering /status; no input commits or queues a transaction
// (the daemon's nonce and mempool do not move); over TCP without the token every answer is a JSON
// 401 or 403. POST /tx is only ever sent invalid requests (a valid one would spend funds).

const dir = tempDir('cx-fh-')
const daemon = new TestDaemon(join(dir.path, 'd'))
const HEADERS_TIMEOUT_MS = 1500
const REQUEST_TIMEOUT_MS = 4000
/** How long one request may take before it counts as never answered. */
const CAP_MS = 15_000
const MAX_BODY = 1024 * 1024

/** Routes as the source declares them (the handlers are never called here). */
const ROUTES = apiRoutes({} as ApiContext).map((r) => ({ method: r.method, path: r.path }))
const TX_TYPES = (() => {
  const r = baseRegistry()
  return [
    'Transfer',
    'Stake',
    'Unstake',
    'HostAnnounce',
    'RandCommit',
    'RandReveal',
    'RaceProof',
    'ProofVerdict',
    'TaskOpen',
    'TaskReceipt',
    'TaskCancel',
  ].filter((t) => r.get(t) !== undefined)
})()

let me = ''
let tcpPort = 0
let token: string | undefined
let baseline: { nonce: number; rss: number }

before(async () => {
  await TestDaemon.init(daemon.dataDir, ['--api-port', '0'])
  const cfg = join(daemon.dataDir, 'config.json')
  const local = JSON.parse(readFileSync(cfg, 'utf8')) as Record<string, Record<string, unknown>>
  writeFileSync(
    cfg,
    JSON.stringify({
      ...local,
      api: { ...local.api, headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS },
      // Nothing of the daemon's own sends transactions: its nonce moves only if a request made it.
      // No Race, no engine, and no epoch ends during the run (where it would reveal its selection
      // key for the epoch's audit).
      raceWorker: { ...local.raceWorker, enabled: false },
      engine: { ...local.engine, enabled: false },
      genesis: { ...local.genesis, params: { ...(local.genesis!.params as object), epochBlocks: 100_000 } },
    }),
  )
  const status = await daemon.start()
  me = status.peerId
  tcpPort = Number(/:(\d+)$/.exec(status.apiUrl ?? '')?.[1] ?? 0)
  const tokenFile = join(daemon.dataDir, 'api.token')
  token = existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : undefined
  // What the daemon sends of its own at start (its price vote, its selection key) goes into a block
  // first: the baseline is the nonce after it. The price vote goes out after a committed block, so
  // an empty mempool before the first blocks proves nothing (a CI run took its baseline at nonce 0
  // and then saw the vote land): the baseline waits for an empty mempool at height 3 or more.
  const settled = await waitFor('the start-up transactions in a block', async () => {
    const l = await ledger()
    return l.mempool === 0 && l.height >= 3 ? l : undefined
  })
  baseline = { nonce: settled.nonce, rss: daemonRss().rss }
})

after(async () => {
  await daemon.stop()
  dir.cleanup()
})

interface Target {
  /** Unix socket path, or TCP port on 127.0.0.1. */
  socket?: string
  port?: number
}

interface Response {
  status: number
  headers: Record<string, string>
  body: string
}

interface Outcome {
  response?: Response
  /** The connection closed (without a response if `response` is unset). */
  closed: boolean
  timedOut: boolean
  raw: string
}

/** Parse the first final response in `buf`; undefined while it is incomplete. */
function parseResponse(buf: Buffer, head: boolean, closed: boolean): Response | undefined {
  let off = 0
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', off)
    if (end === -1) return undefined
    const lines = buf.subarray(off, end).toString('latin1').split('\r\n')
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1])
    if (!Number.isInteger(status)) return { status: 0, headers: {}, body: buf.subarray(off).toString('utf8') }
    const headers: Record<string, string> = {}
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':')
      if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim()
    }
    const start = end + 4
    if (status >= 100 && status < 200) {
      off = start
      continue
    }
    if (head || status === 204 || status === 304) return { status, headers, body: '' }
    if (headers['content-length'] !== undefined) {
      const len = Number(headers['content-length'])
      if (buf.length - start < len)
        return closed ? { status, headers, body: buf.subarray(start).toString('utf8') } : undefined
      return { status, headers, body: buf.subarray(start, start + len).toString('utf8') }
    }
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const rest = buf.subarray(start)
      if (!rest.includes('0\r\n\r\n') && !closed) return undefined
      return { status, headers, body: dechunk(rest) }
    }
    return closed ? { status, headers, body: buf.subarray(start).toString('utf8') } : undefined
  }
}

function dechunk(b: Buffer): string {
  let out = ''
  let off = 0
  for (;;) {
    const nl = b.indexOf('\r\n', off)
    if (nl === -1) return out
    const size = parseInt(b.subarray(off, nl).toString('latin1'), 16)
    if (!Number.isFinite(size) || size === 0) return out
    out += b.subarray(nl + 2, nl + 2 + size).toString('utf8')
    off = nl + 2 + size + 2
  }
}

/**
 * Send `data` on a new connection and read the first response. Like a real client, it stops
 * sending once an answer arrives. `gapMs` sends it in small pieces that far apart (a slow client);
 * `stall` leaves the connection open after sending (only the server can end it).
 */
function send(
  target: Target,
  data: Buffer,
  opts: { head?: boolean; gapMs?: number; capMs?: number } = {},
): Promise<Outcome> {
  return new Promise((resolve) => {
    const c =
      target.socket !== undefined
        ? net.createConnection(target.socket)
        : net.createConnection(target.port!, '127.0.0.1')
    let buf = Buffer.alloc(0)
    let done = false
    const finish = (o: Omit<Outcome, 'raw'>): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      c.destroy()
      resolve({ ...o, raw: buf.subarray(0, 2000).toString('latin1') })
    }
    const timer = setTimeout(
      () => finish({ response: parseResponse(buf, opts.head === true, true), closed: false, timedOut: true }),
      opts.capMs ?? CAP_MS,
    )
    c.on('connect', async () => {
      const piece = opts.gapMs !== undefined ? 1 : 64 * 1024
      for (let off = 0; off < data.length && buf.length === 0 && !c.destroyed; off += piece) {
        if (!c.write(data.subarray(off, off + piece))) await new Promise((r) => c.once('drain', r))
        if (opts.gapMs !== undefined) await sleep(opts.gapMs)
      }
    })
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      const r = parseResponse(buf, opts.head === true, false)
      if (r !== undefined) finish({ response: r, closed: false, timedOut: false })
    })
    c.on('error', () => {})
    c.on('close', () =>
      finish({ response: parseResponse(buf, opts.head === true, true), closed: true, timedOut: false }),
    )
  })
}

function socketTarget(): Target {
  return { socket: daemon.socket }
}

/** GET `path` on the Unix socket and parse the JSON body. */
async function getJson<T>(path: string): Promise<{ status: number; body: T }> {
  const o = await send(
    socketTarget(),
    Buffer.from(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    { capMs: 30_000 },
  )
  if (o.response === undefined) throw new Error(`no answer to GET ${path}: ${o.raw.slice(0, 200)}`)
  return { status: o.response.status, body: JSON.parse(o.response.body) as T }
}

/** The daemon's nonce and pending transactions: what any transaction a request made would move. */
async function ledger(): Promise<{ nonce: number; mempool: number; height: number }> {
  const a = await getJson<{ nonce: number }>(`/accounts/${me}`)
  const h = await getJson<{ height: number; mempool: { txs: number } }>('/ledger/head')
  assert.equal(a.status, 200, `GET /accounts: ${JSON.stringify(a.body)}`)
  return { nonce: a.body.nonce, mempool: h.body.mempool.txs, height: h.body.height }
}

/** The daemon process's resident memory now and at its peak (Linux /proc), bytes. */
function daemonRss(): { rss: number; peak: number } {
  try {
    const s = readFileSync(`/proc/${daemon.proc!.pid}/status`, 'utf8')
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0) * 1024
    return { rss: kb('VmRSS'), peak: kb('VmHWM') }
  } catch {
    return { rss: 0, peak: 0 }
  }
}

// ---- request generation ----

interface Request {
  what: string
  data: Buffer
  head: boolean
  /** The request is not whole (the server may close without answering, or answer 400/408). */
  incomplete: boolean
  /** Well-formed HTTP: it must be answered (and over TCP, by the guard). */
  wellFormed: boolean
  /** A POST /tx: a success would be a transaction made by invalid input. */
  spends: boolean
}

const PEER_PARAMS = () => [
  me,
  testSigner(7).peerId,
  'not-a-peer',
  '12D3KooW',
  '12D3KooW' + 'A'.repeat(44),
  'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N',
  '%E0%A4%A',
  '%zz',
  '%',
  '%00',
  '%2F',
  '%ED%A0%80',
  '%C0%80',
  '%F0%9F%98%80',
  '..',
  '1'.repeat(5000),
]
const HEIGHT_PARAMS = [
  '0',
  '-1',
  '1',
  '2',
  '1.5',
  '1e3',
  'NaN',
  'Infinity',
  '9007199254740993',
  '0x10',
  '%201',
  '%31',
  '99999999',
  '%zz',
  '',
]
const HASH_PARAMS = [
  '0'.repeat(64),
  'g'.repeat(64),
  'A'.repeat(64),
  '0'.repeat(63),
  '0'.repeat(65),
  '%zz',
  '%E0%A4%A',
  'ab'.repeat(32) + '%00',
]

/** Every byte of the UTF-8 of `s` as %XX (lone surrogates become U+FFFD first). */
function percentEncode(s: string): string {
  return [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('')
}

function param(rng: Rng, name: string): string {
  if (rng.chance(0.1))
    return rng.pick(['%E0%A4%A', '%zz', '%', '%%', '%u0041', percentEncode(weirdString(rng, 3)) || 'x'])
  if (name === 'hash') return rng.pick(HASH_PARAMS)
  if (name === 'id') return rng.chance(0.5) ? rng.pick(PEER_PARAMS()) : rng.pick(HASH_PARAMS)
  if (name === 'height' || name === 'epoch') return rng.pick(HEIGHT_PARAMS)
  // Encoded, so that a request stays well-formed HTTP (a space would end the request target).
  return percentEncode(asciiString(rng, 20)) || 'x'
}

const JUNK_PATHS = [
  '/',
  '*',
  '//status',
  '/status/',
  '/status//',
  '/STATUS',
  '/status?%',
  '/%',
  '/%zz',
  '/%E0%A4%A',
  '/..%2f..%2fetc%2fpasswd',
  '/accounts/',
  '/ledger/blocks/',
  '/ledger/blocks/1/2',
  'http://cordex/status',
  'status',
  '/status#frag',
  '/v1/../status',
  '/\u00e9',
  '/a b',
  '/%00',
]

const METHODS = [
  'GET',
  'POST',
  'DELETE',
  'PUT',
  'PATCH',
  'HEAD',
  'OPTIONS',
  'TRACE',
  'PROPFIND',
  'CONNECT',
  'get',
  'X'.repeat(64),
]

/** A body for POST /tx that no daemon may accept: unknown type, a daemon-only type, or a bad fee. */
function invalidTxBody(rng: Rng): unknown {
  const known = (): string => rng.pick(TX_TYPES)
  switch (rng.int(5)) {
    case 0:
      return {
        type: rng.chance(0.5) ? weirdString(rng, 3) : known().toLowerCase(),
        body: jsonValue(rng),
        fee: '1',
      }
    case 1:
      return {
        type: known(),
        body: rng.chance(0.5) ? jsonValue(rng) : { to: me, amount: '1', amount2: jsonValue(rng) },
        fee: rng.pick([
          1,
          -1,
          '',
          '-1',
          '1.5',
          ' 1',
          '1e3',
          '18446744073709551616',
          '0x1',
          null,
          true,
          [],
          {},
          '１',
          '99999999999999999999999',
        ]),
      }
    case 2:
      // Types only the daemon itself may post.
      return { type: rng.pick(['ProofVerdict', 'TaskReceipt']), body: jsonValue(rng) }
    case 3:
      return rng.pick([null, 1, 'Transfer', [], [{ type: 'Transfer' }], true])
    default:
      return { body: { to: me, amount: '1' }, fee: '1', typ: 'Transfer' }
  }
}

/** A body for the OpenAI routes: a valid one with fields changed, or anything. No executor runs here, so none can spend. */
function completionBody(rng: Rng, chat: boolean): unknown {
  const valid: Record<string, unknown> = chat
    ? { model: 'kjv-small', messages: [{ role: 'user', content: 'In the beginning' }], max_tokens: 4 }
    : { model: 'kjv-small', prompt: 'In the beginning', max_tokens: 4 }
  if (rng.chance(0.2)) return jsonValue(rng)
  const keys = [
    'model',
    'prompt',
    'messages',
    'max_tokens',
    'max_completion_tokens',
    'temperature',
    'top_p',
    'top_k',
    'stop',
    'stream',
    'n',
    'max_cost',
    'frequency_penalty',
    'presence_penalty',
    'repetition_penalty',
  ]
  for (let i = rng.range(1, 3); i > 0; i--) valid[rng.pick(keys)] = jsonValue(rng, 2)
  return valid
}

function bodyText(rng: Rng, value: () => unknown): { text: string; what: string } {
  const r = rng.int(100)
  if (r < 70) return { text: JSON.stringify(value()) ?? 'null', what: 'JSON' }
  if (r < 80) return { text: badJsonText(rng), what: 'malformed JSON' }
  if (r < 86) return { text: deepJson(rng.pick([1000, 10_000, 100_000]), rng.chance(0.5)), what: 'deep JSON' }
  if (r < 90) return { text: `{"a":"${'x'.repeat(MAX_BODY)}"}`, what: 'an oversized body' }
  if (r < 94)
    return {
      text: JSON.stringify({
        model: 'kjv-small',
        prompt: '\uFEFF'.repeat(rng.pick([10, 70_000])),
        max_tokens: 1e308,
      }),
      what: 'huge numbers and text',
    }
  return { text: Buffer.from(randomBytes(rng, 512)).toString('latin1'), what: 'random bytes' }
}

/**
 * One request. `host` is the Host header a legitimate client would send; `auth` an Authorization
 * header value to send (TCP), or undefined; `strict` keeps it well-formed (the TCP guard phase).
 */
function request(rng: Rng, o: { host: string; auth?: string; strict?: boolean }): Request {
  const strict = o.strict === true
  if (!strict && rng.chance(0.03)) {
    const data = rng.pick([
      Buffer.from('THIS IS NOT HTTP\r\n\r\n'),
      Buffer.from(randomBytes(rng, 300)),
      Buffer.from('\r\n\r\n'),
      Buffer.from(`GET /status HTTP/1.1\r\nHost: ${o.host}\r\n`),
      Buffer.from(`GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: ${o.host}\r\n\r\n`),
      Buffer.from('GET /status HTTP/1.1\r\nHost: x\r\n\u0000\r\n\r\n', 'latin1'),
      Buffer.from(`POST /tx HTTP/1.1\r\nHost: ${o.host}\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}`),
      Buffer.from(
        `POST /tx HTTP/1.1\r\nHost: ${o.host}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      ),
      Buffer.from(
        `POST /tx HTTP/1.1\r\nHost: ${o.host}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
      ),
    ])
    const incomplete = data.indexOf('\r\n\r\n') === -1
    return {
      what: `raw: ${show(data.toString('latin1').slice(0, 60))}`,
      data,
      head: false,
      incomplete,
      wellFormed: false,
      spends: false,
    }
  }
  // Junk the HTTP parser may refuse by closing the connection: an answer is not required then.
  let junk = false
  const route = rng.chance(strict ? 0.95 : 0.8) ? rng.pick(ROUTES) : undefined
  let method: string = route?.method ?? 'GET'
  if (rng.chance(0.15))
    method = strict ? rng.pick(['GET', 'POST', 'DELETE', 'PUT', 'OPTIONS', 'HEAD']) : rng.pick(METHODS)
  if (!/^(GET|POST|DELETE|PUT|PATCH|HEAD|OPTIONS|TRACE|PROPFIND)$/.test(method)) junk = true
  let path: string
  if (route !== undefined) {
    path = route.path
      .split('/')
      .map((seg) => (seg.startsWith(':') ? param(rng, seg.slice(1)) : seg))
      .join('/')
    if (rng.chance(0.1))
      path += rng.pick(['/', '?cache=true', '?a=%zz', '?%E0%A4%A', '?' + 'x=1&'.repeat(500), '#x'])
  } else
    path = strict
      ? rng.pick(JUNK_PATHS.filter((p) => p.startsWith('/') && !/[ \u00e9#]/.test(p)))
      : rng.pick(JUNK_PATHS)
  if (!/^(\/|\*$|http:\/\/)/.test(path) || /[ \u00e9]/.test(path)) junk = true
  const spends = method === 'POST' && /^\/tx\/?(\?|$)/.test(path)
  const headers: string[] = []
  const hostR = rng.int(100)
  if (strict || hostR < 85) headers.push(`Host: ${o.host}`)
  else if (hostR < 92) {
    // no Host
  } else if (hostR < 95) headers.push(`Host: ${'h'.repeat(rng.pick([300, 20_000]))}`)
  else if (hostR < 98) headers.push(`Host: ${o.host}`, `Host: evil.example`)
  else headers.push('Host: ')
  if (o.auth !== undefined) headers.push(`Authorization: ${o.auth}`)
  if (!strict && rng.chance(0.1))
    headers.push(
      `Origin: ${rng.pick(['null', 'http://evil.example', 'file://', `http://localhost:${tcpPort}`, 'x'.repeat(5000)])}`,
    )
  if (!strict && rng.chance(0.05)) {
    junk = true
    headers.push(
      rng.pick([
        'X-\u00ff: y',
        'NoColon',
        ' leading: space',
        'X-Fold: a\r\n  b',
        'Expect: 100-continue',
        'Content-Type: application/json; charset=utf-16',
      ]),
    )
  }
  if (!strict && rng.chance(0.02)) for (let i = 0; i < 200; i++) headers.push(`X-${i}: ${'v'.repeat(100)}`)
  let body: Buffer | undefined
  let what = `${method} ${path.slice(0, 80)}`
  if (method === 'POST' || rng.chance(0.1)) {
    const b = spends
      ? bodyText(rng, () => invalidTxBody(rng))
      : bodyText(rng, () =>
          path.startsWith('/v1/chat')
            ? completionBody(rng, true)
            : path.startsWith('/v1/')
              ? completionBody(rng, false)
              : jsonValue(rng),
        )
    // A body for /tx is invalid by construction; random bytes or a cut could still be, but never valid.
    body = Buffer.from(b.text, b.what === 'random bytes' ? 'latin1' : 'utf8')
    what += ` with ${b.what}`
    if (rng.chance(0.5)) headers.push('Content-Type: application/json')
  }
  let incomplete = false
  if (body !== undefined) {
    const cl = rng.int(100)
    if (!strict && cl < 5) {
      headers.push('Transfer-Encoding: chunked')
      body = Buffer.concat([
        Buffer.from(`${body.length.toString(16)}\r\n`),
        body,
        Buffer.from('\r\n0\r\n\r\n'),
      ])
    } else if (!strict && cl < 8) {
      headers.push(`Content-Length: ${body.length + rng.range(1, 100)}`)
      incomplete = true
    } else if (!strict && cl < 10) {
      headers.push(`Content-Length: ${rng.pick(['-1', 'abc', '1e3', ''])}`)
      junk = true
    } else headers.push(`Content-Length: ${body.length}`)
  }
  headers.push('Connection: close')
  const version =
    strict || rng.chance(0.95) ? 'HTTP/1.1' : rng.pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTP/1.1 x', ''])
  if (version !== 'HTTP/1.1' && version !== 'HTTP/1.0') junk = true
  const headText = `${method} ${path}${version === '' ? '' : ' ' + version}\r\n${headers.join('\r\n')}\r\n\r\n`
  const data = concat(Buffer.from(headText, 'latin1'), body ?? new Uint8Array(0))
  return {
    what,
    data: Buffer.from(data),
    head: method === 'HEAD',
    incomplete,
    wellFormed: !junk,
    spends,
  }
}

/**
 * Requests every run sends whatever the budget: percent-encoding junk in every route parameter,
 * every route under a wrong method, every POST route with malformed, deep and oversized bodies
 * (with and without keep-alive), and a request without Host.
 */
function edgeCases(host: string): Request[] {
  const out: Request[] = []
  const add = (what: string, method: string, path: string, headers: string[] = [], body?: Buffer): void => {
    const noHost = headers.includes('Host: -')
    const h = [
      ...(noHost ? [] : [`Host: ${host}`]),
      ...headers.filter((x) => x !== 'Host: -'),
      ...(body === undefined ? [] : [`Content-Length: ${body.length}`]),
    ]
    if (!h.some((x) => /^connection:/i.test(x))) h.push('Connection: close')
    const head = `${method} ${path} HTTP/1.1\r\n${h.join('\r\n')}\r\n\r\n`
    const data = Buffer.concat([Buffer.from(head, 'latin1'), body ?? Buffer.alloc(0)])
    // Every body here is invalid for POST /tx: none may succeed.
    const spends = method === 'POST' && path === '/tx'
    out.push({ what, data, head: method === 'HEAD', incomplete: false, wellFormed: true, spends })
  }
  const junk = ['%E0%A4%A', '%zz', '%', '%ED%A0%80', '%C0%80', '%00']
  for (const r of ROUTES) {
    const params = r.path.split('/').filter((seg) => seg.startsWith(':'))
    for (const j of params.length > 0 ? junk : [])
      add(`${r.method} ${r.path} with ${j}`, r.method, r.path.replace(/:[a-z]+/g, j))
    const concrete = r.path.replace(/:[a-z]+/g, '1')
    for (const m of ['PUT', 'HEAD', 'OPTIONS', r.method === 'GET' ? 'POST' : 'GET'])
      add(`${m} ${r.path}`, m, concrete)
    if (r.method !== 'POST') continue
    const big = Buffer.from(`{"a":"${'x'.repeat(MAX_BODY)}"}`)
    // Several of each: whether the 413 is lost to a reset depends on timing.
    for (const conn of ['Connection: close', 'Connection: keep-alive'].flatMap((c) => [c, c, c, c]))
      add(`${r.path} with an oversized body (${conn})`, 'POST', concrete, [conn], big)
    add(`${r.path} with deep JSON`, 'POST', concrete, [], Buffer.from(deepJson(100_000, false)))
    add(`${r.path} with malformed JSON`, 'POST', concrete, [], Buffer.from('{"type":'))
    add(`${r.path} with a JSON null`, 'POST', concrete, [], Buffer.from('null'))
  }
  add('GET /status without Host', 'GET', '/status', ['Host: -'])
  add('GET /status from a foreign Origin', 'GET', '/status', ['Origin: http://evil.example'])
  return out
}

/** Paths of the status page's files, served as they are and without the token (statusPage.ts). */
const PAGE_PATHS = new Set(['/', '/ui/app.js', '/ui/style.css', '/ui/icon.svg'])

/** A GET of one of the status page's files. */
function pageRequest(r: Request): boolean {
  const target = /^GET (\S+) HTTP\//.exec(r.data.subarray(0, 4096).toString('latin1'))?.[1]
  return target !== undefined && PAGE_PATHS.has(target.split('?')[0]!)
}

/** Why an answer breaks the API's rules, or undefined. */
function judge(r: Request, o: Outcome): string | undefined {
  const res = o.response
  if (res === undefined) {
    if (r.incomplete) return undefined
    // A connection the HTTP parser gave up on may be closed without an answer (Node resets it).
    return o.timedOut
      ? `no answer within ${CAP_MS} ms`
      : r.wellFormed
        ? 'closed without an answer'
        : undefined
  }
  if (res.status === 0) return `not an HTTP response: ${show(o.raw.slice(0, 80))}`
  if (res.status === 500) return `500 ${codeOf(res) ?? ''}`.trim()
  if (r.spends && res.status < 300) return 'POST /tx with an invalid body succeeded'
  if (res.status >= 400) {
    if (!/application\/json/.test(res.headers['content-type'] ?? ''))
      return `${res.status} without a JSON content type`
    if (r.head) return undefined
    if (codeOf(res) === undefined)
      return `${res.status} whose body is not JSON with an error code: ${show(res.body.slice(0, 80))}`
  } else if (res.status >= 200 && !r.head) {
    if (/text\/event-stream/.test(res.headers['content-type'] ?? '')) return undefined
    if (pageRequest(r)) return undefined
    // GET /metrics answers in Prometheus' text format, which must parse as such.
    if (/^text\/plain; version=0\.0\.4/.test(res.headers['content-type'] ?? '')) {
      try {
        parsePrometheus(res.body)
        return undefined
      } catch (err) {
        return `${res.status} metrics that do not parse: ${(err as Error).message}`
      }
    }
    try {
      JSON.parse(res.body)
    } catch {
      return `${res.status} whose body is not JSON: ${show(res.body.slice(0, 80))}`
    }
  }
  return undefined
}

function codeOf(res: Response): string | undefined {
  try {
    const code = (JSON.parse(res.body) as { error?: { code?: unknown } }).error?.code
    return typeof code === 'string' && code.length > 0 ? code : undefined
  } catch {
    return undefined
  }
}

/** Failures that mean the daemon is down or has changed state. */
async function health(tally: Tally, after: string): Promise<boolean> {
  if (daemon.proc?.exitCode !== null || daemon.proc?.signalCode !== null) {
    tally.fail('daemon exited', after, daemon.output.slice(-2000))
    return false
  }
  try {
    const s = await getJson<{ peerId: string }>('/status')
    if (s.status !== 200)
      tally.fail('GET /status stopped answering 200', after, JSON.stringify(s.body).slice(0, 200))
    const l = await ledger()
    if (l.nonce !== baseline.nonce)
      tally.stateChange('the daemon sent a transaction', after, `nonce ${baseline.nonce} → ${l.nonce}`)
    if (l.mempool !== 0) tally.stateChange('a transaction is pending', after, `${l.mempool} in the mempool`)
  } catch (err) {
    tally.fail('GET /status or the ledger stopped answering', after, (err as Error).message.slice(0, 200))
    return false
  }
  return true
}

async function fuzz(
  t: { diagnostic(s: string): void },
  name: string,
  n: number,
  target: Target,
  make: (rng: Rng) => Request,
  judgeOne: (r: Request, o: Outcome) => string | undefined,
  first: Request[] = [],
): Promise<void> {
  const rng = rngFor(`http/${name}`)
  const tally = new Tally(`http/${name}`)
  // `first` (fixed edge cases), then `n` drawn one after another as workers take them (the same
  // seed gives the same requests).
  function* requests(): Generator<Request> {
    yield* first
    for (let i = 0; i < n; i++) yield make(rng)
  }
  let up = true
  let sinceCheck = 0
  await pool(requests(), 8, async (r) => {
    if (!up) return
    const o = await send(target, r.data, { head: r.head })
    tally.inputs++
    tally.count(o.response === undefined ? (o.timedOut ? 'no answer' : 'closed') : String(o.response.status))
    const why = judgeOne(r, o)
    if (why !== undefined)
      tally.fail(
        why,
        r.data.toString('latin1'),
        `${r.what} → ${o.response?.status ?? 'no answer'} ${show((o.response?.body ?? o.raw).slice(0, 160))}`,
      )
    if (++sinceCheck >= 100) {
      sinceCheck = 0
      up = await health(tally, r.data.toString('latin1'))
    }
  })
  if (up) await health(tally, 'the end of the run')
  const rss = daemonRss()
  report(
    t,
    tally,
    undefined,
    `daemon RSS ${mib(rss.rss)} (peak ${mib(rss.peak)}, at start ${mib(baseline.rss)})`,
  )
  assertClean(tally)
}

test(
  'fuzz HTTP over the Unix socket: every route, every kind of junk',
  { timeout: testTimeout() },
  async (t) => {
    t.diagnostic(
      `routes from the source: ${ROUTES.map((r) => `${r.method} ${r.path}`).join(', ')}; seed ${SEED}`,
    )
    const edges = edgeCases('x')
    t.diagnostic(`${edges.length} fixed edge cases first, then ${budget('http')} generated requests`)
    await fuzz(t, 'unix', budget('http'), socketTarget(), (rng) => request(rng, { host: 'x' }), judge, edges)
  },
)

test(
  'fuzz HTTP: slow and silent clients are cut off while others are served',
  { timeout: testTimeout() },
  async (t) => {
    const tally = new Tally('http/slow')
    const head = `POST /tx HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n`
    const cases: Array<{ what: string; data: Buffer; gapMs?: number }> = [
      { what: 'silent: connects, sends nothing', data: Buffer.alloc(0) },
      {
        what: 'headers a byte every 100 ms',
        data: Buffer.from('GET /status HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(200) + '\r\n\r\n'),
        gapMs: 100,
      },
      { what: 'half the headers, then silence', data: Buffer.from('GET /status HTTP/1.1\r\nHost: x\r\n') },
      { what: 'a body shorter than its Content-Length', data: Buffer.from(head + '{"type":') },
      { what: 'a body a byte every 100 ms', data: Buffer.from(head + '{'.repeat(200)), gapMs: 100 },
    ]
    const slow = Promise.all(
      cases.map(async (c) => ({
        c,
        o: await send(socketTarget(), c.data, { gapMs: c.gapMs, capMs: 30_000 }),
      })),
    )
    // Others are served meanwhile.
    for (let i = 0; i < 3; i++) {
      const s = await getJson('/status')
      if (s.status !== 200)
        tally.fail('GET /status not served while slow clients hold connections', '', String(s.status))
    }
    for (const { c, o } of await slow) {
      tally.inputs++
      if (o.timedOut)
        tally.fail('a slow or silent client was never cut off', c.data.toString('latin1'), c.what)
      else if (o.response !== undefined && (o.response.status === 500 || codeOf(o.response) === undefined))
        tally.fail(
          `cut off with a ${o.response.status} that is not a JSON error`,
          c.data.toString('latin1'),
          `${c.what}: ${show(o.raw.slice(0, 120))}`,
        )
      tally.count(o.response === undefined ? 'closed' : String(o.response.status))
    }
    await health(tally, 'the slow clients')
    report(t, tally)
    assertClean(tally)
  },
)

test(
  'fuzz HTTP over TCP without the token: every answer is a JSON 401 or 403',
  { timeout: testTimeout() },
  async (t) => {
    assert.ok(tcpPort > 0, 'the daemon runs a TCP listener')
    const wrong = (rng: Rng): string | undefined =>
      rng.pick([
        undefined,
        'Bearer',
        'Bearer ',
        'Bearer x',
        `Basic ${Buffer.from('a:b').toString('base64')}`,
        `Bearer ${token ?? 'x'}x`,
        `Bearer ${(token ?? 'x').slice(1)}`,
        `bearer  ${'A'.repeat(600)}`,
      ])
    const n = Math.max(50, Math.floor(budget('http') / 4))
    await fuzz(
      t,
      'tcp-unauthenticated',
      n,
      { port: tcpPort },
      (rng) =>
        request(rng, {
          host: rng.pick([`localhost:${tcpPort}`, `127.0.0.1:${tcpPort}`]),
          auth: wrong(rng),
          strict: true,
        }),
      (r, o) => {
        const res = o.response
        if (res === undefined)
          return o.timedOut ? `no answer within ${CAP_MS} ms` : 'closed without an answer'
        if (res.status === 200 && pageRequest(r)) return undefined
        if (res.status !== 401 && res.status !== 403) return `answered ${res.status} without a valid token`
        if (!/application\/json/.test(res.headers['content-type'] ?? ''))
          return `${res.status} without a JSON content type`
        if (!r.head && codeOf(res) === undefined)
          return `${res.status} whose body is not JSON with an error code`
        return undefined
      },
    )
  },
)

test(
  'fuzz HTTP over TCP with the token: the same rules as the socket',
  { timeout: testTimeout() },
  async (t) => {
    if (token === undefined) {
      t.skip(`no ${join(daemon.dataDir, 'api.token')}: this daemon has no TCP token yet`)
      return
    }
    const n = Math.max(50, Math.floor(budget('http') / 4))
    await fuzz(
      t,
      'tcp-authenticated',
      n,
      { port: tcpPort },
      (rng) =>
        request(rng, {
          host: rng.pick([`localhost:${tcpPort}`, `127.0.0.1:${tcpPort}`]),
          auth: `Bearer ${token}`,
        }),
      (r, o) => {
        // A wrong Host or a foreign Origin is refused over TCP even with the token: a JSON 403.
        const res = o.response
        if (res !== undefined && res.status === 403 && codeOf(res) !== undefined) return undefined
        return judge(r, o)
      },
    )
  },
)

test('after the fuzz the daemon runs, made no transaction and its memory is bounded', async (t) => {
  const tally = new Tally('http/after')
  assert.ok(await health(tally, 'all of the fuzz'), tally.lines().join('\n'))
  assertClean(tally)
  const rss = daemonRss()
  t.diagnostic(`daemon RSS ${mib(rss.rss)} (peak ${mib(rss.peak)}), ${mib(baseline.rss)} before the fuzz`)
  assert.ok(rss.rss - baseline.rss < 256 * MiB, `daemon RSS grew by ${mib(rss.rss - baseline.rss)}`)
})
