import '../../src/polyfill.js'
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { lpStream } from '@libp2p/utils'
import { MemoryDatastore } from 'datastore-core'
import { Level } from 'level'
import { buildLibp2p, type CordexLibp2p } from '../../src/node/libp2p.js'
import { loadConfig } from '../../src/node/config/index.js'
import { ExecutorRecords } from '../../src/node/infer/executorRecords.js'
import { TaskStore } from '../../src/node/infer/taskStore.js'
import { TaskRecordSource } from '../../src/node/verify/recordSource.js'
import {
  PeerGuard,
  ResponseCode,
  TaskFetchError,
  TaskProtocol,
  inferRequestReader,
} from '../../src/protocols/index.js'
import { MAX_PROMPT_CHARS, maxRequestBytes } from '../../src/protocols/infer/codec.js'
import { MAX_RECORD_TOKENS, type TaskRecordData } from '../../src/protocols/task/index.js'
import { checkTaskRecord } from '../../src/verify/index.js'
import { toHex } from '../../src/ledger/index.js'
import { systemClock } from '../../src/util/clock.js'
import { silentLogger } from '../../src/util/logger.js'
import { tempDir } from '../helpers/cli.js'
import { testSigner } from '../helpers/chainSim.js'
import { RECORD_CHAIN, testRecord, testRequest } from '../helpers/taskRecord.js'

// Three real libp2p nodes over TCP on loopback, in one process: `a` fetches; `b` serves records
// from a real LevelDB through the daemon's record source; `c` takes `task` streams and never answers.
const dir = tempDir('cx-task-')
const config = loadConfig({ dataDir: dir.path, network: 'devnet' })
const limits = { timeoutMs: 3000, maxInboundStreams: 8, requestsPerSecond: 100 }
const executor = testSigner(1)
const client = testSigner(2).peerId
let a: CordexLibp2p, b: CordexLibp2p, c: CordexLibp2p
let db: Level<string, Uint8Array>
let server: TaskProtocol
let fetcher: TaskProtocol
const guard = new PeerGuard({ clock: systemClock })

const served = testRecord(executor, testRequest(client, 1))
const settled = testRecord(executor, testRequest(client, 2), [9, 10, 11])
/** The largest record there can be: a request frame of the infer limit and 65,536 tokens. */
const largest = testRecord(
  executor,
  testRequest(client, 3, { prompt: 'ह'.repeat(MAX_PROMPT_CHARS) }),
  Array.from({ length: MAX_RECORD_TOKENS }, (_, i) => 50_000 + i),
)

async function node(): Promise<CordexLibp2p> {
  const n = await buildLibp2p(
    { privateKey: await generateKeyPair('Ed25519'), datastore: new MemoryDatastore() },
    config,
  )
  await n.start()
  return n
}

before(async () => {
  ;[a, b, c] = await Promise.all([node(), node(), node()])
  await Promise.all([a.dial(b.getMultiaddrs()[0]!), a.dial(c.getMultiaddrs()[0]!)])
  db = new Level<string, Uint8Array>(join(dir.path, 'db'), { valueEncoding: 'view' })
  const executorRecords = new ExecutorRecords(db, 100)
  const gateway = new TaskStore(db, 100)
  await Promise.all([executorRecords.open(), gateway.open()])
  await executorRecords.put(served, 1)
  await executorRecords.put(largest, 1)
  await gateway.put(
    {
      taskId: toHex(settled.receipt.taskId),
      time: 0,
      epoch: 1,
      model: settled.receipt.modelId,
      executor: settled.executor,
      request: {},
      route: { seed: '', candidates: [], order: [], attempts: [] },
      prompt: '',
      output: '',
      tokens: settled.tokens,
      receipt: {},
      receiptSig: toHex(settled.sig),
      cost: '0',
    },
    settled,
  )
  const source = new TaskRecordSource({ executor: executorRecords, gateway })
  server = new TaskProtocol({ node: b, log: silentLogger(), guard }, 'devnet', limits)
  await server.start(source.lookup)
  fetcher = new TaskProtocol({ node: a, log: silentLogger() }, 'devnet', limits)
  // `c` takes the stream and holds it: no answer, no reset.
  await c.handle(server.protocol, () => {})
})

after(async () => {
  await server.stop()
  await Promise.all([a.stop(), b.stop(), c.stop()])
  await db.close()
  dir.cleanup()
})

async function fetchError(p: Promise<unknown>): Promise<TaskFetchError> {
  try {
    await p
  } catch (err) {
    assert.ok(err instanceof TaskFetchError, `a TaskFetchError, got ${String(err)}`)
    return err
  }
  assert.fail('the fetch succeeded')
}

const check = (r: TaskRecordData) =>
  checkTaskRecord(
    r,
    { receipt: r.receipt, executor: r.executor, sig: r.sig },
    RECORD_CHAIN,
    inferRequestReader,
  )

test('a verifier fetches an executor’s and a gateway’s record, byte for byte, and it checks out', async () => {
  for (const want of [served, settled]) {
    const got = await fetcher.fetchTaskRecord(b.peerId, want.receipt.taskId)
    assert.deepEqual(got, want)
    assert.deepEqual(check(got), { ok: true })
  }
})

test('the largest record a task can have comes through whole', async () => {
  const got = await fetcher.fetchTaskRecord(b.peerId, largest.receipt.taskId)
  assert.ok(largest.request.length > maxRequestBytes() - 4096, 'a frame near the infer limit')
  assert.equal(got.request.length, largest.request.length)
  assert.equal(got.tokens.length, MAX_RECORD_TOKENS)
  assert.deepEqual(check(got), { ok: true })
})

test('an unknown task is NOT_FOUND, which costs the asker nothing', async () => {
  const err = await fetchError(fetcher.fetchTaskRecord(b.peerId, new Uint8Array(32).fill(0xab)))
  assert.equal(err.code, 'NOT_FOUND')
  assert.equal(err.meta.peer, b.peerId.toString())
  assert.equal(guard.score(a.peerId.toString()), 0)
})

test('a malformed request is refused and counts against its sender', async () => {
  const lp = lpStream(await a.dialProtocol(b.peerId, server.protocol))
  await lp.write(new Uint8Array([0x58, 0x05, 1, 2, 3, 4, 5]))
  const answer = (await lp.read({ signal: AbortSignal.timeout(3000) })).subarray()
  assert.equal(answer[0], ResponseCode.INVALID_REQUEST)
  assert.ok(guard.score(a.peerId.toString()) > 0)
  // And the server still serves.
  assert.deepEqual(await fetcher.fetchTaskRecord(b.peerId, served.receipt.taskId), served)
})

test('a peer that never answers times out within the deadline', async () => {
  const quick = new TaskProtocol({ node: a, log: silentLogger() }, 'devnet', { ...limits, timeoutMs: 500 })
  const started = Date.now()
  const err = await fetchError(quick.fetchTaskRecord(c.peerId, served.receipt.taskId))
  assert.equal(err.code, 'TIMEOUT')
  assert.ok(Date.now() - started < 2500, 'the fetch gave up at its deadline')
})

test('a fetch the caller aborts is CANCELLED', async () => {
  const ctl = new AbortController()
  const p = fetcher.fetchTaskRecord(c.peerId, served.receipt.taskId, ctl.signal)
  setTimeout(() => ctl.abort(), 100)
  assert.equal((await fetchError(p)).code, 'CANCELLED')
})
