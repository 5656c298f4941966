import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ApiServer } from '../../../../src/node/api/index.js'
import { STATUS_PAGE_DIR } from '../../../../src/node/api/statusPage.js'
import { silentLogger } from '../../../../src/util/logger.js'
import { tempDir } from '../../../helpers/cli.js'

// The status page's files over a real TCP listener: served without the token, with a strict
// policy, only from their allowlist, and behind the guard's other checks.

const dir = tempDir()
const token = 'tok-0123456789abcdef'
let server: ApiServer
let url: string

before(async () => {
  server = new ApiServer(
    { log: silentLogger() },
    {
      socketPath: join(dir.path, 'api.sock'),
      tcpPort: 0,
      tcpAuth: { token, file: join(dir.path, 'api.token') },
      maxBodyBytes: 1024,
      headersTimeoutMs: 5000,
      requestTimeoutMs: 5000,
      maxConnections: 8,
    },
  )
  await server.start()
  server.serve([{ method: 'GET', path: '/status', handler: async () => ({ ok: true }) }])
  url = server.apiUrl!
})

after(async () => {
  await server.stop()
  dir.cleanup()
})

test('the page and its files are served without a token, with their types and a strict policy', async () => {
  for (const [path, type] of [
    ['/', 'text/html; charset=utf-8'],
    ['/?x=1', 'text/html; charset=utf-8'],
    ['/ui/app.js', 'text/javascript; charset=utf-8'],
    ['/ui/style.css', 'text/css; charset=utf-8'],
    ['/ui/icon.svg', 'image/svg+xml'],
  ] as const) {
    const res = await fetch(`${url}${path}`)
    assert.equal(res.status, 200, path)
    assert.equal(res.headers.get('content-type'), type, path)
    assert.match(res.headers.get('content-security-policy') ?? '', /^default-src 'self';/, path)
    assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/, path)
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path)
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer', path)
    await res.arrayBuffer()
  }
})

test('a current copy is answered 304 through its ETag', async () => {
  const first = await fetch(`${url}/ui/app.js`)
  await first.arrayBuffer()
  const etag = first.headers.get('etag')
  assert.ok(etag !== null)
  const again = await fetch(`${url}/ui/app.js`, { headers: { 'if-none-match': etag } })
  assert.equal(again.status, 304)
})

test('every other path, and the data, still need the token', async () => {
  for (const path of [
    '/status',
    '/index.html',
    '/ui/',
    '/ui/../package.json',
    '/ui/%2e%2e/package.json',
    '/ui/app.js/',
  ]) {
    const res = await fetch(`${url}${path}`)
    assert.equal(res.status, 401, path)
    await res.arrayBuffer()
  }
  const authed = await fetch(`${url}/status`, { headers: { authorization: `Bearer ${token}` } })
  assert.deepEqual(await authed.json(), { ok: true })
  // The page's files are GET only.
  const post = await fetch(`${url}/`, { method: 'POST' })
  assert.equal(post.status, 401)
  await post.arrayBuffer()
})

test('the guard’s other checks hold for the page: DNS rebinding and cross-site requests are refused', async () => {
  const http = await import('node:http')
  const status = (headers: Record<string, string>): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = http.request(`${url}/`, { headers }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.on('error', reject)
      req.end()
    })
  assert.equal(await status({ host: 'evil.example' }), 403)
  assert.equal(await status({ 'sec-fetch-site': 'cross-site' }), 403)
  assert.equal(await status({ origin: 'http://evil.example' }), 403)
  assert.equal(await status({ 'sec-fetch-site': 'none' }), 200)
})

test('the page loads nothing from elsewhere and runs no inline script or style', () => {
  for (const file of ['index.html', 'app.js', 'style.css']) {
    const text = readFileSync(join(STATUS_PAGE_DIR, file), 'utf8')
    // The SVG namespace is a name, not a resource.
    assert.doesNotMatch(text.replaceAll('http://www.w3.org/2000/svg', ''), /https?:\/\/|\/\/[a-z]/i, file)
  }
  const html = readFileSync(join(STATUS_PAGE_DIR, 'index.html'), 'utf8')
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)/, 'every script is a file')
  assert.doesNotMatch(html, /\sstyle=|<style|\son[a-z]+=/i, 'no inline style or handler')
})
