import { z } from 'zod'
import { multiaddr } from '@multiformats/multiaddr'
import { LOG_LEVELS } from '../../util/logger.js'
import { DEFAULT_PEER_LIMITS } from '../../protocols/guard.js'
import { raceFitProblem } from './raceFit.js'
import { DEFAULT_BATCH_OPTIONS as BATCH } from '../batch/options.js'
import { DEFAULT_MAX_TRACE_BYTES } from '../infer/executorRecords.js'

const ms = z.number().int().positive()

const addr = z.string().refine(
  (s) => {
    try {
      multiaddr(s)
      return true
    } catch {
      return false
    }
  },
  { message: 'not a valid multiaddr' },
)

const peerAddr = addr.refine((s) => /\/p2p\/[1-9A-HJ-NP-Za-km-z]+$/.test(s), {
  message: 'a bootstrap address must end in /p2p/<peer id>',
})

const units = z.string().regex(/^\d{1,20}$/, 'a whole number of base units, as a decimal string')
const peerId = z.string().regex(/^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/, 'an Ed25519 peer id')

/** The ways a devnet peer can be told to cheat (docs/verification.md). */
export const CHEAT_MODES = [
  'wrongTokens',
  'substituteModel',
  'truncate',
  'ignoreSampling',
  'corruptProduct',
  'skipLayer',
  'noRecords',
  'skipChecks',
  'falseAccuse',
  'withholdProof',
  'padProof',
] as const
export type CheatMode = (typeof CHEAT_MODES)[number]

