import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import OpenAI from 'openai'
import { TestDaemon } from '../helpers/daemon.js'
import { tempDir, cordex, waitFor, exited } from '../helpers/cli.js'
import { callDaemon } from '../../src/cli/client.js'

// Hostile input against the control API, over both listeners of real daemon processes.

type Where = { socketPath: string } | { port: number }

interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
}

/** Send raw bytes and collect the answer until the server closes (or `timeoutMs`). */
function rawText(where: Where, data: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve) => {
    const c =
      'socketPath' in where
        ? net.createConnection(where.socketPath)
        : net.createConnection(where.port, '127.0.0.1')
    let out = ''
    const timer = setTimeout(() => c.destroy(), timeoutMs)
    c.on('connect', () => c.write(data))
    c.on('data', (d) => (out += d.toString()))
    c.on('error', () => {})
    c.on('close', () => {
      clearTimeout(timer)
      resolve(out)
    })
  })
}

function parse(out: string): RawResponse {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(out)
  assert.ok(m !== null, `an HTTP answer (got ${JSON.stringify(out.slice(0, 80))})`)
  const end = out.indexOf('\r\n\r\n')
  const headers: Record<string, string> = {}
  for (const line of out.slice(0, end).split('\r\n').slice(1)) {
    const i = line.indexOf(':')
    headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim()
  }
  return { status: Number(m[1]), headers, body: out.slice(end + 4) }
}

/** A raw request's answer, which must be JSON `{error: {code}}` when it is not a 2xx. */
async function raw(where: Where, data: string): Promise<RawResponse & { code?: string }> {
  const r = parse(await rawText(where, data))
  if (r.status < 300) return r
  assert.equal(r.headers['content-type'], 'application/json', `JSON error body for ${data.split('\r\n')[0]}`)
  const body = JSON.parse(r.body) as { error: { code: string; message: string; type: string } }
  assert.equal(typeof body.error.message, 'string')
  return { ...r, code: body.error.code }
}

const get = (path: string, headers: Record<string, string> = {}): string =>
  `GET ${path} HTTP/1.1\r\n${Object.entries({ host: 'localhost', ...headers })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}connection: close\r\n\r\n`

/** Open a TCP connection and resolve once it is established (it sends `data`, if any, then waits). */
function hold(port: number, data = ''): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const c = net.createConnection(port, '127.0.0.1')
    c.on('error', () => {})
    c.once('connect', () => {
      if (data !== '') c.write(data)
      resolve(c)
    })
    c.once('error', reject)
  })
}

/** Set `api` settings in a data directory's config.json. */
function setApi(dataDir: string, api: Record<string, unknown>): void {
  const file = join(dataDir, 'config.json')
  const local = JSON.parse(readFileSync(file, 'utf8')) as { api?: object }
  writeFileSync(file, JSON.stringify({ ...local, api: { ...local.api, ...api } }))
}

const MAX_CONNECTIONS = 8
const dir = tempDir()
const daemon = new TestDaemon(join(dir.path, 'd'))
let port: number
let token: string
let unix: Where
let tcp: Where
const auth = (): Record<string, string> => ({ authorization: `Bearer ${token}` })

before(async () => {
  await TestDaemon.init(daemon.dataDir, ['--api-port', '0'])
  setApi(daemon.dataDir, { maxConnections: MAX_CONNECTIONS })
  const s = await daemon.start()
  port = Number(new URL(s.apiUrl ?? '').port)
  token = await daemon.apiToken()
  unix = { socketPath: daemon.socket }
  tcp = { port }
})
after(async () => {
  await daemon.stop()
  dir.cleanup()
})

