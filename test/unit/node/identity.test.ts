import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, statSync, chmodSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadOrCreateIdentity, IdentityError } from '../../../src/node/identity.js'

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cx-id-'))
  try {
    await fn(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

test('an identity is created once with mode 0600 and reloaded unchanged', () =>
  withDir(async (dir) => {
    const a = await loadOrCreateIdentity(dir)
    assert.ok(a.created)
    assert.equal(a.privateKey.type, 'Ed25519')
    assert.equal(statSync(join(dir, 'identity.key')).mode & 0o777, 0o600)
    const b = await loadOrCreateIdentity(dir)
    assert.ok(!b.created)
    assert.equal(b.peerId.toString(), a.peerId.toString())
  }))

test('a key file readable by others is refused', () =>
  withDir(async (dir) => {
    await loadOrCreateIdentity(dir)
    chmodSync(join(dir, 'identity.key'), 0o644)
    await assert.rejects(loadOrCreateIdentity(dir), (err: unknown) => {
      assert.ok(err instanceof IdentityError)
      assert.equal(err.code, 'IDENTITY_INSECURE')
      assert.match(err.message, /chmod 600/)
      return true
    })
  }))

test('a corrupt key file is refused with a clear error, not replaced', () =>
  withDir(async (dir) => {
    writeFileSync(join(dir, 'identity.key'), 'garbage', { mode: 0o600 })
    await assert.rejects(loadOrCreateIdentity(dir), /is not a libp2p private key/)
  }))
