import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingHttpHeaders } from 'node:http'
import { checkTcpRequest } from '../../../../src/node/api/guard.js'

const guard = { token: 'tok-0123456789abcdef', tokenFile: '/d/api.token', port: 4000 }
const ok: IncomingHttpHeaders = { host: '127.0.0.1:4000', authorization: `Bearer ${guard.token}` }
const code = (headers: IncomingHttpHeaders, method = 'GET'): string | null =>
  checkTcpRequest(method, headers, guard)?.code ?? null

test('the token is required, as a Bearer credential, exactly', () => {
  assert.equal(code(ok), null)
  assert.equal(code({ ...ok, authorization: `bearer ${guard.token}` }), null)
  assert.equal(code({ host: ok.host }), 'UNAUTHORIZED')
  assert.equal(code({ ...ok, authorization: guard.token }), 'UNAUTHORIZED')
  assert.equal(code({ ...ok, authorization: `Bearer ${guard.token}x` }), 'UNAUTHORIZED')
  assert.equal(code({ ...ok, authorization: `Bearer ${guard.token.slice(1)}` }), 'UNAUTHORIZED')
  assert.equal(code({ ...ok, authorization: 'Basic dXNlcjpwYXNz' }), 'UNAUTHORIZED')
  const e = checkTcpRequest('GET', { host: ok.host }, guard)
  assert.equal(e?.status, 401)
  assert.equal(e?.headers['www-authenticate'], 'Bearer')
  assert.match(e?.message ?? '', /\/d\/api\.token/)
  assert.doesNotMatch(e?.message ?? '', new RegExp(guard.token))
})

test('only loopback names pass as Host', () => {
  for (const host of ['localhost', 'LOCALHOST:4000', '127.0.0.1', '127.0.0.1:1', '[::1]', '[::1]:4000']) {
    assert.equal(code({ ...ok, host }), null, host)
  }
  for (const host of [
    undefined,
    '',
    'evil.example',
    'localhost.evil.example',
    '127.0.0.1.nip.io',
    '127.0.0.2',
    '[::2]',
    'localhost:x',
    'evil@localhost',
  ]) {
    assert.equal(code({ ...ok, host }), 'FORBIDDEN_HOST', String(host))
  }
})

test("browsers' cross-site requests and preflights are refused, the listener's own origin passes", () => {
  for (const origin of ['http://127.0.0.1:4000', 'http://localhost:4000', 'http://[::1]:4000']) {
    assert.equal(code({ ...ok, origin }), null, origin)
  }
  for (const origin of [
    'http://evil.example',
    'null',
    'http://localhost:4001',
    'https://127.0.0.1:4000',
    'http://127.0.0.1',
  ]) {
    assert.equal(code({ ...ok, origin }), 'FORBIDDEN_ORIGIN', origin)
  }
  assert.equal(code({ ...ok, 'sec-fetch-site': 'cross-site' }), 'FORBIDDEN_ORIGIN')
  assert.equal(code({ ...ok, 'sec-fetch-site': 'same-site' }), 'FORBIDDEN_ORIGIN')
  assert.equal(code({ ...ok, 'sec-fetch-site': 'none' }), null)
  assert.equal(code({ ...ok, 'access-control-request-method': 'POST' }, 'OPTIONS'), 'FORBIDDEN_ORIGIN')
  // A page cannot reach the token check: the origin is refused first, with the token or without.
  assert.equal(code({ host: ok.host, origin: 'http://evil.example' }), 'FORBIDDEN_ORIGIN')
})

test('a request for the status page’s files needs no token, but every other check holds', () => {
  const page = { ...guard, page: true }
  const pageCode = (headers: IncomingHttpHeaders): string | null =>
    checkTcpRequest('GET', headers, page)?.code ?? null
  assert.equal(pageCode({ host: ok.host }), null)
  assert.equal(pageCode({ host: ok.host, 'sec-fetch-site': 'none' }), null)
  assert.equal(pageCode({ host: 'evil.example' }), 'FORBIDDEN_HOST')
  assert.equal(pageCode({ host: ok.host, origin: 'http://evil.example' }), 'FORBIDDEN_ORIGIN')
  assert.equal(pageCode({ host: ok.host, 'sec-fetch-site': 'cross-site' }), 'FORBIDDEN_ORIGIN')
})
