import { test } from 'node:test'
import assert from 'node:assert/strict'
import { peerIdFromString } from '@libp2p/peer-id'
import { baseRegistry, signTx, type SignedTx } from '../../../src/ledger/tx/index.js'
import { genesisState, type Genesis } from '../../../src/ledger/genesis.js'
import { getAccount } from '../../../src/ledger/state/access.js'
import { Mempool } from '../../../src/ledger/mempool.js'
import type { Signer } from '../../../src/ledger/crypto.js'
import { outputHash, taskFee, taskIdOf, verifyReceipt } from '../../../src/ledger/task/index.js'
import {
  generate,
  GREEDY,
  type Engine,
  type LoopModel,
  type TokenizerPool,
} from '../../../src/engine/index.js'
import { withinBudget, type InferRequest } from '../../../src/protocols/index.js'
import { executorHandler } from '../../../src/node/infer/executor.js'
import { TaskAdmission, type TaskLedger } from '../../../src/node/infer/taskAdmission.js'
import { silentLogger } from '../../../src/util/logger.js'
import { testGenesis, testSigner } from '../../helpers/chainSim.js'

// SPEC 7, `max_cost` as a gas limit, at the executor: generation stops when one more token would
// make the fee exceed the TaskOpen's escrow, and the receipt counts exactly what was generated.
// The real generation loop runs on a scripted model that never ends by itself.

const registry = baseRegistry()
const [gateway, executor] = [0, 2].map(testSigner) as [Signer, Signer]
const MODEL = 'kjv-small@0123456789abcdef'
const UNITS = 10
const PRICE = 3n
/** Base units a token costs: 30. */
const TOKEN_PRICE = BigInt(UNITS) * PRICE
const genesis: Genesis = {
  ...testGenesis([gateway, executor]),
  inference: { unitPrice: PRICE, models: [[MODEL, UNITS]] },
}
/** The prompt is one token a word: 5 tokens. */
const PROMPT = 'and God said let there'
const PROMPT_TOKENS = 5

function setup(contextLength = 256, eosAt = -1) {
  const state = genesisState(genesis)
  const mempool = new Mempool(registry, genesis.chainId)
  const chain: TaskLedger = {
    chainId: genesis.chainId,
    registry,
    limits: { maxTxBytes: 4096 },
    replica: { state, head: { height: 1 }, mempool },
    submit: (tx) => mempool.add(tx, state),
  }
  const admission = new TaskAdmission({ chain, clock: { now: () => 2_000_000 }, self: executor.peerId })
  // Emits token 1 ("x") at every step, or end-of-sequence (0) as output token `eosAt`.
  let step = 0
  const loop: LoopModel = {
    eos: [0],
    contextLength,
    decode: (ids) => ids.map(() => 'x').join(''),
    emptyCache: () => ({ past: {}, length: 0 }),
    step: async (cache, tokens) => {
      const logits = new Float32Array(4)
      logits[step++ === eosAt ? 0 : 1] = 10
      return { logits, cache: { past: {}, length: cache.length + tokens.length } }
    },
  }
  const model = {
    id: MODEL,
    manifest: { quantization: 'none' },
    spec: { contextLength },
    maxPromptChars: 10_000,
    minTokens: () => 1,
  }
  const engine = {
    model: (id: string) => (id === MODEL ? model : undefined),
    models: () => [model],
    generate: (_id: string, req: Parameters<typeof generate>[1], onChunk: Parameters<typeof generate>[2]) =>
      generate(loop, req, onChunk),
  } as unknown as Engine
  const tokenizer = {
    encode: async (_model: string, prompt: string) => prompt.split(' ').map(() => 2),
  } as unknown as TokenizerPool
  const handler = executorHandler({
    engine,
    tokenizer,
    admission,
    signer: executor,
    chainId: genesis.chainId,
    log: silentLogger(),
  })
  return { state, handler }
}

function taskOpen(state: ReturnType<typeof setup>['state'], maxCost: bigint): SignedTx {
  return signTx(registry, genesis.chainId, gateway, {
    type: 'TaskOpen',
    nonce: getAccount(state, gateway.peerId).nonce,
    fee: 1n,
    body: { model: MODEL, maxCost },
  })
}

