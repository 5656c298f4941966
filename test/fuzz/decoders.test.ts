import { test } from 'node:test'
import {
  decode,
  encode,
  decodeTx,
  decodeVote,
  encodeVote,
  decodeProposal,
  encodeProposal,
  decodeBlock,
  encodeBlock,
  decodeCommit,
  encodeCommit,
  decodeEntry,
  encodeEntry,
  decodeReceipt,
  encodeReceipt,
  type Receipt,
  type Block,
} from '../../src/ledger/index.js'
import {
  decodeRequest,
  encodeRequest,
  decodeFrame,
  encodeFrame,
  type InferFrame,
} from '../../src/protocols/infer/codec.js'
import { decodeInfo, encodeInfo, type NodeInfo } from '../../src/protocols/info/codec.js'
import { SyncProtocol, type BlockSource } from '../../src/protocols/sync/index.js'
import { ChainStore, type TxResult } from '../../src/node/db/chainStore.js'
import { silentLogger } from '../../src/util/logger.js'
import { equalBytes, weirdString } from './gen.js'
import {
  budget,
  rngFor,
  isTyped,
  errorKind,
  Tally,
  MemoryWatch,
  MiB,
  report,
  assertClean,
  assertBounded,
  testTimeout,
  hex,
} from './harness.js'
import { templates, LIMITS, CHAIN_ID } from './templates.js'
import {
  decodeTaskRequest,
  decodeTaskResponse,
  encodeTaskRequest,
  encodeTaskResponse,
  type TaskResponse,
} from '../../src/protocols/task/codec.js'
import { testRecord, testRequest } from '../helpers/taskRecord.js'
import {
  decodeOpenRequest,
  decodeOpenResponse,
  encodeOpenRequest,
  encodeOpenResponse,
} from '../../src/protocols/task/openings.js'
import { openTrace, TraceRecorder, type AuditTrace } from '../../src/verify/freivalds/index.js'

/** A small int8 trace (two products, three rows) and openings of it: seeds of the task-open targets. */
function seedTrace(): AuditTrace {
  const r = new TraceRecorder([
    { layer: 0, projection: 0, inner: 4, cols: 3 },
    { layer: 1, projection: 0, inner: 4, cols: 3 },
  ])
  for (const i of [0, 1])
    r.append(
      i,
      Int8Array.from({ length: 12 }, (_, k) => k - 6),
      Int32Array.from({ length: 9 }, (_, k) => k * 1000 - 4000),
      Float32Array.of(0.5, 0.25, 0.125),
    )
  return r.finish()
}
const TRACE = seedTrace()
import { testSigner } from '../helpers/chainSim.js'
import { generate } from './inputs.js'
import { proofTargets } from './proofTargets.js'

// Every decoder of bytes from the network or the disk, fed generated input. Property: it either
// throws a typed error (a CordexError with a code) or returns a value whose canonical encoding is
// exactly the input (SPEC 1: two byte strings never decode to the same message).

const INFO_PROTOCOL = '/cordex/devnet/info/1.0.0'
const FRAME_MAX = 1 << 20

interface Target {
  name: string
  /** Valid encodings to mutate. */
  seeds: Uint8Array[]
  /** The decoder's size limit, for the boundary inputs around it. */
  maxBytes: number
  decode(b: Uint8Array): unknown
  /** The canonical encoding of a decoded value (omitted where the decoder's output is not the message). */
  reencode?(v: unknown): Uint8Array
}

const T = templates()

/** A fake LevelDB with one stored value per sublevel, for the chain store's record decoders. */
function storeOver(values: Map<string, Uint8Array | undefined>): ChainStore {
  const db = {
    sublevel: (name: string) => ({ get: async () => values.get(name) }),
  }
  return new ChainStore(db as never, T.registry, LIMITS)
}

const syncSource: BlockSource = {
  headHeight: () => T.blocks.length,
  blockBytes: async (h) => (T.blocks[h - 1] === undefined ? undefined : encodeBlock(T.blocks[h - 1]!)),
  commitBytes: async (h) => (T.commits[h - 1] === undefined ? undefined : encodeCommit(T.commits[h - 1]!)),
}
const sync = new SyncProtocol(
  { node: {} as never, log: silentLogger() },
  { network: 'devnet', chainId: CHAIN_ID, registry: T.registry, limits: LIMITS },
  { maxFrameBytes: FRAME_MAX, timeoutMs: 1000, maxInboundStreams: 1 },
)
// The request handler is the protocol's private method: the fuzz target is that function, not the stream.
const syncServe = (req: Uint8Array): Promise<Uint8Array> =>
  (sync as unknown as { serve(r: Uint8Array, s: BlockSource): Promise<Uint8Array> }).serve(req, syncSource)

const entryKeys = [...new Set(T.entries.map(([k]) => k))]