test('init makes a 0600 token of 32 random bytes; status names its file, never the token', async () => {
  const file = join(daemon.dataDir, 'api.token')
  assert.equal(statSync(file).mode & 0o777, 0o600)
  assert.match(token, /^[A-Za-z0-9_-]{43}$/)
  const s = await daemon.status()
  assert.equal(s.apiTokenFile, file)
  const human = await cordex(['status', '--data-dir', daemon.dataDir])
  assert.equal(human.code, 0, human.stderr)
  assert.ok(human.stdout.includes(`bearer token in ${file}`), human.stdout)
  assert.ok(!human.stdout.includes(token) && !JSON.stringify(s).includes(token))
})

test('malformed percent-encoding in a path is a JSON 400 BAD_PATH, never a 500', async () => {
  for (const where of [unix, tcp]) {
    for (const path of ['/tasks/%E0%A4%A', '/ledger/blocks/%zz', '/accounts/%', '/peers/%C0/info']) {
      const r = await raw(where, get(path, auth()))
      assert.equal(r.status, 400, path)
      assert.equal(r.code, 'BAD_PATH', path)
    }
    // A request target that is not a path (absolute-form, asterisk-form) is refused the same way.
    assert.equal((await raw(where, get('http://evil.example/status', auth()))).code, 'BAD_PATH')
  }
  assert.ok(!daemon.output.includes('URI malformed'), 'no stack trace of a client error in the log')
  assert.ok(!daemon.output.includes('"request failed"'))
})

test('CONNECT and methods no route has get a JSON 405; a request without Host a JSON 400', async () => {
  for (const where of [unix, tcp]) {
    const connect = await raw(
      where,
      `CONNECT evil.example:443 HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer ${token}\r\n\r\n`,
    )
    assert.equal(connect.status, 405)
    assert.equal(connect.code, 'METHOD_NOT_ALLOWED')
    for (const method of ['PUT', 'PATCH', 'PROPFIND', 'TRACE', 'HEAD']) {
      const r = parse(await rawText(where, get('/status', auth()).replace('GET', method)))
      assert.equal(r.status, 405, method)
      assert.match(r.headers.allow ?? '', /GET/)
    }
  }
  assert.equal((await raw(unix, get('/status').replace('GET', 'OPTIONS'))).status, 405)
  const noHost = await raw(unix, 'GET /status HTTP/1.1\r\nconnection: close\r\n\r\n')
  assert.equal(noHost.status, 400)
  assert.equal(noHost.code, 'MISSING_HOST')
  // Over TCP a missing Host is no loopback name: refused like any other.
  const tcpNoHost = await raw(
    tcp,
    `GET /status HTTP/1.1\r\nauthorization: Bearer ${token}\r\nconnection: close\r\n\r\n`,
  )
  assert.equal(tcpNoHost.status, 403)
  assert.equal(tcpNoHost.code, 'FORBIDDEN_HOST')
  // Without the token, even CONNECT gets no further than the refusal.
  assert.equal((await raw(tcp, 'CONNECT evil.example:443 HTTP/1.1\r\nhost: localhost\r\n\r\n')).status, 401)
})