/** SPEC 3 genesis: amounts are decimal strings of base units (JSON numbers cannot hold them all). */
export const genesisSchema = z
  .object({
    chainId: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lowercase letters, digits and dashes'),
    /** ms since the Unix epoch. */
    time: z.number().int().min(0),
    params: z
      .object({
        minTxFee: units,
        maxTxBytes: z.number().int().min(256),
        maxBlockTxs: z.number().int().min(1),
        maxBlockBytes: z.number().int().min(1024),
        epochBlocks: z.number().int().min(1),
        unbondingBlocks: z.number().int().min(0),
        slashBps: z.number().int().min(0).max(10_000),
        jailBlocks: z.number().int().min(0),
        maxClockDriftMs: z.number().int().min(0),
      })
      .strict(),
    accounts: z.array(z.object({ id: peerId, balance: units, stake: units }).strict()),
    /** Empty only in a network file: `cordex init` and `cordex devnet` fill it. */
    validators: z.array(z.object({ id: peerId, power: z.number().int().min(1) }).strict()),
    /** The Race's phases and limits (SPEC 4); without it the validators stay as listed. */
    race: z
      .object({
        commitBlocks: z.number().int().min(1),
        revealBlocks: z.number().int().min(1),
        raceMs: z.number().int().min(1),
        submitMs: z.number().int().min(1),
        validateMs: z.number().int().min(1),
        maxProofNonces: z.number().int().min(1),
        sampleSize: z.number().int().min(1),
        maxSampleFailures: z.number().int().min(0),
        noRevealPenalty: units,
        maxWeightPerPeer: z.number().int().min(0),
        minRevealBps: z.number().int().min(0).max(10_000),
        /** Validators that judge each proof (0: all). */
        committeeSize: z.number().int().min(0),
      })
      .strict()
      .optional(),
    /** Inference economics (SPEC 5, 7); without it the chain takes no tasks. */
    inference: z
      .object({
        /** Base units per unit of compute. */
        unitPrice: units,
        /** Approved models: id (`name@hash`, see `cordex models`) and units of compute per token. */
        models: z.array(
          z.object({ id: z.string().min(1).max(128), unitsPerToken: z.number().int().min(1) }).strict(),
        ),
      })
      .strict()
      .optional(),
    /** The subsidy schedule (docs/economics.md); without it nothing is minted. Needs `verification`. */
    economics: z
      .object({
        /** Genesis supply plus everything ever minted stays at or below it. */
        supplyCap: units,
        /** Subsidies are minted in batches of this size (positive). */
        batchSize: units.refine((s) => BigInt(s) > 0n, 'must be positive'),
        /** The subsidy ratio of the first batch, and its fall with each batch, basis points. */
        firstRatioBps: z.number().int().min(0).max(9_999),
        decayBps: z.number().int().min(0).max(10_000),
        /** The first year's minimum issuance, basis points of the cap; it halves every `yearMs`. */
        minIssuanceBps: z.number().int().min(0).max(10_000),
        yearMs: z.number().int().min(1),
        /** Fees a host must earn to share the subsidy, basis points of its weight's share. */
        minWorkBps: z.number().int().min(0).max(10_000),
      })
      .strict()
      .optional(),
    /** Verification (docs/verification.md); without it no task is checked. Needs `race`. */
    verification: z
      .object({
        /** Check rate at full reputation, basis points (devnet 2000, mainnet 100). */
        minCheckRateBps: z.number().int().min(0).max(10_000),
        /** Epochs of reputation at which the check rate reaches its floor. */
        reputationCap: z.number().int().min(0),
        fraudSlashBps: z.number().int().min(0).max(10_000),
        fraudJailEpochs: z.number().int().min(0),
        dutyToleranceBps: z.number().int().min(0).max(10_000),
        /** What a client escrows to report a task (positive). */
        reportDeposit: units.refine((s) => BigInt(s) > 0n, 'must be positive'),
        reportRewardBps: z.number().int().min(0).max(10_000),
        disputeEpochs: z.number().int().min(1),
      })
      .strict()
      .optional(),
    /**
     * Models added by proposal and weighted vote (docs/economics-models.md); without it the model
     * list stays as `inference` lists it. Needs `race` and `inference`.
     */
    governance: z
      .object({
        /** What a ModelPropose escrows: returned on approval, burned otherwise (positive). */
        modelDeposit: units.refine((s) => BigInt(s) > 0n, 'must be positive'),
        /** Epochs a proposal is open to votes, the one it is made in included. */
        modelVotingEpochs: z.number().int().min(1).max(1000),
        /** Proposals pending at once, at most. */
        maxPendingModels: z.number().int().min(1).max(256),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((g) => g.economics === undefined || g.verification !== undefined, {
    message: 'genesis.economics needs genesis.verification (rewards are paid as audits close)',
    path: ['economics'],
  })
  .refine((g) => g.verification === undefined || g.race !== undefined, {
    message: 'genesis.verification needs genesis.race (audits close at epoch ends)',
    path: ['verification'],
  })
  .refine((g) => g.governance === undefined || (g.race !== undefined && g.inference !== undefined), {
    message:
      'genesis.governance needs genesis.race (voting windows are epochs) and genesis.inference (the model list)',
    path: ['governance'],
  })

export type GenesisConfig = z.infer<typeof genesisSchema>

/**
 * The whole configuration of one daemon: the network's parameters (configs/<network>.json) merged
 * with the data directory's config.json and then with command-line flags. Every object is strict,
 * so a misspelt field is an error that names it rather than a silently ignored setting.
 */
export const configSchema = z
  .object({
    /** Network id: part of every protocol id and gossip topic, so networks never mix. */
    network: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'lowercase letters, digits and dashes, at most 32'),
    p2p: z
      .object({
        /** Multiaddrs to listen on. */
        listen: z.array(addr).min(1),
        /** Multiaddrs to announce instead of the listen addresses (empty: announce what we listen on). */
        announce: z.array(addr),
        /** Peers dialled first; each must carry its /p2p/ id. */
        bootstrap: z.array(peerAddr),
        /** Connections the peer manager keeps open by dialling discovered and known peers. */
        targetPeers: z.number().int().min(1).max(1000),
        /** Hard cap on open connections. */
        maxConnections: z.number().int().min(1).max(10000),
        /** Inbound connections accepted per second from one host (libp2p's rate limit). */
        inboundConnectionsPerSecond: z.number().int().min(1),
        /** Limit for one dial, all addresses included. */
        dialTimeoutMs: ms,
        /** Interval of the peer manager's check of connection count and retries. */
        heartbeatMs: ms,
        /** Backoff after a failed dial, doubling per failure from min up to max. */
        redialMinMs: ms,
        redialMaxMs: ms,
        /** Keep private and loopback addresses in the DHT (dev and test networks on one host). */
        privateAddrs: z.boolean(),
        dht: z
          .object({
            /**
             * Interval of the DHT's self-query (which fills and refreshes the routing table) once the
             * routing table has stopped growing; kad-dht's own periodic query.
             */
            querySelfIntervalMs: ms,
            /**
             * Interval of the first self-queries, from the first peer on; it doubles after each
             * query that the routing table and the connections did not grow, up to querySelfIntervalMs.
             */
            initialQuerySelfIntervalMs: ms,
            kBucketSize: z.number().int().min(2).max(100),
          })
          .strict()
          .refine((d) => d.querySelfIntervalMs >= d.initialQuerySelfIntervalMs, {
            message: 'querySelfIntervalMs must be at least initialQuerySelfIntervalMs',
            path: ['querySelfIntervalMs'],
          }),
      })
      .strict()
      .refine((p) => p.maxConnections >= p.targetPeers, {
        message: 'maxConnections must be at least targetPeers',
        path: ['maxConnections'],
      })
      .refine((p) => p.redialMaxMs >= p.redialMinMs, {
        message: 'redialMaxMs must be at least redialMinMs',
        path: ['redialMaxMs'],
      }),
    protocols: z
      .object({
        /** Largest length-prefixed frame accepted on a Cordex stream. */
        maxFrameBytes: z
          .number()
          .int()
          .min(1024)
          .max(64 * 1024 * 1024),
        /** Deadline for a whole request/response exchange. */
        streamTimeoutMs: ms,
        /** Concurrent inbound streams per protocol and connection. */
        maxInboundStreams: z.number().int().min(1).max(1024),
        /** Deadline for a request frame to arrive whole, from the stream's opening (SPEC 2). */
        requestTimeoutMs: ms.default(DEFAULT_PEER_LIMITS.requestTimeoutMs),
        /** Concurrent inbound streams one peer may hold per protocol, over all its connections. */
        maxStreamsPerPeer: z.number().int().min(1).max(1024).default(DEFAULT_PEER_LIMITS.maxStreamsPerPeer),
        /** Requests per second one peer may open per protocol (bursts of twice as many). */
        requestsPerSecond: z.number().min(0.1).max(100_000).default(DEFAULT_PEER_LIMITS.requestsPerSecond),
      })
      .strict(),
    api: z
      .object({
        /** TCP port of the optional 127.0.0.1 listener; null keeps it off. 0 picks a free port. */
        port: z.number().int().min(0).max(65535).nullable(),
        /** Largest request body accepted on the control socket. */
        maxBodyBytes: z.number().int().min(1024),
        /** Deadline for the request headers to arrive. */
        headersTimeoutMs: ms,
        /** Deadline for a whole request to arrive. */
        requestTimeoutMs: ms,
        /** Open client connections served at once. */
        maxConnections: z.number().int().min(1),
      })
      .strict(),
    consensus: z
      .object({
        /** Pause after a commit before the next height starts, ms (lets transactions gather). */
        blockIntervalMs: z.number().int().min(0),
        /** With no transactions, the longest gap between blocks, ms (0: commit empty blocks at blockIntervalMs). */
        emptyBlockIntervalMs: z.number().int().min(0),
        /** Round timeouts: base + round * delta, ms. */
        proposeTimeoutMs: ms,
        prevoteTimeoutMs: ms,
        precommitTimeoutMs: ms,
        timeoutDeltaMs: z.number().int().min(0),
      })
      .strict(),
    mempool: z
      .object({
        maxTxs: z.number().int().min(1),
        maxBytes: z.number().int().min(1024),
        maxPerSender: z.number().int().min(1),
        maxNonceGap: z.number().int().min(0),
      })
      .strict(),
    /**
     * The ledger's self-checks. `checkBooksEveryBlock`: after every committed block, count the
     * books as start-up does (docs/economics.md, "The books") and stop the daemon with
     * CHAIN_UNBALANCED when they do not balance. One pass over the state per block, so off by
     * default (the start-up check always runs); devnets and tests turn it on.
     */
    ledger: z
      .object({ checkBooksEveryBlock: z.boolean().default(false) })
      .strict()
      .default({ checkBooksEveryBlock: false }),
    genesis: genesisSchema,
    /** The Race profile (docs/race-function.md). */
    race: z
      .object({
        version: z.literal(1),
        layers: z.number().int().min(1),
        width: z.number().int().min(1),
        heads: z.number().int().min(1),
        ffn: z.number().int().min(1),
        vocab: z.number().int().min(3),
        seqLen: z.number().int().min(1),
        q: z.number().gt(0).lt(0.5),
        tolerance: z.number().min(0).lt(0.1),
      })
      .strict()
      .refine((r) => r.width % r.heads === 0, {
        message: 'width must be a multiple of heads',
        path: ['heads'],
      }),
    /** This node's Race worker. */
    raceWorker: z
      .object({
        /** Race at all (a node that only follows the chain may not). */
        enabled: z.boolean(),
        /** Share of time the worker idles, 0 ≤ throttle < 1 (tests; hosts that cap the Race). */
        throttle: z.number().min(0).lt(1),
        /** Nonces per onnxruntime run. */
        batch: z.number().int().min(1).max(4096),
      })
      .strict(),
    /** Local inference (SPEC 5.1). */
    engine: z
      .object({
        /** Host models at all (a gateway that only routes may not). */
        enabled: z.boolean(),
        /** Model folders, each with a manifest; relative paths are from the Cordex installation. */
        models: z.array(z.string().min(1)).max(16),
        /** onnxruntime intra-op threads; null lets it choose. */
        threads: z.number().int().min(1).max(256).nullable(),
        /** Let onnxruntime's idle threads spin between steps: faster decoding, less CPU for the rest. */
        spinning: z.boolean(),
        /**
         * Where onnxruntime runs the models: `cpu`; `webgpu` (refused at startup without an
         * adapter); or `auto`, WebGPU when onnxruntime finds an adapter, else the CPU with one log
         * line saying why. Default `cpu`: the bundled models are so small that each GPU step is
         * launch-bound (kjv-small: 104 tokens/s on an H200 against 1,140 on its 16 CPU cores), so
         * only hosts of larger models gain by choosing the GPU (docs/inference.md, "Execution
         * providers").
         */
        executionProvider: z.enum(['cpu', 'webgpu', 'auto']).default('cpu'),
        /** Generations running at once, and waiting for a slot. */
        maxActive: z.number().int().min(1).max(256),
        maxQueue: z.number().int().min(0).max(10_000),
      })
      .strict(),
    /** The gateway side of inference (SPEC 5.2, 5.3). */
    inference: z
      .object({
        /** `max_cost` when a request gives none, base units. */
        defaultMaxCost: units,
        /** Largest `max_tokens` a request may ask for. */
        maxTokensLimit: z.number().int().min(1),
        /** Executors tried, in draw order, before a task fails. */
        maxAttempts: z.number().int().min(1).max(16),
        /** Deadline for an executor's first token, then for the whole answer, ms. */
        firstTokenTimeoutMs: ms,
        taskTimeoutMs: ms,
        /**
         * This peer's price vote per unit of compute, base units: sent as a PriceVote while the
         * peer has weight (docs/economics.md, "Price"; 0: no vote, the peer follows the price in
         * force) and shown in its HostAnnounce.
         */
        priceVote: units,
        /** Task records kept for verifiers, at most. */
        maxTaskRecords: z.number().int().min(1),
        /**
         * Bytes of int8 tasks' audit traces an executor keeps, at most (docs/verification.md,
         * "Freivalds audits"); past it the oldest traces go, and their tasks fail their audits.
         */
        maxTraceBytes: z.number().int().min(0).default(DEFAULT_MAX_TRACE_BYTES),
      })
      .strict(),
    /**
     * Batch jobs (docs/inference.md, "Batch jobs"): bounds of an input file, how many files and
     * batches are kept, how many lines run at once, and how a line refused as busy is retried.
     */
    batch: z
      .object({
        /** Largest input file, bytes (an upload is also bounded by `api.maxBodyBytes`). */
        maxFileBytes: z.number().int().min(1024).default(BATCH.maxFileBytes),
        /** Most requests in one input file. */
        maxLines: z.number().int().min(1).max(100_000).default(BATCH.maxLines),
        /** Input files kept at once. */
        maxFiles: z.number().int().min(1).max(100_000).default(BATCH.maxFiles),
        /** Batches kept; beyond, the oldest finished one is dropped. */
        maxBatches: z.number().int().min(1).max(100_000).default(BATCH.maxBatches),
        /** Lines in flight at once, over every batch. */
        concurrency: z.number().int().min(1).max(256).default(BATCH.concurrency),
        /** Retries of a line refused with gateway_busy or no_executor, then it fails. */
        maxRetries: z.number().int().min(0).max(100).default(BATCH.maxRetries),
        /** Backoff before the first retry, doubling up to retryMaxMs. */
        retryBaseMs: ms.default(BATCH.retryBaseMs),
        retryMaxMs: ms.default(BATCH.retryMaxMs),
      })
      .strict()
      .prefault({}),
    /**
     * Synthetic tasks when demand is low (SPEC 6.4; docs/economics.md, "Synthetic tasks"): while
     * this peer has weight and an epoch settled fewer real tasks than `minTasksPerEpoch`, it sends
     * its weight's share of the shortfall in the next epoch through its own gateway, paid from its
     * balance, at most `maxPerEpoch` of them and `maxInFlight` at once. 0: never (devnet's
     * default, so that test networks move balances only as their tests do).
     */
    synthetic: z
      .object({
        minTasksPerEpoch: z.number().int().min(0).max(1_000_000),
        maxPerEpoch: z.number().int().min(0).max(1_000_000),
        maxInFlight: z.number().int().min(1).max(256),
      })
      .strict(),
    log: z.object({ level: z.enum(LOG_LEVELS as [string, ...string[]]) }).strict(),
    /**
     * Devnet only: make this peer misbehave in one named way, so that tests and demos can watch
     * verification catch it (docs/verification.md, "Cheating on purpose"). `rate`: the share of
     * tokens `wrongTokens` replaces after the first (always replaced).
     */
    cheat: z
      .object({ mode: z.enum(CHEAT_MODES), rate: z.number().gt(0).max(1).default(0.2) })
      .strict()
      .nullable()
      .default(null),
  })
  .strict()
  .refine((c) => c.cheat === null || c.network === 'devnet', {
    message: 'cheating on purpose is for devnet only: remove "cheat" from the config',
    path: ['cheat'],
  })
  .superRefine((c, ctx) => {
    if (c.genesis.race === undefined) return
    const problem = raceFitProblem({
      epochBlocks: c.genesis.params.epochBlocks,
      race: c.genesis.race,
      emptyBlockIntervalMs: c.consensus.emptyBlockIntervalMs,
    })
    if (problem !== null)
      ctx.addIssue({ code: 'custom', message: problem, path: ['genesis', 'params', 'epochBlocks'] })
  })

export type Config = z.infer<typeof configSchema>

/** Fields of the data directory's config.json: the network it belongs to and local overrides. */
export type LocalConfig = { network: string } & Record<string, unknown>
