import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import OpenAI from 'openai'
import { Agent, fetch as undiciFetch } from 'undici'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { TestDaemon, type StatusJson, balanceOn, settledBalanceOn, waitForHosts } from '../helpers/daemon.js'
import { tempDir, waitFor, cordex, ROOT } from '../helpers/cli.js'
import { startDevnet, type RunningDevnet } from '../helpers/devnet.js'
import { devnetConfig, startNodes, stopNodes } from '../../bench/lib/nodes.js'
import { Engine, GREEDY } from '../../src/engine/index.js'
import { executorOrder, fromHex, verifyReceipt, type Receipt } from '../../src/ledger/index.js'
import { encodeRequest, decodeFrame } from '../../src/protocols/infer/codec.js'
import { samplingSeed } from '../../src/node/infer/seed.js'
import { readApiToken } from '../../src/node/index.js'

// A devnet of 4 daemons: peer 0 is the client's gateway and hosts nothing; peers 1-3 host the
// model. Transactions cost no fee here, so the client's balance moves only by task fees.

interface ModelList {
  data: Array<{ id: string; cordex: { model_id: string; hosts: number } }>
}
interface CordexField {
  task_id: string
  executor: string
  cost: string
  budget_exhausted: boolean
  attempts: string[]
  receipt: Record<string, unknown> & { sig: string }
}
interface TaskRecord {
  taskId: string
  executor: string
  prompt: string
  tokens: number[]
  request: { sampling: Parameters<Engine['generate']>[1]['sampling']; stop: string[]; maxTokens: number }
  route: { seed: string; candidates: Array<[string, number]>; order: string[]; attempts: string[] }
}

const dir = tempDir()
const base = join(dir.path, 'net')
let devnet: RunningDevnet
let gateway: TestDaemon
let peers: StatusJson[]
let chainId: string
let openaiTcp: OpenAI
let openaiUnix: OpenAI
/** The gateway's API token, which its TCP listener requires. */
let token: string

const balance = (): Promise<bigint> => balanceOn(gateway, peers[0]!.peerId)
const settledBalance = (): Promise<bigint> => settledBalanceOn(gateway, peers[0]!.peerId)

/**
 * A streamed greedy completion of 200 tokens: each of the prompts used with it runs the full length
 * (no end-of-sequence; checked), so a test can interrupt it mid-stream.
 */
const longStream = (prompt: string) =>
  openaiTcp.completions.create({ model: 'kjv-small', prompt, max_tokens: 200, temperature: 0, stream: true })

const task = async (id: string): Promise<TaskRecord> => (await gateway.get<TaskRecord>(`/tasks/${id}`)).body

function receiptOf(c: CordexField): { receipt: Receipt; sig: Uint8Array } {
  const r = c.receipt as Record<string, string | number>
  return {
    receipt: {
      taskId: fromHex(String(r.taskId)),
      modelId: String(r.modelId),
      inputHash: fromHex(String(r.inputHash)),
      outputHash: fromHex(String(r.outputHash)),
      promptTokens: Number(r.promptTokens),
      completionTokens: Number(r.completionTokens),
    },
    sig: fromHex(c.receipt.sig),
  }
}

before(async () => {
  mkdirSync(join(base, 'peer-0'), { recursive: true })
  // Peer 0's balance moves by its tasks' fees alone (the tests check it to the base unit): no
  // transaction fees, and no fine for a Race reveal it misses on a loaded machine (which took 10^9
  // base units from it once, with two test files running at once).
  writeFileSync(
    join(base, 'peer-0', 'config.json'),
    JSON.stringify({
      network: 'devnet',
      engine: { enabled: false },
      genesis: { params: { minTxFee: '0' }, race: { noRevealPenalty: '0' } },
    }),
  )
  devnet = await startDevnet(base, 4, ['--api'])
  peers = devnet.peers
  gateway = new TestDaemon(join(base, 'peer-0'))
  chainId = (
    JSON.parse(readFileSync(join(base, 'peer-0', 'config.json'), 'utf8')) as { genesis: { chainId: string } }
  ).genesis.chainId
  token = await readApiToken(gateway.dataDir)
  openaiTcp = new OpenAI({ baseURL: `${peers[0]!.apiUrl}/v1`, apiKey: token, maxRetries: 0 })
  const agent = new Agent({ connect: { socketPath: gateway.socket } })
  openaiUnix = new OpenAI({
    baseURL: 'http://localhost/v1',
    apiKey: 'none',
    maxRetries: 0,
    fetch: ((url: string, init: Record<string, unknown>) =>
      undiciFetch(url, { ...init, dispatcher: agent } as never)) as never,
  })
  // Every host announced the model; the gateway announced nothing.
  await waitForHosts(gateway, 3)
})

