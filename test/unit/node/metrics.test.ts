import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Registry, collectDefaultMetrics } from 'prom-client'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { peerIdFromString } from '@libp2p/peer-id'
import { createMetrics } from '../../../src/node/metrics.js'
import { LedgerGossip } from '../../../src/protocols/ledgerGossip.js'
import { baseRegistry } from '../../../src/ledger/tx/index.js'
import { createLogger } from '../../../src/util/logger.js'
import { parsePrometheus, total } from '../../helpers/prometheus.js'
import { ROOT } from '../../helpers/cli.js'

const PEER = '12D3KooWGRUVh2HkAjEHDXxTzrafp2F2uZ4bQFZnJUSLCK9rEEPL'

test('every metric is cordex_*, with its unit in its name and only low-cardinality labels', async () => {
  const registry = new Registry()
  createMetrics(registry)
  // The metric objects themselves (prom-client keeps each one's label names on it).
  const metrics = registry.getMetricsAsArray() as unknown as Array<{
    name: string
    labelNames: string[]
    constructor: { name: string }
  }>
  assert.ok(metrics.length >= 25, `${metrics.length} metrics`)
  const allowed = new Set([
    'topic',
    'result',
    'outcome',
    'direction',
    'state',
    'scope',
    'type',
    'kind',
    'duty',
  ])
  let labelled = 0
  for (const m of metrics) {
    assert.match(m.name, /^cordex_[a-z0-9_]+$/)
    const kind = m.constructor.name
    if (kind === 'Counter') assert.match(m.name, /_total$/, `${m.name} is a counter`)
    if (kind === 'Histogram') assert.match(m.name, /_seconds$/, `${m.name} is a histogram of times`)
    for (const l of m.labelNames) assert.ok(allowed.has(l), `${m.name} has label ${l}`)
    if (m.labelNames.length > 0) labelled++
  }
  assert.ok(labelled >= 8, `${labelled} metrics with labels`)
  // Its own registry: prom-client's global one holds none of them.
  const { register } = await import('prom-client')
  assert.equal(register.getSingleMetric('cordex_chain_height'), undefined)
})

test('the registry renders as Prometheus text that parses, with the values observed', async () => {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const m = createMetrics(registry)
  m.gossip.received.inc({ topic: 'tx', result: 'accept' })
  m.gossip.received.inc({ topic: 'tx', result: 'accept' })
  m.gossip.received.inc({ topic: 'vote', result: 'reject' })
  m.gateway.tasks.inc({ outcome: 'completed' })
  m.gateway.duration.observe(0.3)
  m.gateway.duration.observe(7)
  m.engine.decodeTokens.inc(12)
  // State gauges are read at scrape time, from every reader added.
  let height = 5
  m.chain.height.addCollect((g) => g.set(height))
  m.engine.jobs.addCollect((g) => {
    g.set({ state: 'active' }, 1)
    g.set({ state: 'waiting' }, 2)
  })
  const first = parsePrometheus(await registry.metrics())
  assert.equal(total(first, 'cordex_gossip_messages_received_total', { topic: 'tx', result: 'accept' }), 2)
  assert.equal(total(first, 'cordex_gossip_messages_received_total'), 3)
  assert.equal(total(first, 'cordex_gateway_tasks_total', { outcome: 'completed' }), 1)
  assert.equal(total(first, 'cordex_gateway_task_duration_seconds_count'), 2)
  assert.equal(total(first, 'cordex_gateway_task_duration_seconds_bucket', { le: '0.5' }), 1)
  assert.equal(total(first, 'cordex_gateway_task_duration_seconds_bucket', { le: '+Inf' }), 2)
  assert.equal(total(first, 'cordex_engine_decode_tokens_total'), 12)
  assert.equal(total(first, 'cordex_chain_height'), 5)
  assert.equal(total(first, 'cordex_engine_jobs', { state: 'waiting' }), 2)
  assert.equal(first.get('cordex_gateway_task_duration_seconds')?.type, 'histogram')
  assert.ok(first.has('process_cpu_seconds_total'), 'the process metrics come along')
  height = 6
  assert.equal(total(parsePrometheus(await registry.metrics()), 'cordex_chain_height'), 6)
  assert.equal(registry.contentType, 'text/plain; version=0.0.4; charset=utf-8')
})

