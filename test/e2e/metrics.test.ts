import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { TestDaemon, type StatusJson, waitForHosts } from '../helpers/daemon.js'
import { tempDir, waitFor } from '../helpers/cli.js'
import { startDevnet, type RunningDevnet } from '../helpers/devnet.js'
import { parsePrometheus, total, type Family } from '../helpers/prometheus.js'

// Two daemons: peer 0 is a gateway that hosts nothing, peer 1 hosts the model. A transfer and a
// completion sent through peer 0's socket must move the counters both export on `GET /metrics`.

interface Scrape {
  status: number
  contentType: string
  text: string
}

/** GET /metrics over a Unix socket, or over TCP at `url` with `token` (none: no Authorization). */
function scrape(where: { socket: string } | { url: string; token?: string }): Promise<Scrape> {
  const target =
    'socket' in where
      ? { socketPath: where.socket, path: '/metrics', headers: {} }
      : {
          host: new URL(where.url).hostname,
          port: Number(new URL(where.url).port),
          path: '/metrics',
          headers: where.token === undefined ? {} : { authorization: `Bearer ${where.token}` },
        }
  return new Promise((resolve, reject) => {
    http
      .get({ ...target, timeout: 30_000 }, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (text += d))
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), text }),
        )
      })
      .on('error', reject)
  })
}

/** Scrape over the socket and parse; anything but a 200 in Prometheus' text format fails. */
async function metricsOf(d: TestDaemon): Promise<Map<string, Family>> {
  const r = await scrape({ socket: d.socket })
  assert.equal(r.status, 200, r.text.slice(0, 300))
  assert.equal(r.contentType, 'text/plain; version=0.0.4; charset=utf-8')
  return parsePrometheus(r.text)
}

const dir = tempDir()
const base = join(dir.path, 'net')
let devnet: RunningDevnet
let gateway: TestDaemon
let host: TestDaemon
let peers: StatusJson[]

before(async () => {
  mkdirSync(join(base, 'peer-0'), { recursive: true })
  writeFileSync(
    join(base, 'peer-0', 'config.json'),
    JSON.stringify({ network: 'devnet', engine: { enabled: false }, genesis: { params: { minTxFee: '0' } } }),
  )
  devnet = await startDevnet(base, 2, ['--api'])
  peers = devnet.peers
  gateway = new TestDaemon(join(base, 'peer-0'))
  host = new TestDaemon(join(base, 'peer-1'))
  await waitForHosts(gateway, 1)
})

after(async () => {
  await devnet?.stop()
  dir.cleanup()
})

