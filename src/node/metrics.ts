import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

/**
 * A gauge that mirrors state rather than events (peers, height, queue depths): the parts that own
 * the state add a reader, and the gauge is set from the readers when Prometheus scrapes.
 */
export interface StateGauge<L extends string = string> extends Gauge<L> {
  /** Read the state into the gauge at each scrape (several readers run in the order added). */
  addCollect(read: (gauge: Gauge<L>) => void): void
}

/**
 * Every metric the daemon exports (issue 14; docs/metrics.md). One object, created in
 * the composition root on the daemon's own Registry and handed down to the parts that observe
 * things (STYLE 9); a part given none (`null`, in tests) observes nothing. Names are `cordex_*` with
 * their unit; labels are low-cardinality only (topic, result, outcome, duty...), never a peer or
 * a task id.
 */
export interface Metrics {
  readonly registry: Registry
  p2p: {
    /** Peers with at least one open connection. */
    peers: StateGauge
    /** Open connections, by `direction` (inbound, outbound). */
    connections: StateGauge<'direction'>
    /** Bans the peer guard imposed (SPEC 2). */
    bans: Counter
  }
  gossip: {
    /** Messages received on a ledger topic, by what the validator made of them. */
    received: Counter<'topic' | 'result'>
    /** Messages this node published on a ledger topic, by `result` (sent, failed). */
    published: Counter<'topic' | 'result'>
  }
  chain: {
    /** Height of the committed head. */
    height: StateGauge
    /** Blocks committed. */
    blocks: Counter
    /** Transactions in committed blocks, by type and `result` (ok, failed). */
    txs: Counter<'type' | 'result'>
    /** Verdicts committed to the chain: `kind` task (VerifyResult) or race (ProofVerdict), `result` pass or fail. */
    verdicts: Counter<'kind' | 'result'>
    /** Time between consecutive committed blocks, by their header times, seconds. */
    blockInterval: Histogram
    /** From this node's proposal to its commit, for blocks this node proposed, seconds. */
    proposalToFinality: Histogram
    /** Transactions in the mempool. */
    mempoolTxs: StateGauge
    /** Bytes of the transactions in the mempool. */
    mempoolBytes: StateGauge
    /** Rewards held for verification (SPEC 7), base units: `scope` own (this node's) or all. */
    heldRewards: StateGauge<'scope'>
  }
  race: {
    /** Nonces this node evaluated in Races. */
    nonces: Counter
    /** Of those, nonces under the threshold. */
    validNonces: Counter
    /** The running Race's evaluation rate (0 between Races), nonces per second. */
    rate: StateGauge
  }
  engine: {
    /** Engine jobs (generations, replays, audits), by `state` (active, waiting). */
    jobs: StateGauge<'state'>
    /** Prompt tokens of the tasks this node executed. */
    prefillTokens: Counter
    /** Time to the first chunk of those tasks (prefill, with any wait in the engine's queue), seconds. */
    prefillSeconds: Counter
    /** Output tokens after the first chunk. */
    decodeTokens: Counter
    /** Time from the first chunk to the end of the output, seconds. */
    decodeSeconds: Counter
  }
  gateway: {
    /** Tasks this gateway ran (escrowed), by `outcome`: completed or the error code. */
    tasks: Counter<'outcome'>
    /** From the task's start at the gateway to its first text, seconds. */
    timeToFirstToken: Histogram
    /** From the task's start at the gateway to its settled answer, completed tasks only, seconds. */
    duration: Histogram
  }
  verify: {
    /** Checks this verifier ran, by `duty` (sample, escalation) and `result`: its verdict's reason, or error. */
    checks: Counter<'duty' | 'result'>
  }
}

/** Bucket bounds, seconds. */
const BLOCK_INTERVAL_S = [0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120]
const FINALITY_S = [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30]
const FIRST_TOKEN_S = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60]
const TASK_S = [0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300]

