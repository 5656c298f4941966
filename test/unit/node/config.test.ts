import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  loadConfig,
  parseConfig,
  deepMerge,
  networkFile,
  ConfigError,
  NETWORKS,
} from '../../../src/node/config/index.js'

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'cx-cfg-'))
  try {
    fn(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function expectConfigError(fn: () => unknown, field: RegExp): ConfigError {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`)
    assert.match(err.message, field)
    return err
  }
  assert.fail('expected a ConfigError')
}

test('every shipped network config is valid', () => {
  for (const network of NETWORKS) {
    withDir((dir) => {
      const cfg = loadConfig({ dataDir: dir, network })
      assert.equal(cfg.network, network)
    })
  }
})

test('the data directory config overrides the network config, and flags override both', () => {
  withDir((dir) => {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ network: 'devnet', p2p: { targetPeers: 7 } }))
    const cfg = loadConfig({ dataDir: dir, overrides: { p2p: { listen: ['/ip4/127.0.0.1/tcp/5000'] } } })
    assert.equal(cfg.p2p.targetPeers, 7)
    assert.deepEqual(cfg.p2p.listen, ['/ip4/127.0.0.1/tcp/5000'])
    assert.equal(cfg.p2p.heartbeatMs, 500, 'untouched fields keep the network value')
  })
})

test('a wrong field is refused with a message naming it', () => {
  withDir((dir) => {
    const write = (v: object): void =>
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ network: 'devnet', ...v }))
    write({ p2p: { targetPeers: 0 } })
    const e = expectConfigError(() => loadConfig({ dataDir: dir }), /p2p\.targetPeers/)
    assert.equal(e.meta.field, 'p2p.targetPeers')
    write({ api: { port: 'eighty' } })
    expectConfigError(() => loadConfig({ dataDir: dir }), /api\.port/)
    write({ p2p: { listen: ['not a multiaddr'] } })
    expectConfigError(() => loadConfig({ dataDir: dir }), /p2p\.listen\.0: not a valid multiaddr/)
    write({ p2p: { bogus: 1 } })
    expectConfigError(() => loadConfig({ dataDir: dir }), /bogus/)
    write({ p2p: { targetPeers: 500, maxConnections: 100 } })
    expectConfigError(
      () => loadConfig({ dataDir: dir }),
      /p2p\.maxConnections: maxConnections must be at least targetPeers/,
    )
    // A Race that cannot fit in an epoch: 3 + 3 blocks, then 11 s at one block a second at least.
    write({ genesis: { params: { epochBlocks: 17 } } })
    const fit = expectConfigError(() => loadConfig({ dataDir: dir }), /genesis\.params\.epochBlocks/)
    for (const field of ['commitBlocks', 'revealBlocks', 'raceMs', 'emptyBlockIntervalMs'])
      assert.match(fit.message, new RegExp(field))
    assert.match(fit.message, /= 17 blocks/)
    write({ genesis: { params: { epochBlocks: 18 } } })
    assert.equal(loadConfig({ dataDir: dir }).genesis.params.epochBlocks, 18)
    write({ genesis: { params: { epochBlocks: 18 } }, consensus: { emptyBlockIntervalMs: 500 } })
    expectConfigError(
      () => loadConfig({ dataDir: dir }),
      /at least 22 at consensus\.emptyBlockIntervalMs 500/,
    )
    writeFileSync(join(dir, 'config.json'), '{ not json')
    expectConfigError(() => loadConfig({ dataDir: dir }), /config\.json: not valid JSON/)
  })
})

test('unknown networks and network mismatches are refused', () => {
  expectConfigError(() => networkFile('testnet'), /unknown network "testnet"/)
  withDir((dir) => {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ network: 'devnet' }))
    expectConfigError(() => loadConfig({ dataDir: dir, network: 'mainnet' }), /belongs to network "devnet"/)
  })
})

test('parseConfig refuses a bad network id', () => {
  withDir((dir) => {
    const good = loadConfig({ dataDir: dir })
    expectConfigError(() => parseConfig({ ...good, network: 'Dev Net' }), /network/)
  })
})

test('deepMerge merges objects and replaces arrays and scalars', () => {
  assert.deepEqual(deepMerge({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, d: undefined }), {
    a: { b: 1, c: [3] },
    d: 1,
  })
})
