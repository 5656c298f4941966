import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadOrCreateApiToken, readApiToken, ApiTokenError } from '../../../src/node/apiToken.js'

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cx-tok-'))
  try {
    await fn(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const refusedWith = (code: string) => (err: unknown) => {
  assert.ok(err instanceof ApiTokenError)
  assert.equal(err.code, code)
  return true
}

test('a token is created once with mode 0600 and read back unchanged', () =>
  withDir(async (dir) => {
    const a = await loadOrCreateApiToken(dir)
    assert.ok(a.created)
    assert.match(a.token, /^[A-Za-z0-9_-]{43}$/)
    assert.equal(a.file, join(dir, 'api.token'))
    assert.equal(statSync(a.file).mode & 0o777, 0o600)
    const b = await loadOrCreateApiToken(dir)
    assert.ok(!b.created)
    assert.equal(b.token, a.token)
    assert.equal(await readApiToken(dir), a.token)
  }))

test('concurrent creators agree on one token', () =>
  withDir(async (dir) => {
    const all = await Promise.all([1, 2, 3, 4].map(() => loadOrCreateApiToken(dir)))
    assert.equal(new Set(all.map((t) => t.token)).size, 1)
  }))

test('a token file readable by group or others is refused', () =>
  withDir(async (dir) => {
    const { file } = await loadOrCreateApiToken(dir)
    chmodSync(file, 0o640)
    await assert.rejects(loadOrCreateApiToken(dir), refusedWith('API_TOKEN_INSECURE'))
    await assert.rejects(readApiToken(dir), /chmod 600/)
  }))

test("an operator's own token is taken, with a trailing newline; a malformed one is refused", () =>
  withDir(async (dir) => {
    writeFileSync(join(dir, 'api.token'), 'my-own-token-0123456789\n', { mode: 0o600 })
    assert.equal(await readApiToken(dir), 'my-own-token-0123456789')
    writeFileSync(join(dir, 'api.token'), 'short', { mode: 0o600 })
    await assert.rejects(loadOrCreateApiToken(dir), refusedWith('API_TOKEN_INVALID'))
  }))

test('reading a missing token says how to make one', () =>
  withDir(async (dir) => {
    await assert.rejects(readApiToken(dir), refusedWith('API_TOKEN_MISSING'))
  }))