test('the TCP listener requires the bearer token; the Unix socket does not', async () => {
  const none = await raw(tcp, get('/status'))
  assert.equal(none.status, 401)
  assert.equal(none.code, 'UNAUTHORIZED')
  assert.equal(none.headers['www-authenticate'], 'Bearer')
  assert.ok(!none.body.includes(token))
  const other = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`
  const wrong = await raw(tcp, get('/status', { authorization: `Bearer ${other}` }))
  assert.equal(wrong.status, 401)
  assert.equal((await raw(tcp, get('/status', { authorization: token }))).status, 401, 'Bearer scheme only')
  // Every route, including the ones that spend the node's coins.
  const tx = await raw(
    tcp,
    `POST /tx HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}`,
  )
  assert.equal(tx.status, 401)
  // Refused before its body is read, a client still sending one gets its 401 and not a reset.
  const big = 'x'.repeat(4 * 1024 * 1024)
  const bigTx = await raw(
    tcp,
    `POST /tx HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${big.length}\r\n\r\n${big}`,
  )
  assert.equal(bigTx.status, 401)
  assert.equal((await raw(tcp, get('/status', auth()))).status, 200)
  assert.equal((await raw(unix, get('/status'))).status, 200)
})

test('a Host other than a loopback name is refused (DNS rebinding)', async () => {
  for (const host of ['evil.example', `evil.example:${port}`, '127.0.0.2', 'localhost.evil.example']) {
    const r = await raw(tcp, get('/status', { ...auth(), host }))
    assert.equal(r.status, 403, host)
    assert.equal(r.code, 'FORBIDDEN_HOST')
  }
  for (const host of ['localhost', `localhost:${port}`, `127.0.0.1:${port}`, '[::1]', `[::1]:${port}`]) {
    assert.equal((await raw(tcp, get('/status', { ...auth(), host }))).status, 200, host)
  }
})

test("browsers' cross-site requests and CORS preflights are refused without CORS headers", async () => {
  const cases: Array<Record<string, string>> = [
    { origin: 'http://evil.example' },
    { origin: 'null' },
    { origin: `http://localhost:${port + 1}` },
    { 'sec-fetch-site': 'cross-site' },
    { 'sec-fetch-site': 'same-site' },
  ]
  for (const headers of cases) {
    // A page cannot know the token; it is refused even with it.
    const r = await raw(tcp, get('/status', { ...auth(), ...headers }))
    assert.equal(r.status, 403, JSON.stringify(headers))
    assert.equal(r.code, 'FORBIDDEN_ORIGIN')
    assert.ok(!Object.keys(r.headers).some((h) => h.startsWith('access-control-')))
  }
  const preflight = await raw(
    tcp,
    `OPTIONS /tx HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\norigin: http://evil.example\r\n` +
      `access-control-request-method: POST\r\naccess-control-request-headers: authorization\r\nconnection: close\r\n\r\n`,
  )
  assert.equal(preflight.status, 403)
  assert.ok(!Object.keys(preflight.headers).some((h) => h.startsWith('access-control-')))
  // The listener's own origin, and a browser's top-level navigation, pass.
  assert.equal(
    (await raw(tcp, get('/status', { ...auth(), origin: `http://127.0.0.1:${port}` }))).status,
    200,
  )
  assert.equal((await raw(tcp, get('/status', { ...auth(), 'sec-fetch-site': 'none' }))).status, 200)
})

test('the openai package works over TCP with the token as apiKey and is refused without it', async () => {
  const baseURL = `http://127.0.0.1:${port}/v1`
  const models = await new OpenAI({ baseURL, apiKey: token, maxRetries: 0 }).models.list()
  assert.equal(models.object, 'list')
  await assert.rejects(new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0 }).models.list(), (err) => {
    assert.ok(err instanceof OpenAI.AuthenticationError, String(err))
    assert.equal(err.status, 401)
    return true
  })
})

test("the CLI's client sends the token when it talks TCP", async () => {
  // A directory with the token and no socket: only the TCP listener can answer.
  const client = join(dir.path, 'client')
  mkdirSync(client, { mode: 0o700 })
  copyFileSync(join(daemon.dataDir, 'api.token'), join(client, 'api.token'))
  const url = `http://127.0.0.1:${port}`
  const s = await callDaemon<{ peerId: string }>(client, '/status', { url })
  assert.equal(s.peerId, (await daemon.status()).peerId)
  writeFileSync(join(client, 'api.token'), 'not-the-token-at-all', { mode: 0o600 })
  await assert.rejects(callDaemon(client, '/status', { url }), { code: 'UNAUTHORIZED' })
})

test('silent and half-sent connections filling the cap do not lock real clients out', async () => {
  // Far more than the cap and whatever the server holds beyond it.
  const idle: net.Socket[] = []
  try {
    for (let i = 0; i < MAX_CONNECTIONS * 8; i++) {
      idle.push(await hold(port, i % 2 === 0 ? '' : 'GET /status HT'))
    }
    for (let i = 0; i < 3; i++) assert.equal((await raw(tcp, get('/status', auth()))).status, 200)
  } finally {
    for (const c of idle) c.destroy()
  }
})

