// `npm run bench:ledger`: ledger throughput and finality, printed, never asserted.
//  1. Transfers applied and committed per second by one validator (mempool admission with
//     signature checks, block building, execution, state root, one LevelDB batch per block),
//     against raw LevelDB batch writes of the very same records, measured in the same run.
//  2. Proposal-to-finality time, p50 and p99, with 4 validator daemon processes on loopback
//     (`cordex devnet --peers 4`), from each proposer's own record (GET /ledger/finality).
import '../src/polyfill.js'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import http from 'node:http'
import { Level } from 'level'
import { ChainStore } from '../src/node/db/chainStore.js'
import { Replica } from '../src/ledger/replica.js'
import { genesisHash, genesisState, type Genesis } from '../src/ledger/genesis.js'
import { baseRegistry, signTx, type SignedTx } from '../src/ledger/tx/index.js'
import { encodeBlock, encodeCommit } from '../src/ledger/block.js'
import { encode } from '../src/ledger/codec.js'
import { signerFromSeed } from '../src/ledger/crypto.js'
import { summarize } from './lib/stats.js'
import { print, progress, table, ms, num } from './lib/report.js'
import { ROOT } from './lib/daemons.js'

const TRANSFERS = Number(process.env.BENCH_TRANSFERS ?? 20_000)
const SENDERS = 200
const BLOCK_TXS = 2000

async function throughput(): Promise<{ txPerSec: number; rawTxPerSec: number; blocks: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'cx-bench-'))
  try {
    const validator = signerFromSeed(new Uint8Array(32).fill(1))
    const senders = Array.from({ length: SENDERS }, (_, i) => signerFromSeed(new Uint8Array(32).fill(i + 2)))
    const genesis: Genesis = {
      chainId: 'cordex-bench',
      time: 1,
      params: {
        minTxFee: 1n,
        maxTxBytes: 4096,
        maxBlockTxs: BLOCK_TXS,
        maxBlockBytes: 4 << 20,
        epochBlocks: 1000,
        unbondingBlocks: 10,
        slashBps: 500,
        jailBlocks: 10,
        maxClockDriftMs: 10_000,
      },
      accounts: senders.map((s) => ({ id: s.peerId, balance: 1n << 40n, stake: 0n })),
      validators: [{ id: validator.peerId, power: 1 }],
    }
    const registry = baseRegistry()
    progress(`signing ${TRANSFERS} transfers from ${SENDERS} accounts (not timed: clients sign)`)
    const txs: SignedTx[] = []
    for (let i = 0; i < TRANSFERS; i++) {
      const from = senders[i % SENDERS]!
      const to = senders[(i * 7 + 1) % SENDERS]!.peerId
      txs.push(
        signTx(registry, genesis.chainId, from, {
          type: 'Transfer',
          nonce: Math.floor(i / SENDERS),
          fee: 1n,
          body: { to, amount: 5n },
        }),
      )
    }

    const db = new Level<string, Uint8Array>(join(dir, 'chain'), { valueEncoding: 'view' })
    await db.open()
    const limits = { maxBlockBytes: 4 << 20, maxBlockTxs: BLOCK_TXS, maxTxBytes: 4096, maxValidators: 10 }
    const store = new ChainStore(db, registry, limits)
    const state = genesisState(genesis)
    await store.initGenesis([...state.encoded()], genesisHash(genesis), genesis.time)
    let now = 1
    const replica = new Replica(
      {
        chainId: genesis.chainId,
        registry,
        signer: validator,
        timeouts: { proposeMs: 1000, prevoteMs: 1000, precommitMs: 1000, deltaMs: 0 },
        blockIntervalMs: 0,
        proposerSeed: genesisHash(genesis),
        mempool: { maxTxs: TRANSFERS, maxBytes: 1 << 28, maxPerSender: TRANSFERS, maxNonceGap: TRANSFERS },
      },
      state,
      { height: 0, hash: genesisHash(genesis), time: 1, commit: null },
      { now: () => ++now },
    )
    // What each block wrote, to replay as raw batches afterwards.
    const written: Array<Array<{ key: string; value: Uint8Array | null }>> = []
    progress('applying and committing')
    const t0 = performance.now()
    for (const tx of txs) replica.submitTx(tx)
    while (replica.mempool.size > 0) {
      for (const e of replica.handle({ kind: 'newHeight', height: replica.height + 1 })) {
        if (e.kind !== 'persist') continue
        await store.commitBlock(e.block, e.commit, e.changes)
        const h = String(e.block.header.height).padStart(12, '0')
        written.push([
          { key: `b${h}`, value: encodeBlock(e.block) },
          { key: `c${h}`, value: encodeCommit(e.commit) },
          ...e.block.txs.map((t) => ({ key: `t${t.hashHex}`, value: encode(e.block.header.height) })),
          ...e.changes.map(([k, v]) => ({ key: `s${k}`, value: v })),
          { key: 'mhead', value: new Uint8Array(48) },
        ])
      }
    }
    const ledgerMs = performance.now() - t0
    await db.close()

    progress('raw LevelDB batches of the same records')
    const raw = new Level<string, Uint8Array>(join(dir, 'raw'), { valueEncoding: 'view' })
    await raw.open()
    const t1 = performance.now()
    for (const ops of written) {
      await raw.batch(
        ops.map((o) =>
          o.value === null
            ? { type: 'del' as const, key: o.key }
            : { type: 'put' as const, key: o.key, value: o.value },
        ),
      )
    }
    const rawMs = performance.now() - t1
    await raw.close()
    return {
      txPerSec: (TRANSFERS / ledgerMs) * 1000,
      rawTxPerSec: (TRANSFERS / rawMs) * 1000,
      blocks: written.length,
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** GET (or, with a body, POST) JSON on a daemon's control socket. */
function call<T>(socketPath: string, path: string, body?: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, path, method: body === undefined ? 'GET' : 'POST', timeout: 5000 },
      (res) => {
        let text = ''
        res.on('data', (d: Buffer) => (text += d.toString()))
        res.on('end', () =>
          res.statusCode === 200 ? resolve(JSON.parse(text) as T) : reject(new Error(text)),
        )
      },
    )
    req.on('error', reject)
    req.end(body === undefined ? undefined : JSON.stringify(body))
  })
}

