import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { Level } from 'level'
import { pino } from 'pino'
import {
  Overlay,
  baseRegistry,
  blockHash,
  commitHash,
  evidenceHash,
  genesisHash,
  genesisState,
  getAccount,
  putAccount,
  txRoot,
  type Block,
  type BlockLimits,
  type Header,
} from '../../../src/ledger/index.js'
import { loadConfig } from '../../../src/node/config/index.js'
import { genesisFromConfig } from '../../../src/node/chain/genesis.js'
import { ChainStore } from '../../../src/node/db/chainStore.js'
import { ChainError, ChainService } from '../../../src/node/chain/service.js'
import { systemClock } from '../../../src/util/clock.js'
import { tempDir, waitFor } from '../../helpers/cli.js'
import { testSigner } from '../../helpers/chainSim.js'

const [v, w] = [testSigner(0), testSigner(1)]
const LIMITS: BlockLimits = {
  maxBlockBytes: 1 << 20,
  maxBlockTxs: 1000,
  maxTxBytes: 4096,
  maxValidators: 10_000,
}

/**
 * A data directory holding a devnet chain at height 1, whose block 1 changes state by `change`
 * and names the resulting state root (so only the books can tell a wrong change): then a
 * ChainService is started on it. Returns the start's outcome and the log lines.
 */
async function startOn(
  change: (o: Overlay) => void,
): Promise<{ error: unknown; logs: Array<Record<string, unknown>> }> {
  const dir = tempDir('cx-books-')
  try {
    const config = loadConfig({
      dataDir: dir.path,
      overrides: {
        genesis: {
          accounts: [v, w].map((s) => ({ id: s.peerId, balance: '1000000', stake: '1000' })),
          validators: [{ id: v.peerId, power: 1 }],
        },
      },
    })
    const genesis = genesisFromConfig(config.genesis)
    const gHash = genesisHash(genesis)
    const db = new Level<string, Uint8Array>(join(dir.path, 'db'), { valueEncoding: 'view' })
    const logs: Array<Record<string, unknown>> = []
    try {
      const store = new ChainStore(db, baseRegistry(), LIMITS)
      const state = genesisState(genesis)
      await store.initGenesis([...state.encoded()], gHash, genesis.time)
      const o = new Overlay(state)
      change(o)
      const changes = state.commit(o)
      const header: Header = {
        chainId: genesis.chainId,
        height: 1,
        time: genesis.time + 1000,
        prevHash: gHash,
        txRoot: txRoot([]),
        stateRoot: state.root,
        proposer: v.peerId,
        epoch: 0,
        lastCommitHash: commitHash(null),
        evidenceHash: evidenceHash([]),
      }
      const block: Block = { header, txs: [], evidence: [], lastCommit: null }
      await store.commitBlock(block, { height: 1, round: 0, blockHash: blockHash(header), sigs: [] }, changes)

      const sink = new Writable({
        write(chunk: Buffer, _enc, done) {
          logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>)
          done()
        },
      })
      // No network: a start that gets past loading the ledger fails at the first use of the node.
      const chain = new ChainService(
        { node: {} as never, db, log: pino({ level: 'info' }, sink), clock: systemClock, signer: v },
        config,
        {} as never,
      )
      const error = await chain.start().then(
        () => undefined,
        (err: unknown) => err,
      )
      return { error, logs }
    } finally {
      await db.close()
    }
  } finally {
    dir.cleanup()
  }
}

test('a node refuses to start on stored state whose books do not balance, logging both sides', async () => {
  // A wrong migration: an account credited 5 base units that the supply never counted.
  const { error, logs } = await startOn((o) => {
    const a = getAccount(o, w.peerId)
    putAccount(o, w.peerId, { ...a, balance: a.balance + 5n })
  })
  assert.ok(error instanceof ChainError, `a ChainError, got ${String(error)}`)
  assert.equal(error.code, 'CHAIN_UNBALANCED')
  assert.match(error.message, /refusing to start: the stored state at height 1/)
  assert.match(error.message, /holdings are 5 base units more than supply\.total 2002000/)
  const line = logs.find((l) => l.msg === 'the books do not balance')
  assert.ok(line !== undefined, 'an error is logged')
  assert.equal(line.level, 50)
  assert.deepEqual(line.supply, { genesis: '2002000', minted: '0', burned: '0', total: '2002000' })
  assert.equal((line.holdings as Record<string, string>).total, '2002005')
  assert.equal((line.holdings as Record<string, string>).balances, '2000005')
  assert.ok(!logs.some((l) => l.msg === 'ledger loaded'))
})