test('when every slot is busy, a new request gets a JSON 503 with Retry-After, not a reset', async () => {
  // Requests in progress: headers sent, body still to come.
  const busy: net.Socket[] = []
  try {
    for (let i = 0; i < MAX_CONNECTIONS; i++) {
      busy.push(
        await hold(
          port,
          `POST /tx HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${token}\r\n` +
            `content-type: application/json\r\ncontent-length: 100\r\n\r\n`,
        ),
      )
    }
    const r = await waitFor('a 503', async () => {
      const x = await raw(tcp, get('/status', auth()))
      return x.status === 503 ? x : undefined
    })
    assert.equal(r.code, 'TOO_MANY_CONNECTIONS')
    assert.match(r.headers['retry-after'] ?? '', /^\d+$/)
    // The Unix socket has its own slots.
    assert.equal((await raw(unix, get('/status'))).status, 200)
  } finally {
    for (const c of busy) c.destroy()
  }
  await waitFor('a free slot', async () =>
    (await raw(tcp, get('/status', auth()))).status === 200 ? true : undefined,
  )
})

test('a token is made on first start if missing, and one readable by others is refused', async () => {
  const d = new TestDaemon(join(dir.path, 'e'))
  await TestDaemon.init(d.dataDir, ['--api-port', '0'])
  const file = join(d.dataDir, 'api.token')
  rmSync(file)
  await d.start()
  assert.equal(statSync(file).mode & 0o777, 0o600)
  assert.equal((await d.get('/status')).status, 200)
  await d.stop()
  chmodSync(file, 0o640)
  const proc = d.spawn()
  const { code } = await exited(proc)
  assert.notEqual(code, 0)
  assert.match(d.output, /API_TOKEN_INSECURE|chmod 600/)
  assert.ok(!existsSync(d.socket), 'no API without a safe token')
})

test('/status during start-up answers 200 or a JSON 503 STARTING, never a 500', async (t) => {
  // Several daemons at once, as when a machine starts many: start-up is slow, and requests arrive
  // at every stage of it.
  const starting = await Promise.all(
    [0, 1, 2].map(async (i) => {
      const d = new TestDaemon(join(dir.path, `s${i}`))
      await TestDaemon.init(d.dataDir, ['--api-port', '0'])
      return d
    }),
  )
  try {
    const answers = await Promise.all(
      starting.map(async (d) => {
        const proc = d.spawn()
        const seen: number[] = []
        const deadline = Date.now() + 60_000
        while (Date.now() < deadline && proc.exitCode === null) {
          if (!existsSync(d.socket)) {
            await new Promise((r) => setImmediate(r))
            continue
          }
          const out = await rawText({ socketPath: d.socket }, get('/status'))
          // Nothing came back: the socket was bound but not listening yet.
          if (out === '') continue
          const r = parse(out)
          seen.push(r.status)
          if (r.status !== 200) {
            const code = (JSON.parse(r.body) as { error: { code: string } }).error.code
            assert.equal(`${r.status} ${code}`, '503 STARTING', r.body)
          }
          if (r.status === 200) break
          await new Promise((r) => setTimeout(r, 5))
        }
        return seen
      }),
    )
    const count = (status: number): number => answers.flat().filter((s) => s === status).length
    t.diagnostic(`answers during start-up: ${count(503)} × 503 STARTING, ${count(200)} × 200`)
    for (const seen of answers) {
      assert.equal(seen.at(-1), 200, 'the daemon came up')
      assert.ok(
        seen.every((s) => s === 200 || s === 503),
        `only 200 and 503 during start-up (answers: ${seen.join(',')})`,
      )
    }
    // The socket answers while the daemon is still starting, and says so.
    assert.ok(count(503) > 0, 'a daemon that is starting answers 503 STARTING')
  } finally {
    await Promise.all(starting.map((d) => d.stop()))
  }
})