after(async () => {
  await gateway?.stop()
  await devnet?.stop()
  dir.cleanup()
})

test('the openai package lists models and streams a chat completion, over TCP and over the Unix socket', async () => {
  for (const client of [openaiTcp, openaiUnix]) {
    const models = await client.models.list()
    assert.equal(models.data[0]?.id, 'kjv-small')
    const stream = await client.chat.completions.create({
      model: 'kjv-small',
      messages: [{ role: 'user', content: 'Who made the heaven and the earth?' }],
      max_tokens: 24,
      temperature: 0,
      stream: true,
    })
    let text = ''
    let last: Record<string, unknown> = {}
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? ''
      last = chunk as unknown as Record<string, unknown>
    }
    assert.ok(text.length > 0, 'some text streamed')
    const c = last.cordex as CordexField
    assert.notEqual(c.executor, peers[0]!.peerId, 'the gateway hosts nothing')
    const { receipt, sig } = receiptOf(c)
    assert.ok(verifyReceipt(chainId, c.executor, receipt, sig), 'the receipt verifies')
    assert.equal((last.usage as { completion_tokens: number }).completion_tokens, receipt.completionTokens)
  }
})

test('tasks run where the weighted draw says, give the local engine’s tokens, and cost the client exactly their fees', async () => {
  const start = await settledBalance()
  const engine = await Engine.start({
    models: [join(ROOT, 'models', 'kjv-small')],
    maxActive: 1,
    maxQueue: 4,
  })
  try {
    let spent = 0n
    for (const [i, sampling] of [
      { temperature: 0 },
      { temperature: 0.8, top_k: 40, repetition_penalty: 1.2 },
      { temperature: 1, top_p: 0.9, frequency_penalty: 0.5 },
      { temperature: 0 },
      { temperature: 0.7 },
      { temperature: 0 },
    ].entries()) {
      const r = (await openaiTcp.completions.create({
        model: 'kjv-small',
        prompt: i % 2 === 0 ? 'And the LORD said unto Moses,' : 'In the beginning',
        max_tokens: 20,
        ...sampling,
      } as never)) as unknown as { cordex: CordexField; choices: Array<{ text: string }> }
      const c = r.cordex
      spent += BigInt(c.cost)
      assert.equal(c.budget_exhausted, false)
      const rec = await task(c.task_id)
      // Anyone can recompute the draw from the task id, the seed and the weighted hosts.
      assert.deepEqual(
        executorOrder(rec.route.candidates, fromHex(c.task_id), fromHex(rec.route.seed)),
        rec.route.order,
      )
      assert.equal(c.executor, rec.route.order[0])
      assert.ok(!rec.route.candidates.some(([id]) => id === peers[0]!.peerId))
      // The local engine, given the same request and the task's seed, gives the same tokens.
      const model = engine.model('kjv-small')!
      const local = await engine.generate(
        model.id,
        {
          promptIds: model.encode(rec.prompt),
          sampling: rec.request.sampling,
          seed: samplingSeed(fromHex(c.task_id)),
          maxTokens: rec.request.maxTokens,
          stop: rec.request.stop,
        },
        () => {},
      )
      assert.deepEqual(local.tokens, rec.tokens, `task ${i}`)
      assert.equal(local.text, r.choices[0]?.text)
    }
    // Once every receipt is in a block, the client has paid exactly the fees.
    await waitFor(
      'settlement',
      async () => ((await balance()) === start - spent ? true : undefined),
      30_000,
    ).catch(async () => assert.equal(await balance(), start - spent))
  } finally {
    await engine.stop()
  }
})