const targets: Target[] = [
  {
    name: 'decodeTx',
    seeds: T.txs.map((t) => t.bytes),
    maxBytes: LIMITS.maxTxBytes,
    decode: (b) => decodeTx(T.registry, b, LIMITS.maxTxBytes),
    reencode: (v) => (v as { bytes: Uint8Array }).bytes,
  },
  {
    name: 'decodeVote',
    seeds: T.votes,
    maxBytes: 512,
    decode: (b) => decodeVote(b),
    reencode: (v) => encodeVote(v as ReturnType<typeof decodeVote>),
  },
  {
    name: 'decodeProposal',
    seeds: T.proposals.map(encodeProposal),
    maxBytes: LIMITS.maxBlockBytes + 64 * 1024,
    decode: (b) => decodeProposal(b, T.registry, LIMITS),
    reencode: (v) => encodeProposal(v as ReturnType<typeof decodeProposal>),
  },
  {
    name: 'decodeBlock',
    seeds: T.blocks.map(encodeBlock),
    maxBytes: LIMITS.maxBlockBytes + 64 * 1024,
    decode: (b) => decodeBlock(b, T.registry, LIMITS),
    reencode: (v) => encodeBlock(v as Block),
  },
  {
    name: 'decodeCommit',
    seeds: T.commits.map(encodeCommit),
    maxBytes: 256 + LIMITS.maxValidators * 160,
    decode: (b) => decodeCommit(b, LIMITS.maxValidators),
    reencode: (v) => encodeCommit(v as ReturnType<typeof decodeCommit>),
  },
  {
    name: 'infer decodeRequest',
    seeds: T.inferRequests.map(encodeRequest),
    maxBytes: FRAME_MAX,
    decode: (b) => decodeRequest(b, FRAME_MAX),
    reencode: (v) => encodeRequest(v as ReturnType<typeof decodeRequest>),
  },
  {
    name: 'infer decodeFrame',
    seeds: T.inferFrames,
    maxBytes: FRAME_MAX,
    decode: (b) => decodeFrame(b, FRAME_MAX),
    reencode: (v) => encodeFrame(v as InferFrame),
  },
  {
    name: 'task decodeTaskRequest',
    seeds: [encodeTaskRequest(new Uint8Array(32).fill(3))],
    maxBytes: 64,
    decode: (b) => decodeTaskRequest(b),
    reencode: (v) => encodeTaskRequest(v as Uint8Array),
  },
  {
    name: 'task decodeTaskResponse',
    seeds: [
      encodeTaskResponse({ found: false }),
      encodeTaskResponse({
        found: true,
        record: testRecord(testSigner(1), testRequest(testSigner(2).peerId, 4)),
      }),
    ],
    maxBytes: 64 * 1024,
    decode: (b) => decodeTaskResponse(b),
    reencode: (v) => encodeTaskResponse(v as TaskResponse),
  },
  {
    name: 'task-open decodeOpenRequest',
    seeds: [
      encodeOpenRequest(new Uint8Array(32).fill(3), [
        { product: 0, rows: [0, 2] },
        { product: 1, rows: [1] },
      ]),
    ],
    maxBytes: 32 * 1024,
    decode: (b) => decodeOpenRequest(b),
    reencode: (v) => {
      const r = v as ReturnType<typeof decodeOpenRequest>
      return encodeOpenRequest(r.taskId, r.requests)
    },
  },
  {
    name: 'task-open decodeOpenResponse',
    seeds: [
      encodeOpenResponse(undefined),
      encodeOpenResponse(openTrace(TRACE, [{ product: 1, rows: [0, 2] }])),
    ],
    maxBytes: 64 * 1024,
    decode: (b) => decodeOpenResponse(b),
    reencode: (v) => encodeOpenResponse(v as ReturnType<typeof decodeOpenResponse>),
  },
  ...proofTargets,
  {
    name: 'info decodeInfo',
    seeds: T.info,
    maxBytes: 1024,
    decode: (b) => decodeInfo(b, INFO_PROTOCOL),
    reencode: (v) => encodeInfo(v as NodeInfo),
  },
  {
    name: 'receipt decodeReceipt',
    seeds: T.txs
      .filter((t) => t.type === 'TaskReceipt')
      .map((t) => encode(encodeReceipt((t.body as { receipt: Receipt }).receipt))),
    maxBytes: 4096,
    decode: (b) => decodeReceipt(decode(b, 4096, 'receipt')),
    reencode: (v) => encode(encodeReceipt(v as Receipt)),
  },
  {
    name: 'sync request handler',
    seeds: [encode([CHAIN_ID, 1, 64]), encode([CHAIN_ID, 0, 0]), encode([CHAIN_ID, 3, 2 ** 53 - 1])],
    maxBytes: 128,
    decode: (b) => syncServe(b),
  },
  {
    name: 'chainStore txIndex',
    seeds: [encode([5, null, null]), encode([7, 'BAD_BODY', 'body: expected bytes'])],
    maxBytes: 2048,
    decode: (b) => storeOver(new Map([['txindex', b]])).txIndex.get('k'),
    reencode: (v) => storeOver(new Map()).txIndex.put('k', v as TxResult).value,
  },
  {
    name: 'chainStore head',
    seeds: [encode([0, new Uint8Array(32), 1_000_000]), encode([9, new Uint8Array(32).fill(1), 2 ** 41])],
    maxBytes: 128,
    decode: async (b) => {
      const h = await storeOver(new Map([['meta', b]])).head()
      return h === undefined ? undefined : encode([h.height, h.hash, h.time])
    },
    reencode: (v) => v as Uint8Array,
  },
]