const get = <T>(socketPath: string, path: string): Promise<T> => call<T>(socketPath, path)

async function finality(blocks: number): Promise<{ samples: number[] }> {
  const base = mkdtempSync(join(tmpdir(), 'cx-bench-'))
  const devnet = spawn(
    process.execPath,
    [join(ROOT, 'bin', 'cordex'), 'devnet', '--peers', '4', '--base-dir', base, '--json'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  const stop = (): void => {
    if (devnet.exitCode === null) devnet.kill('SIGTERM')
  }
  process.once('SIGINT', stop)
  try {
    let out = ''
    devnet.stdout.on('data', (d: Buffer) => (out += d.toString()))
    while (!out.includes('"event":"ready"')) {
      if (devnet.exitCode !== null) throw new Error('devnet exited')
      await new Promise((r) => setTimeout(r, 200))
    }
    const sockets = [0, 1, 2, 3].map((i) => join(base, `peer-${i}`, 'cordex.sock'))
    const start = (await get<{ height: number }>(sockets[0]!, '/ledger/head')).height
    progress(`4 validators: waiting for ${blocks} blocks, with a transfer sent every 100 ms`)
    // A steady trickle of transactions keeps blocks coming at the block interval rather than the
    // (longer) empty-block interval.
    const to = (await get<{ peerId: string }>(sockets[1]!, '/status')).peerId
    for (let i = 0; ; i++) {
      await call(sockets[i % 4]!, '/tx', { type: 'Transfer', body: { to, amount: '1' } }).catch(() => {})
      await new Promise((r) => setTimeout(r, 100))
      if (
        i % 5 === 0 &&
        (await get<{ height: number }>(sockets[0]!, '/ledger/head')).height >= start + blocks
      )
        break
    }
    const samples: number[] = []
    for (const s of sockets)
      samples.push(...(await get<{ samples: number[] }>(s, '/ledger/finality')).samples)
    return { samples }
  } finally {
    stop()
    await new Promise((r) => (devnet.exitCode !== null ? r(null) : devnet.once('exit', r)))
    rmSync(base, { recursive: true, force: true })
  }
}

const tp = await throughput()
const fin = await finality(Number(process.env.BENCH_BLOCKS ?? 100))
const f = summarize(fin.samples)

print('')
print('Ledger throughput, one validator, LevelDB on disk')
print(
  table([
    ['what', 'transfers/s', 'ratio to raw LevelDB'],
    [
      `Cordex: admit, build, execute, commit (${tp.blocks} blocks)`,
      num(tp.txPerSec, 0),
      num(tp.txPerSec / tp.rawTxPerSec, 3),
    ],
    ['raw LevelDB batches of the same records', num(tp.rawTxPerSec, 0), '1.000'],
  ]),
)
print(`target: at least 1,000 transfers/s -> ${tp.txPerSec >= 1000 ? 'met' : 'NOT met'}`)
print('')
print('Proposal to finality, 4 validator processes on loopback (devnet block interval)')
print(
  table([
    ['samples', 'p50', 'p99', 'max'],
    [String(f.n), ms(f.p50), ms(f.p99), ms(f.max)],
  ]),
)
print(`target: p50 under 300 ms -> ${f.p50 < 300 ? 'met' : 'NOT met'}`)