test('max_cost is a gas limit: the answer stops where one more token would cost more, and costs exactly its tokens', async () => {
  const { inference } = (
    JSON.parse(readFileSync(join(base, 'peer-0', 'config.json'), 'utf8')) as {
      genesis: { inference: { unitPrice: string; models: Array<{ unitsPerToken: number }> } }
    }
  ).genesis
  // The rules (SPEC 5.3): tokens × units per token × unit price.
  const perToken = BigInt(inference.models[0]!.unitsPerToken) * BigInt(inference.unitPrice)
  // A greedy completion of this prompt runs 200 tokens (longStream), and so does this chat past 3.
  const prompt = 'And the LORD spake unto Moses, saying,'
  const messages = [{ role: 'user' as const, content: 'Who made the heaven and the earth?' }]
  // Each prompt's tokens, from a first answer of one token.
  const promptTokens = (await openaiTcp.completions.create({ model: 'kjv-small', prompt, max_tokens: 1 }))
    .usage!.prompt_tokens
  const chatTokens = (
    await openaiTcp.chat.completions.create({ model: 'kjv-small', messages, max_tokens: 1, temperature: 0 })
  ).usage!.prompt_tokens
  const start = await settledBalance()
  // Escrows that pay for the prompt, 6 (and 3) tokens and half of one more; max_tokens asks for 50.
  const maxCost = BigInt(promptTokens + 6) * perToken + perToken / 2n
  const r = (await openaiTcp.completions.create({
    model: 'kjv-small',
    prompt,
    max_tokens: 50,
    temperature: 0,
    max_cost: maxCost.toString(),
  } as never)) as unknown as {
    cordex: CordexField
    usage: { completion_tokens: number }
    choices: Array<{ finish_reason: string }>
  }
  assert.equal(r.choices[0]!.finish_reason, 'length')
  assert.equal(r.cordex.budget_exhausted, true)
  assert.equal(r.usage.completion_tokens, 6)
  const fee = BigInt(promptTokens + 6) * perToken
  assert.equal(BigInt(r.cordex.cost), fee)
  assert.ok(fee <= maxCost && fee + perToken > maxCost, 'one more token would have cost more than max_cost')

  const chatCost = BigInt(chatTokens + 3) * perToken + perToken / 2n
  const stream = await openaiTcp.chat.completions.create({
    model: 'kjv-small',
    messages,
    max_tokens: 50,
    temperature: 0,
    stream: true,
    max_cost: chatCost.toString(),
  } as never)
  let last: Record<string, unknown> = {}
  let finish: string | null = null
  for await (const chunk of stream as unknown as AsyncIterable<Record<string, unknown>>) {
    finish = (chunk.choices as Array<{ finish_reason: string | null }>)[0]?.finish_reason ?? finish
    last = chunk
  }
  assert.equal(finish, 'length')
  assert.equal((last.cordex as CordexField).budget_exhausted, true)
  assert.equal((last.usage as { completion_tokens: number }).completion_tokens, 3)
  const chatFee = BigInt(chatTokens + 3) * perToken
  assert.equal(BigInt((last.cordex as CordexField).cost), chatFee)
  // The task record holds exactly the tokens paid for.
  assert.equal((await task((last.cordex as CordexField).task_id)).tokens.length, 3)
  // Once both receipts are in a block, the client has paid exactly those fees, and nothing more.
  await waitFor(
    'settlement',
    async () => ((await balance()) === start - fee - chatFee ? true : undefined),
    60_000,
  )
  assert.equal(await settledBalance(), start - fee - chatFee)
})