test('GET /metrics parses as Prometheus text, and a transfer and a completion move its counters', async () => {
  const g0 = await metricsOf(gateway)
  const h0 = await metricsOf(host)
  for (const name of [
    'cordex_p2p_peers',
    'cordex_chain_height',
    'cordex_gossip_messages_received_total',
    'cordex_gateway_time_to_first_token_seconds',
    'cordex_engine_jobs',
    'process_cpu_seconds_total',
  ])
    assert.ok(g0.has(name), `the gateway exports ${name}`)
  assert.ok(total(g0, 'cordex_p2p_peers') >= 1, 'the gateway sees its peer')
  assert.ok(total(h0, 'cordex_engine_jobs', { state: 'active' }) >= 0)

  // A transfer from the gateway to the host, and a completion the host executes.
  const sent = await gateway.post<{ hash: string }>('/tx', {
    type: 'Transfer',
    body: { to: peers[1]!.peerId, amount: '1' },
  })
  assert.equal(sent.status, 200, JSON.stringify(sent.body))
  const completion = await gateway.post<{ choices: Array<{ text: string }>; cordex: { executor: string } }>(
    '/v1/completions',
    { model: 'kjv-small', prompt: 'In the beginning', max_tokens: 12, temperature: 0 },
  )
  assert.equal(completion.status, 200, JSON.stringify(completion.body))
  assert.equal(completion.body.cordex.executor, peers[1]!.peerId)
  await waitFor('the transfer in a block', async () => {
    const r = await gateway.get<{ status: string; ok: boolean }>(`/ledger/tx/${sent.body.hash}`)
    return r.body.status === 'committed' ? true : undefined
  })

  const g1 = await metricsOf(gateway)
  const h1 = await metricsOf(host)
  const delta = (a: Map<string, Family>, b: Map<string, Family>, name: string, labels = {}): number =>
    total(b, name, labels) - total(a, name, labels)
  // The gateway: blocks went by, it published the transfer and the task's escrow and received votes.
  assert.ok(delta(g0, g1, 'cordex_chain_height') > 0, 'the height grew')
  assert.ok(delta(g0, g1, 'cordex_chain_blocks_total') > 0, 'blocks were counted')
  assert.ok(delta(g0, g1, 'cordex_chain_block_interval_seconds_count') > 0, 'block intervals were observed')
  assert.ok(delta(g0, g1, 'cordex_chain_txs_total', { type: 'Transfer', result: 'ok' }) >= 1, 'the transfer')
  assert.ok(
    delta(g0, g1, 'cordex_gossip_messages_published_total', { topic: 'tx', result: 'sent' }) >= 2,
    'the transfer and the TaskOpen went out',
  )
  assert.ok(
    delta(g0, g1, 'cordex_gossip_messages_received_total', { topic: 'vote', result: 'accept' }) > 0,
    'votes came in',
  )
  // The task, once, completed, with its first token and its whole time observed.
  assert.equal(delta(g0, g1, 'cordex_gateway_tasks_total', { outcome: 'completed' }), 1)
  assert.equal(delta(g0, g1, 'cordex_gateway_tasks_total'), 1, 'no other outcome')
  assert.equal(delta(g0, g1, 'cordex_gateway_time_to_first_token_seconds_count'), 1)
  assert.equal(delta(g0, g1, 'cordex_gateway_task_duration_seconds_count'), 1)
  assert.ok(delta(g0, g1, 'cordex_gateway_task_duration_seconds_sum') > 0)
  // The host: it received the gateway's transactions by gossip and ran the task on its engine.
  // (The TaskOpen also comes with the task itself: when that is first, its gossip is ignored.)
  assert.ok(
    delta(h0, h1, 'cordex_gossip_messages_received_total', { topic: 'tx' }) >= 2,
    'the transfer and the TaskOpen came in',
  )
  assert.ok(delta(h0, h1, 'cordex_gossip_messages_received_total', { topic: 'tx', result: 'accept' }) >= 1)
  assert.ok(delta(h0, h1, 'cordex_engine_prefill_tokens_total') >= 3, 'the prompt was prefilled')
  assert.ok(delta(h0, h1, 'cordex_engine_prefill_seconds_total') > 0)
  assert.ok(delta(h0, h1, 'cordex_engine_decode_tokens_total') >= 1, 'output was decoded')
  assert.ok(delta(h0, h1, 'cordex_engine_decode_seconds_total') > 0)
})

test('over TCP, GET /metrics takes the bearer token like every other route', async () => {
  const url = peers[0]!.apiUrl!
  const token = await gateway.apiToken()
  const ok = await scrape({ url, token })
  assert.equal(ok.status, 200)
  assert.equal(ok.contentType, 'text/plain; version=0.0.4; charset=utf-8')
  const families = parsePrometheus(ok.text)
  assert.ok(total(families, 'cordex_chain_height') > 0)
  assert.ok(total(families, 'cordex_gateway_tasks_total', { outcome: 'completed' }) >= 1)
  for (const refused of [await scrape({ url }), await scrape({ url, token: `${token}x` })]) {
    assert.equal(refused.status, 401)
    assert.doesNotMatch(refused.text, /cordex_/, 'no metric leaks with the refusal')
  }
})
