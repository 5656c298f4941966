import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { writeFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { TestDaemon } from '../helpers/daemon.js'
import { tempDir, cordex } from '../helpers/cli.js'

/**
 * Send raw bytes on the Unix socket and collect whatever comes back until the server closes. Like a
 * real client, it stops sending once the server has answered (a server that refuses a large body
 * closes the connection, and a client that goes on writing would lose the answer to EPIPE).
 */
function raw(socket: string, data: string | Buffer | null, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.createConnection(socket)
    let out = ''
    const timer = setTimeout(() => {
      c.destroy()
      reject(new Error(`no close within ${timeoutMs} ms; got: ${out}`))
    }, timeoutMs)
    c.on('connect', async () => {
      if (data === null) return
      const buf = Buffer.from(data)
      for (let off = 0; off < buf.length && out === '' && !c.destroyed; off += 64 * 1024) {
        if (!c.write(buf.subarray(off, off + 64 * 1024))) await new Promise((r) => c.once('drain', r))
      }
    })
    c.on('data', (d) => (out += d.toString()))
    c.on('error', () => {})
    c.on('close', () => {
      clearTimeout(timer)
      resolve(out)
    })
  })
}

function jsonError(response: string): { status: number; code: string; message: string } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1])
  const body = JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as {
    error: { code: string; message: string }
  }
  return { status, code: body.error.code, message: body.error.message }
}

const dir = tempDir()
const daemon = new TestDaemon(join(dir.path, 'd'))

before(async () => {
  await TestDaemon.init(daemon.dataDir, ['--api-port', '0'])
  // Short header deadline, so the silent-client case resolves quickly.
  const cfg = join(daemon.dataDir, 'config.json')
  const local = JSON.parse((await import('node:fs')).readFileSync(cfg, 'utf8')) as Record<string, unknown>
  writeFileSync(cfg, JSON.stringify({ ...local, api: { ...(local.api as object), headersTimeoutMs: 1500 } }))
  await daemon.start()
})
after(async () => {
  await daemon.stop()
  dir.cleanup()
})

test('the socket is mode 0600 and status reports it, the pid and the TCP listener', async () => {
  assert.equal(statSync(daemon.socket).mode & 0o777, 0o600)
  const s = await daemon.status()
  assert.equal(s.socket, daemon.socket)
  assert.equal(s.pid, daemon.proc?.pid)
  assert.equal(s.network, 'devnet')
  assert.match(s.apiUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+$/)
  for (const a of s.addrs) assert.ok(a.endsWith(`/p2p/${s.peerId}`))
  // The TCP listener serves the same API, to holders of the token.
  const res = await fetch(`${s.apiUrl}/status`, {
    headers: { authorization: `Bearer ${await daemon.apiToken()}` },
  })
  assert.equal(res.status, 200)
  assert.equal(((await res.json()) as { peerId: string }).peerId, s.peerId)
})

test('an unknown path gets a 404 JSON error', async () => {
  const r = await daemon.get<{ error: { code: string; message: string; type: string } }>('/nope')
  assert.equal(r.status, 404)
  assert.equal(r.body.error.code, 'NOT_FOUND')
  assert.equal(r.body.error.type, 'invalid_request_error')
})

test('a wrong method gets a 405 JSON error', async () => {
  const out = await raw(
    daemon.socket,
    'POST /status HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
  )
  const e = jsonError(out)
  assert.equal(e.status, 405)
  assert.equal(e.code, 'METHOD_NOT_ALLOWED')
})

test('a malformed request gets a 400 JSON error', async () => {
  const e = jsonError(await raw(daemon.socket, 'THIS IS NOT HTTP\r\n\r\n'))
  assert.equal(e.status, 400)
})

test('an invalid peer id gets a 400 JSON error', async () => {
  const r = await daemon.get<{ error: { code: string } }>('/dht/peers/not-a-peer')
  assert.equal(r.status, 400)
  assert.equal(r.body.error.code, 'INVALID_PEER_ID')
})

test('a body of several megabytes gets a 413 JSON error without being read', async () => {
  const big = Buffer.alloc(8 * 1024 * 1024, 'a')
  const head = `POST /status HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${big.length}\r\n\r\n`
  const out = await raw(daemon.socket, Buffer.concat([Buffer.from(head), big]))
  const e = jsonError(out)
  assert.equal(e.status, 413)
  assert.equal(e.code, 'BODY_TOO_LARGE')
})

test('a chunked body over the limit gets a 413 JSON error', async () => {
  const chunk = Buffer.alloc(512 * 1024, 'a')
  const parts = [Buffer.from('POST /status HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n')]
  for (let i = 0; i < 6; i++)
    parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'))
  parts.push(Buffer.from('0\r\n\r\n'))
  const e = jsonError(await raw(daemon.socket, Buffer.concat(parts)))
  assert.equal(e.status, 413)
})

test('a client that connects and sends nothing is timed out while others are served', async () => {
  const silent = raw(daemon.socket, null)
  // While the silent client holds its connection, others are served.
  for (let i = 0; i < 3; i++) assert.equal((await daemon.get('/status')).status, 200)
  const out = await silent
  assert.ok(out === '' || /^HTTP\/1\.1 408/.test(out), `timed out (got ${JSON.stringify(out.slice(0, 40))})`)
})

test('after all of that the daemon still serves status and peers', async () => {
  assert.equal((await daemon.get('/status')).status, 200)
  assert.equal((await daemon.get('/peers')).status, 200)
  assert.equal(daemon.proc?.exitCode, null, 'daemon still running')
})

test('status and peers without a daemon fail with a clear message and exit code 3', async () => {
  const r = await cordex(['status', '--data-dir', join(dir.path, 'empty'), '--json'])
  assert.equal(r.code, 3)
  assert.match(r.stderr, /no daemon is running on/)
  const p = await cordex(['peers', '--data-dir', join(dir.path, 'empty')])
  assert.equal(p.code, 3)
})