test('the parser refuses what Prometheus would', () => {
  const ok = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 2\n'
  assert.equal(total(parsePrometheus(ok), 'a_total'), 2)
  for (const bad of [
    ok.trimEnd(), // no final newline
    '# TYPE a_total counter\na_total{x="1} 2\n', // unterminated label value
    '# TYPE a_total counter\na_total{x="1"} two\n', // not a number
    '# TYPE a_total counter\nb_total 2\n', // a sample outside its family
    '# TYPE a_total counter\na_total 1\na_total 2\n', // a series twice
    '# TYPE a_seconds histogram\na_seconds_bucket{le="1"} 2\na_seconds_bucket{le="+Inf"} 1\na_seconds_sum 1\na_seconds_count 1\n',
  ])
    assert.throws(() => parsePrometheus(bad), Error, JSON.stringify(bad))
})

test('the ledger gossip counts what it receives, by topic and result, and what it publishes', async () => {
  type Validate = (from: unknown, m: { data: Uint8Array }) => TopicValidatorResult
  const pubsub = {
    topicValidators: new Map(),
    subscribe: () => {},
    unsubscribe: () => {},
    publish: async () => ({ recipients: [] }),
  }
  const registry = new Registry()
  const metrics = createMetrics(registry)
  const gossip = new LedgerGossip(
    { pubsub: pubsub as never, log: createLogger({ level: 'silent' }), metrics: metrics.gossip },
    {
      network: 'test',
      chainId: 'cordex-sim',
      registry: baseRegistry(),
      limits: { maxBlockBytes: 1 << 20, maxBlockTxs: 100, maxTxBytes: 4096, maxValidators: 100 },
    },
    { onTx: () => 'ignore', onProposal: () => 'accept', onVote: () => 'accept' },
  )
  gossip.start()
  const from = peerIdFromString(PEER)
  const garbage = { data: new Uint8Array([0xff, 0x00, 0x13]) }
  ;(pubsub.topicValidators.get(gossip.topics.vote) as Validate)(from, garbage)
  ;(pubsub.topicValidators.get(gossip.topics.vote) as Validate)(from, garbage)
  ;(pubsub.topicValidators.get(gossip.topics.proposal) as Validate)(from, garbage)
  gossip.publishTx({ bytes: new Uint8Array([1]) } as never)
  await new Promise((r) => setImmediate(r))
  const scraped = parsePrometheus(await registry.metrics())
  const received = (labels: Record<string, string>): number =>
    total(scraped, 'cordex_gossip_messages_received_total', labels)
  assert.equal(received({ topic: 'vote', result: 'reject' }), 2)
  assert.equal(received({ topic: 'proposal', result: 'reject' }), 1)
  assert.equal(received({ topic: 'tx' }), 0)
  assert.equal(total(scraped, 'cordex_gossip_messages_published_total', { topic: 'tx', result: 'sent' }), 1)
  gossip.stop()
})

test('the Grafana dashboard shows every cordex metric and asks for none that does not exist', () => {
  const registry = new Registry()
  createMetrics(registry)
  const defined = new Map(registry.getMetricsAsArray().map((m) => [m.name, m]))
  const dashboard = readFileSync(join(ROOT, 'deploy', 'grafana-dashboard.json'), 'utf8')
  const exprs = (
    JSON.parse(dashboard) as { panels: Array<{ targets?: Array<{ expr: string }> }> }
  ).panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr))
  const used = new Set(exprs.flatMap((e) => e.match(/cordex_[a-z0-9_]+/g) ?? []))
  for (const name of used) {
    // A histogram is queried through its series.
    const base = name.replace(/_(bucket|sum|count)$/, '')
    assert.ok(defined.has(name) || defined.has(base), `the dashboard asks for ${name}`)
  }
  for (const name of defined.keys())
    assert.ok(
      [...used].some((u) => u === name || u === `${name}_bucket`),
      `the dashboard does not show ${name}`,
    )
  assert.match(dashboard, /"uid": "\$\{DS_PROMETHEUS\}"/, 'the datasource is an input')
})