/** Define every metric on `registry` (the daemon's own, never prom-client's global one). */
export function createMetrics(registry: Registry): Metrics {
  const registers = [registry]
  const counter = <L extends string = never>(name: string, help: string, labelNames: L[] = []): Counter<L> =>
    new Counter<L>({ name, help, labelNames, registers })
  const histogram = (name: string, help: string, buckets: number[]): Histogram =>
    new Histogram({ name, help, buckets, registers })
  const gauge = <L extends string = never>(
    name: string,
    help: string,
    labelNames: L[] = [],
  ): StateGauge<L> => {
    const readers: Array<(g: Gauge<L>) => void> = []
    const g = new Gauge<L>({
      name,
      help,
      labelNames,
      registers,
      collect() {
        for (const read of readers) read(this)
      },
    })
    return Object.assign(g, { addCollect: (read: (g: Gauge<L>) => void) => void readers.push(read) })
  }
  return {
    registry,
    p2p: {
      peers: gauge('cordex_p2p_peers', 'Peers with at least one open connection.'),
      connections: gauge('cordex_p2p_connections', 'Open connections, by direction.', ['direction']),
      bans: counter('cordex_p2p_peer_bans_total', 'Bans the peer guard imposed.'),
    },
    gossip: {
      received: counter(
        'cordex_gossip_messages_received_total',
        'Gossip messages received on a ledger topic, by the validation result.',
        ['topic', 'result'],
      ),
      published: counter(
        'cordex_gossip_messages_published_total',
        'Gossip messages this node published on a ledger topic, by result (sent, failed).',
        ['topic', 'result'],
      ),
    },
    chain: {
      height: gauge('cordex_chain_height', 'Height of the committed head.'),
      blocks: counter('cordex_chain_blocks_total', 'Blocks committed.'),
      txs: counter(
        'cordex_chain_txs_total',
        'Transactions in committed blocks, by type and result (ok, failed).',
        ['type', 'result'],
      ),
      verdicts: counter(
        'cordex_chain_verdicts_total',
        'Verdicts in committed blocks: kind task (VerifyResult) or race (ProofVerdict), result pass or fail.',
        ['kind', 'result'],
      ),
      blockInterval: histogram(
        'cordex_chain_block_interval_seconds',
        'Time between consecutive committed blocks, by their header times.',
        BLOCK_INTERVAL_S,
      ),
      proposalToFinality: histogram(
        'cordex_chain_proposal_to_finality_seconds',
        'From this node proposing a block to its commit.',
        FINALITY_S,
      ),
      mempoolTxs: gauge('cordex_mempool_txs', 'Transactions in the mempool.'),
      mempoolBytes: gauge('cordex_mempool_bytes', 'Bytes of the transactions in the mempool.'),
      heldRewards: gauge(
        'cordex_held_rewards_base_units',
        'Rewards held until their audit closes, base units: scope own (this node) or all.',
        ['scope'],
      ),
    },
    race: {
      nonces: counter('cordex_race_nonces_total', 'Nonces evaluated in Races.'),
      validNonces: counter('cordex_race_valid_nonces_total', 'Nonces evaluated in Races that were valid.'),
      rate: gauge('cordex_race_nonces_per_second', 'Evaluation rate of the running Race (0 between Races).'),
    },
    engine: {
      jobs: gauge('cordex_engine_jobs', 'Engine jobs (generations, replays, audits), by state.', ['state']),
      prefillTokens: counter(
        'cordex_engine_prefill_tokens_total',
        'Prompt tokens of the tasks executed here.',
      ),
      prefillSeconds: counter(
        'cordex_engine_prefill_seconds_total',
        'Time to the first chunk of the tasks executed here (prefill and any queueing).',
      ),
      decodeTokens: counter(
        'cordex_engine_decode_tokens_total',
        'Output tokens after the first chunk of the tasks executed here.',
      ),
      decodeSeconds: counter(
        'cordex_engine_decode_seconds_total',
        'Time from the first chunk to the end of the tasks executed here.',
      ),
    },
    gateway: {
      tasks: counter('cordex_gateway_tasks_total', 'Tasks run by this gateway, by outcome.', ['outcome']),
      timeToFirstToken: histogram(
        'cordex_gateway_time_to_first_token_seconds',
        'From the start of a task at the gateway to its first text.',
        FIRST_TOKEN_S,
      ),
      duration: histogram(
        'cordex_gateway_task_duration_seconds',
        'From the start of a task at the gateway to its settled answer (completed tasks).',
        TASK_S,
      ),
    },
    verify: {
      checks: counter('cordex_verify_checks_total', 'Checks this verifier ran, by duty and result.', [
        'duty',
        'result',
      ]),
    },
  }
}