// State entries: one target, the key drawn per input (a stored key of every kind, or a junk one).
const entryTarget = {
  name: 'state decodeEntry',
  seeds: T.entries.map(([, v]) => v),
  maxBytes: 1 << 20,
}

/** Why `input` fails the decoder property, or undefined when it holds. */
async function check(
  t: Pick<Target, 'decode' | 'reencode'>,
  input: Uint8Array,
): Promise<[string, string] | undefined> {
  let value: unknown
  try {
    value = await t.decode(input)
  } catch (err) {
    if (isTyped(err)) return undefined
    return [
      `throws ${errorKind(err)}: ${normalize((err as Error).message)}`,
      String((err as Error).message).slice(0, 200),
    ]
  }
  if (t.reencode === undefined || value === undefined) return undefined
  let again: Uint8Array
  try {
    again = t.reencode(value)
  } catch (err) {
    return [`accepted, then re-encoding throws ${errorKind(err)}`, (err as Error).message.slice(0, 200)]
  }
  if (!equalBytes(again, input))
    return ['accepted a non-canonical input (re-encoding differs)', `re-encoded ${hex(again)}`]
  return undefined
}

/** Why a valid encoding fails to decode or to round-trip, or undefined. */
async function checkValid(
  t: Pick<Target, 'decode' | 'reencode'>,
  input: Uint8Array,
): Promise<[string, string] | undefined> {
  try {
    await t.decode(input)
  } catch (err) {
    return [
      `throws ${errorKind(err)}: ${normalize((err as Error).message)}`,
      (err as Error).message.slice(0, 200),
    ]
  }
  return check(t, input)
}

/** The stable part of an error message: numbers and quoted values out, so one bug is one kind. */
function normalize(msg: string): string {
  return msg.split(/\s+/).slice(0, 4).join(' ').replace(/\d+/g, 'N').slice(0, 60)
}

for (const target of targets) {
  test(`fuzz decoder: ${target.name}`, { timeout: testTimeout() }, async (t) => {
    const rng = rngFor(`decoder/${target.name}`)
    const n = budget('decoder')
    const tally = new Tally(`decoder/${target.name}`)
    const mem = new MemoryWatch()
    for (let i = 0; i < n; i++) {
      const input = generate(rng, target.seeds, target.maxBytes, T.all)
      tally.inputs++
      const bad = await check(target, input)
      if (bad === undefined) tally.count('ok')
      else tally.fail(bad[0], input, bad[1])
      if ((i & 255) === 0) mem.sample()
    }
    // The seeds are valid messages: each must decode and round-trip.
    for (const s of target.seeds) {
      const bad = await checkValid(target, s)
      if (bad !== undefined) tally.fail(`valid input refused: ${bad[0]}`, s, bad[1])
    }
    await tally.shrink((b) => check(target, b))
    const m = mem.finish()
    report(t, tally, m)
    assertClean(tally)
    assertBounded(tally.target, m.heapGrowth, 32 * MiB)
  })
}

test(`fuzz decoder: ${entryTarget.name}`, { timeout: testTimeout() }, async (t) => {
  const rng = rngFor(`decoder/${entryTarget.name}`)
  const n = budget('decoder')
  const tally = new Tally(`decoder/${entryTarget.name}`)
  const mem = new MemoryWatch()
  for (let i = 0; i < n; i++) {
    const key = rng.chance(0.9)
      ? rng.pick(entryKeys)
      : rng.pick(['', ':', 'acct', 'acct:', 'nope:x', weirdString(rng)])
    const seeds = T.entries.filter(([k]) => k === key).map(([, v]) => v)
    const input = generate(rng, seeds.length > 0 ? seeds : entryTarget.seeds, entryTarget.maxBytes, T.all)
    tally.inputs++
    const bad = await check(
      { decode: (b) => decodeEntry(key, b), reencode: (v) => encodeEntry(key, v) },
      input,
    )
    if (bad === undefined) tally.count('ok')
    else
      tally.fail(
        `${bad[0]} (key ${key.split(':')[0]})`,
        input,
        `key ${JSON.stringify(key.slice(0, 40))}: ${bad[1]}`,
      )
    if ((i & 255) === 0) mem.sample()
  }
  for (const [key, bytes] of T.entries) {
    const bad = await checkValid(
      { decode: (b) => decodeEntry(key, b), reencode: (v) => encodeEntry(key, v) },
      bytes,
    )
    if (bad !== undefined)
      tally.fail(`valid input refused: ${bad[0]} (key ${key.split(':')[0]})`, bytes, bad[1])
  }
  const m = mem.finish()
  report(t, tally, m)
  assertClean(tally)
  assertBounded(tally.target, m.heapGrowth, 32 * MiB)
})