test('refusals are immediate and specific and escrow nothing', async () => {
  const start = await settledBalance()
  const expectError = async (
    p: Promise<unknown>,
    status: number,
    code: string,
    text?: RegExp,
  ): Promise<void> => {
    await assert.rejects(p, (e: unknown) => {
      const err = e as { status?: number; code?: string; message?: string }
      assert.equal(err.status, status, err.message)
      assert.equal(err.code, code)
      if (text !== undefined) assert.match(err.message ?? '', text)
      return true
    })
  }
  await expectError(
    openaiTcp.chat.completions.create({ model: 'gpt-4', messages: [{ role: 'user', content: 'hi' }] }),
    404,
    'model_not_found',
    /Available: kjv-small/,
  )
  await expectError(
    openaiTcp.completions.create({ model: 'kjv-small', prompt: 'and it came to pass '.repeat(80) }),
    400,
    'context_length_exceeded',
  )
  await expectError(
    openaiTcp.completions.create({ model: 'kjv-small', prompt: 'x', max_tokens: 0 }),
    400,
    'invalid_value',
  )
  await expectError(
    openaiTcp.completions.create({ model: 'kjv-small', prompt: 'x', max_tokens: 100_000 }),
    400,
    'invalid_value',
  )
  await expectError(
    openaiTcp.completions.create({ model: 'kjv-small', prompt: 'x', max_cost: String(start + 1n) } as never),
    402,
    'insufficient_funds',
  )
  const raw = await fetch(`${peers[0]!.apiUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: '{"model": "kjv-small", "messages": [',
  })
  assert.equal(raw.status, 400)
  assert.equal(((await raw.json()) as { error: { code: string } }).error.code, 'INVALID_JSON')
  // Nothing was escrowed: the balance has not moved, two blocks later.
  assert.equal(await settledBalance(), start)
})

test('cordex prompt --json answers with text, task, executor, usage and cost', async () => {
  const r = await cordex([
    'prompt',
    'And God said,',
    '--max-tokens',
    '8',
    '--json',
    '--data-dir',
    gateway.dataDir,
  ])
  assert.equal(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout) as {
    text: string
    taskId: string
    executor: string
    usage: { total_tokens: number }
    cost: string
  }
  assert.match(out.taskId, /^[0-9a-f]{64}$/)
  assert.ok(peers.slice(1).some((p) => p.peerId === out.executor))
  assert.ok(out.usage.total_tokens > 0)
  assert.ok(BigInt(out.cost) > 0n)
  assert.equal(typeof out.text, 'string')
})

test('a client that goes away mid-stream cancels the task and gets its escrow back', async () => {
  const start = await settledBalance()
  const stream = await longStream('And the LORD spake unto Moses, saying,')
  for await (const chunk of stream) {
    if ((chunk as unknown as { cordex?: unknown }).cordex !== undefined) break // leaves and aborts the request
  }
  await waitFor('the refund', async () => ((await settledBalance()) === start ? true : undefined), 30_000)
})

test('malformed and oversized infer frames reset that stream only; the host keeps serving', async () => {
  const [node] = await startNodes(1, devnetConfig())
  try {
    const host = peers[1]!
    await node!.dial(multiaddr(host.addrs[0]!))
    const protocol = '/cordex/devnet/infer/1.0.0'
    // Oversized: a length prefix of 64 MiB.
    const big = await node!.dialProtocol(multiaddr(host.addrs[0]!), protocol)
    big.send(Uint8Array.of(0x80, 0x80, 0x80, 0x20))
    const bigLp = lpStream(big)
    const answer = decodeFrame((await bigLp.read({ signal: AbortSignal.timeout(5000) })).subarray(), 1 << 20)
    assert.equal(answer.kind === 'error' && answer.code, 'BAD_REQUEST')
    await assert.rejects(bigLp.read({ signal: AbortSignal.timeout(5000) }), 'then the stream is reset')
    // Malformed: a well-framed request that is not CBOR gets an error frame.
    const junk = lpStream(await node!.dialProtocol(multiaddr(host.addrs[0]!), protocol))
    await junk.write(new TextEncoder().encode('not a request'))
    const frame = decodeFrame((await junk.read({ signal: AbortSignal.timeout(5000) })).subarray(), 1 << 20)
    assert.equal(frame.kind, 'error')
    assert.equal(frame.kind === 'error' && frame.code, 'BAD_REQUEST')
    // A well-formed request for a task that nobody opened or paid for is refused: no receipt.
    const modelId = (await gateway.get<ModelList>('/v1/models')).body.data[0]!.cordex.model_id
    const unpaid = lpStream(await node!.dialProtocol(multiaddr(host.addrs[0]!), protocol))
    await unpaid.write(
      encodeRequest({
        taskId: new Uint8Array(32).fill(9),
        model: modelId,
        prompt: 'And God said,',
        maxTokens: 5,
        tokenPrice: 7499n,
        sampling: GREEDY,
        stop: [],
        open: new Uint8Array(0),
      }),
    )
    const refused = decodeFrame(
      (await unpaid.read({ signal: AbortSignal.timeout(10_000) })).subarray(),
      1 << 20,
    )
    assert.equal(refused.kind === 'error' && refused.code, 'TASK_NOT_OPEN')
    // The hosts keep serving paid tasks.
    const r = await openaiTcp.completions.create({
      model: 'kjv-small',
      prompt: 'And God said,',
      max_tokens: 5,
    })
    assert.ok((r as unknown as { cordex: CordexField }).cordex.receipt.sig.length > 0)
  } finally {
    await stopNodes([node!])
  }
})

test('a gateway killed mid-task refunds its escrow when it starts again', async () => {
  const start = await settledBalance()
  const stream = await longStream('And it came to pass,')
  let executor: StatusJson | undefined
  const consumed = (async () => {
    for await (const chunk of stream) {
      const id = (chunk as unknown as { cordex?: { executor: string } }).cordex?.executor
      if (id !== undefined && executor === undefined) {
        // Pause the executor mid-stream, so that the task is still open when the gateway dies.
        executor = peers.find((p) => p.peerId === id)!
        process.kill(executor.pid, 'SIGSTOP')
      }
    }
  })()
  consumed.catch(() => {})
  try {
    await waitFor('the escrow in a block', async () =>
      executor !== undefined && (await balance()) < start ? true : undefined,
    )
    process.kill(peers[0]!.pid, 'SIGKILL')
    await assert.rejects(consumed)
  } finally {
    if (executor !== undefined) process.kill(executor.pid, 'SIGCONT')
  }
  await gateway.start()
  await waitFor('the refund', async () => ((await balance()) === start ? true : undefined), 60_000)
  assert.match(gateway.output, /refunding an unsettled task/)
})

test('an executor killed mid-stream: the client gets a clear error and its escrow back', async () => {
  const start = await settledBalance()
  const stream = await longStream('And it came to pass,')
  let killed: StatusJson | undefined
  await assert.rejects(
    (async () => {
      for await (const chunk of stream) {
        const executor = (chunk as unknown as { cordex?: { executor: string } }).cordex?.executor
        if (executor !== undefined && killed === undefined) {
          killed = peers.find((p) => p.peerId === executor)!
          process.kill(killed.pid, 'SIGKILL')
        }
      }
    })(),
    (e: unknown) => {
      assert.match((e as Error).message, /failed, escrow refunded/)
      return true
    },
  )
  assert.ok(killed !== undefined)
  // The refund needs a block, which the three validators left make slower (the killed one's turns
  // to propose time out): on a loaded machine, over 30 s.
  await waitFor('the refund', async () => ((await balance()) === start ? true : undefined), 90_000)

  // The dead host still has weight: a task that draws it first moves on to the next draw.
  let moved: CordexField | undefined
  for (let i = 0; i < 60 && moved === undefined; i++) {
    const r = (await openaiTcp.completions.create({
      model: 'kjv-small',
      prompt: 'And',
      max_tokens: 3,
    })) as unknown as {
      cordex: CordexField
    }
    assert.notEqual(r.cordex.executor, killed.peerId)
    if (r.cordex.attempts[0] === killed.peerId) moved = r.cordex
  }
  assert.ok(moved !== undefined, 'a task drew the dead host first')
  assert.equal(moved.attempts.length, 2)
  const code = (await cordex(['status', '--data-dir', join(base, `peer-${peers.indexOf(killed)}`)])).code
  assert.equal(code, 3, 'the killed daemon is gone')
})