async function serve(
  maxCost: bigint,
  maxTokens: number,
  opts: { contextLength?: number; eosAt?: number } = {},
) {
  const { state, handler } = setup(opts.contextLength, opts.eosAt)
  const open = taskOpen(state, maxCost)
  const req: InferRequest = {
    taskId: taskIdOf(gateway.peerId, open.nonce),
    model: MODEL,
    prompt: PROMPT,
    maxTokens,
    tokenPrice: TOKEN_PRICE,
    sampling: GREEDY,
    stop: [],
    open: open.bytes,
  }
  const streamed: number[] = []
  const done = await handler(req, {
    from: peerIdFromString(gateway.peerId),
    inputHash: new Uint8Array(32).fill(4),
    requestBytes: new Uint8Array(0),
    signal: new AbortController().signal,
    send: async (c) => {
      streamed.push(...c.tokens)
    },
  })
  return { req, done, streamed }
}

const fee = (tokens: number, maxCost: bigint): bigint => taskFee(tokens, UNITS, PRICE, maxCost)

test('generation stops where one more token would cost more than max_cost, and the receipt counts what was generated', async () => {
  // 12 tokens cost 360 and 13 cost 390: an escrow of 389 pays for the prompt (5) and 7 more.
  const maxCost = 389n
  const { req, done, streamed } = await serve(maxCost, 50)
  const { receipt } = done
  assert.equal(done.finishReason, 'budget')
  assert.equal(receipt.promptTokens, PROMPT_TOKENS)
  assert.equal(receipt.completionTokens, 7)
  assert.equal(streamed.length, 7, 'every token generated was streamed')
  assert.deepEqual(receipt.outputHash, outputHash(streamed))
  assert.ok(verifyReceipt(genesis.chainId, executor.peerId, receipt, done.sig))
  const total = receipt.promptTokens + receipt.completionTokens
  // The fee of what was generated fits the budget, uncapped; one more token would not.
  assert.equal(fee(total, maxCost), 360n)
  assert.ok(fee(total, maxCost) <= maxCost)
  assert.ok(BigInt(total + 1) * TOKEN_PRICE > maxCost)
  // The gateway's check accepts it, and refuses the same receipt claiming one more token.
  assert.ok(withinBudget(receipt, 'budget', req, maxCost, PROMPT_TOKENS, 256))
  assert.ok(!withinBudget({ ...receipt, completionTokens: 8 }, 'length', req, maxCost, PROMPT_TOKENS, 256))
  // ...or counting the prompt as more tokens than it has (billing beyond what was served).
  assert.ok(!withinBudget({ ...receipt, promptTokens: 6 }, 'budget', req, maxCost, PROMPT_TOKENS, 256))
  // ...or saying the budget ran out before it did.
  assert.ok(!withinBudget({ ...receipt, completionTokens: 6 }, 'budget', req, maxCost, PROMPT_TOKENS, 256))
})

test('an escrow that pays exactly for the tokens is spent to the last base unit', async () => {
  const { done } = await serve(360n, 50)
  assert.equal(done.finishReason, 'budget')
  assert.equal(done.receipt.completionTokens, 7)
  assert.equal(fee(12, 360n), 360n)
})

test('the client’s own limits come first: max_tokens, the context, an end of sequence', async () => {
  // max_tokens below the budget, and equal to it: the client's limit is named.
  for (const maxTokens of [3, 7]) {
    const { done } = await serve(389n, maxTokens)
    assert.equal(done.finishReason, 'length', `max_tokens ${maxTokens}`)
    assert.equal(done.receipt.completionTokens, maxTokens)
  }
  // The context ends the output where the budget would have: the context is named.
  const ctx = await serve(389n, 50, { contextLength: 12 })
  assert.equal(ctx.done.finishReason, 'length')
  assert.equal(ctx.done.receipt.completionTokens, 7)
  // An end-of-sequence token as the budget's last token: the model ended it.
  const eos = await serve(389n, 50, { eosAt: 6 })
  assert.equal(eos.done.finishReason, 'stop')
  assert.equal(eos.done.receipt.completionTokens, 7)
})

test('an escrow that does not pay for the prompt and one token is refused before generation', async () => {
  await assert.rejects(
    serve(179n, 50),
    (err: unknown) => (err as { code?: string }).code === 'ESCROW_TOO_LOW',
  )
  const { done } = await serve(180n, 50)
  assert.equal(done.receipt.completionTokens, 1)
  assert.equal(done.finishReason, 'budget')
})