test('a node starts on stored state whose books balance (coins moved, none made)', async () => {
  const { error, logs } = await startOn((o) => {
    const a = getAccount(o, v.peerId)
    putAccount(o, v.peerId, { ...a, balance: a.balance - 5n })
    const b = getAccount(o, w.peerId)
    putAccount(o, w.peerId, { ...b, balance: b.balance + 5n })
  })
  assert.ok(!(error instanceof ChainError), `no ChainError, got ${String(error)}`)
  assert.ok(!logs.some((l) => l.msg === 'the books do not balance'))
  assert.ok(
    logs.some((l) => l.msg === 'ledger loaded' && l.height === 1),
    'the ledger loaded',
  )
})

/**
 * A ledger of one validator, running on its own (no network: gossip and sync go nowhere), with
 * `ledger.checkBooksEveryBlock` as given. At block `breakAt` (from a commit listener, as a rule
 * that made coins would) an account is credited 5 base units that the supply never counted; the
 * chain then runs until it stops itself or reaches `breakAt + 4`.
 */
async function runBroken(
  checkBooksEveryBlock: boolean,
  breakAt: number,
): Promise<{ fatal: ChainError[]; logs: Array<Record<string, unknown>>; heads: number[] }> {
  const dir = tempDir('cx-books-live-')
  const db = new Level<string, Uint8Array>(join(dir.path, 'db'), { valueEncoding: 'view' })
  const logs: Array<Record<string, unknown>> = []
  const fatal: ChainError[] = []
  const heads: number[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>)
      done()
    },
  })
  const pubsub = { topicValidators: new Map(), subscribe() {}, unsubscribe() {}, publish: async () => {} }
  const node = { services: { pubsub }, handle: async () => {}, unhandle: async () => {}, getPeers: () => [] }
  const config = loadConfig({
    dataDir: dir.path,
    overrides: {
      // Fast empty blocks; epochs long enough to hold the Race at that pace (no Race runs here).
      consensus: { blockIntervalMs: 5, emptyBlockIntervalMs: 20 },
      ledger: { checkBooksEveryBlock },
      genesis: {
        time: Date.now() - 1000,
        params: { epochBlocks: 100_000 },
        accounts: [v, w].map((s) => ({ id: s.peerId, balance: '1000000', stake: '1000' })),
        validators: [{ id: v.peerId, power: 1 }],
      },
    },
  })
  const chain = new ChainService(
    {
      node: node as never,
      db,
      log: pino({ level: 'info' }, sink),
      clock: systemClock,
      signer: v,
      onFatal: (err) => fatal.push(err),
    },
    config,
    {} as never,
  )
  try {
    chain.onCommit(() => {
      heads.push(chain.head.height)
      if (chain.head.height !== breakAt) return
      const state = chain.replica.state
      const o = new Overlay(state)
      const a = getAccount(o, w.peerId)
      putAccount(o, w.peerId, { ...a, balance: a.balance + 5n })
      state.commit(o)
    })
    await chain.start()
    await waitFor(
      'the chain to stop or pass the broken block',
      async () => (fatal.length > 0 || chain.head.height >= breakAt + 4 ? true : undefined),
      20_000,
    )
    // Ten block intervals more: a stopped chain commits nothing after.
    await new Promise((r) => setTimeout(r, 200))
    return { fatal, logs, heads }
  } finally {
    await chain.stop()
    await db.close()
    dir.cleanup()
  }
}

test('with ledger.checkBooksEveryBlock, a block after which the books do not balance stops the ledger, logging both sides', async () => {
  const breakAt = 3
  const { fatal, logs, heads } = await runBroken(true, breakAt)
  assert.equal(fatal.length, 1, 'onFatal is called once')
  const err = fatal[0]!
  assert.equal(err.code, 'CHAIN_UNBALANCED')
  assert.deepEqual(err.meta, { height: breakAt + 1 })
  assert.match(err.message, /after block 4, the books do not balance: holdings are 5 base units more/)
  const lines = logs.filter((l) => l.msg === 'the books do not balance')
  assert.equal(lines.length, 1, 'one error, at the first block after the break')
  const line = lines[0]!
  assert.equal(line.level, 50)
  assert.equal(line.height, breakAt + 1)
  assert.deepEqual(line.supply, { genesis: '2002000', minted: '0', burned: '0', total: '2002000' })
  assert.equal((line.holdings as Record<string, string>).total, '2002005')
  // The blocks before balanced; no block is committed (nor any listener told) after the stop.
  assert.deepEqual(heads, [1, 2, 3])
})

test('without ledger.checkBooksEveryBlock, only start-up counts the books: the chain goes on', async () => {
  const { fatal, logs, heads } = await runBroken(false, 3)
  assert.equal(fatal.length, 0)
  assert.ok(!logs.some((l) => l.msg === 'the books do not balance'))
  assert.ok(heads.length >= 7, `blocks after the break, got ${heads.join(',')}`)
})
