import type { Level } from 'level'
import { loadConfig, type Config, type DeepPartial } from './config/index.js'
import { createLogger, type Logger, type LogLevel } from '../util/logger.js'
import { systemClock, unrefTimer, type Clock } from '../util/clock.js'
import { CordexError } from '../util/errors.js'
import { DataDirLock, type DataDirPaths } from './dataDir.js'
import { loadOrCreateIdentity } from './identity.js'
import { initDataDir } from './init.js'
import { loadOrCreateApiToken } from './apiToken.js'
import { existsSync } from 'node:fs'
import { buildLibp2p, type CordexLibp2p } from './libp2p.js'
import { PeerManager } from './peerManager.js'
import { DhtSelfLookup } from './dhtSelfLookup.js'
import { CachedLevelDatastore } from './cachedDatastore.js'
import { ApiServer, apiRoutes } from './api/index.js'
import { InfoProtocol, PeerGuard } from '../protocols/index.js'
import { peerIdFromString } from '@libp2p/peer-id'
import { ChainService } from './chain/service.js'
import { RaceService, type ProverCheat } from './race/service.js'
import { getVerifyParams, signerFromSeed } from '../ledger/index.js'
import { Engine, RUNTIME, TextModel, TokenizerPool } from '../engine/index.js'
import { InferProtocol, ProofProtocol, TaskOpenings, TaskProtocol } from '../protocols/index.js'
import { executorHandler, type ExecutorCheat } from './infer/executor.js'
import { TaskAdmission } from './infer/taskAdmission.js'
import { MAX_PROMPT_CHARS, maxRequestBytes } from '../protocols/infer/index.js'
import { InferenceService } from './infer/service.js'
import { TaskStore } from './infer/taskStore.js'
import { ExecutorRecords } from './infer/executorRecords.js'
import { TaskRecordSource } from './verify/recordSource.js'
import { openingSource } from './verify/openingSource.js'
import { VerifierService } from './verify/service.js'
import { getEpoch } from '../ledger/epoch/access.js'
import { HostAnnouncer } from './infer/announcer.js'
import { PriceVoter } from './price/voter.js'
import { SyntheticTraffic } from './synthetic/service.js'
import { TrafficShapes } from './synthetic/shapes.js'
import { enginePromptWriter } from './synthetic/prompts.js'
import { randomBytes, randomInt } from 'node:crypto'
import { BatchService, BatchStore, checkLine, gatewayExecutor } from './batch/index.js'
import { PACKAGE_ROOT, VERSION } from '../version.js'
import path from 'node:path'
import { Registry, collectDefaultMetrics } from 'prom-client'
import { createMetrics, type Metrics } from './metrics.js'

export interface DaemonOptions {
  dataDir: string
  network?: string
  configFile?: string
  /** Flag values, applied over the network and data-directory configs. */
  overrides?: DeepPartial<Config>
  /** Log level from the command line, over the config's. */
  logLevel?: LogLevel
  clock?: Clock
}

export class StartAbortedError extends CordexError<'START_ABORTED'> {
  constructor() {
    super('START_ABORTED', 'daemon start aborted by a stop request')
  }
}

interface Startable {
  start(): unknown
  stop(): unknown
}

interface Part {
  name: string
  close: () => Promise<void>
}

/** Real request shapes a gateway keeps for its synthetic traffic to copy. */
const SYNTHETIC_SHAPES = 256

/** A uniform draw in [0, 1) that hosts cannot predict (which tasks are synthetic, and when). */
const secretRandom = (): number => randomInt(2 ** 47) / 2 ** 47

/** The executor's part of a devnet cheat, if the configured one is the executor's. */
function executorCheat(c: Config['cheat']): ExecutorCheat | null {
  if (c === null) return null
  const { mode, rate } = c
  return mode === 'wrongTokens' ||
    mode === 'substituteModel' ||
    mode === 'truncate' ||
    mode === 'ignoreSampling' ||
    mode === 'corruptProduct' ||
    mode === 'skipLayer'
    ? { mode, rate }
    : null
}

/** The prover's part of a devnet cheat, if the configured one is the prover's. */
function proverCheat(c: Config['cheat']): ProverCheat {
  if (c?.mode === 'withholdProof') return { mode: c.mode }
  if (c?.mode === 'padProof') return { mode: c.mode, rate: c.rate }
  return null
}

/**
 * The composition root (STYLE 4). `start()` builds the daemon in order: config, logger, data
 * directory lock, identity, API token, control socket (answering 503 STARTING), peer store,
 * libp2p, protocols, peer manager, and last the control socket's routes.
 * `stop()` closes what was started in reverse, and may be called at any time, including in the
 * middle of `start()`: start then stops at the next step and everything opened so far is closed.
 */
export class Daemon {
  readonly clock: Clock
  config: Config | undefined
  log: Logger | undefined
  node: CordexLibp2p | undefined
  paths: DataDirPaths | undefined
  api: ApiServer | undefined
  chain: ChainService | undefined
  /** Per-peer scores, limits and bans, shared by every protocol and topic. */
  guard: PeerGuard | undefined
  /** `task` (SPEC 6.1): serves this daemon's task records; verifiers fetch with `fetchTaskRecord`. */
  taskRecords: TaskProtocol | undefined
  /** Every metric, on this daemon's own registry (`GET /metrics`). */
  metrics: Metrics | undefined

  private readonly parts: Part[] = []
  private stopRequested = false
  private starting: Promise<void> | undefined
  private stopping: Promise<void> | undefined
  private resolveStopped!: () => void
  /** Resolves once `stop()` has closed everything, whoever called it. */
  readonly stopped = new Promise<void>((resolve) => (this.resolveStopped = resolve))
  /** What stopped a running daemon from inside (a part that cannot go on), if anything did. */
  failure: Error | undefined

  constructor(private readonly opts: DaemonOptions) {
    this.clock = opts.clock ?? systemClock
  }

  start(): Promise<void> {
    this.starting ??= this.build()
    return this.starting
  }

  stop(): Promise<void> {
    this.stopping ??= this.teardown()
    return this.stopping
  }

  private async build(): Promise<void> {
    const startedAt = this.clock.now()
    const load = (): Config =>
      loadConfig({
        dataDir: this.opts.dataDir,
        network: this.opts.network,
        configFile: this.opts.configFile,
        overrides: this.opts.overrides,
      })
    let config = load()
    this.config = config
    const log = createLogger({ level: this.opts.logLevel ?? (config.log.level as LogLevel) })
    this.log = log
    log.info({ network: config.network, version: VERSION, dataDir: this.opts.dataDir }, 'daemon starting')
    // One registry per daemon, never prom-client's global one: two daemons in one process (tests)
    // keep their own. The process metrics come with it (CPU, memory, event-loop lag, GC). Lag is
    // sampled every 100 ms: prom-client's default of 10 ms wakes an idle daemon 100 times a second.
    const registry = new Registry()
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 100 })
    const metrics = createMetrics(registry)
    this.metrics = metrics

    const lock = await this.step(
      'data directory',
      () => DataDirLock.acquire(this.opts.dataDir),
      (l) => l.release(),
    )
    this.paths = lock.paths
    const identity = await this.step(
      'identity',
      () => loadOrCreateIdentity(lock.paths.root),
      async () => {},
    )
    if (identity.created) log.info({ peerId: identity.peerId.toString() }, 'created identity')
    if (!existsSync(lock.paths.config)) {
      // First start without `cordex init`: do what init does (on devnet: a chain of its own), now
      // that the lock is ours.
      await initDataDir({ dataDir: lock.paths.root, network: config.network, clock: this.clock })
      config = load()
      this.config = config
    }
    // Made here too for a directory initialized before there were tokens.
    const apiToken = await this.step(
      'api token',
      () => loadOrCreateApiToken(lock.paths.root),
      async () => {},
    )
    if (apiToken.created) log.info({ file: apiToken.file }, 'created API token')

    // The control socket listens from here on, so that a client can tell a daemon that is starting
    // from none; it answers 503 STARTING until it gets its routes, once every part they read is
    // built (at the end), and 503 STOPPING again from the first step of stop().
    const api = await this.startable(
      'control socket',
      new ApiServer(
        { log: log.child({ module: 'api' }) },
        {
          socketPath: lock.paths.socket,
          tcpPort: config.api.port,
          tcpAuth: { token: apiToken.token, file: apiToken.file },
          maxBodyBytes: config.api.maxBodyBytes,
          headersTimeoutMs: config.api.headersTimeoutMs,
          requestTimeoutMs: config.api.requestTimeoutMs,
          maxConnections: config.api.maxConnections,
        },
      ),
    )
    this.api = api

    // The peer store and DHT records live in their own sublevel of the daemon's one LevelDB.
    const datastore = await this.startable(
      'peer store',
      new CachedLevelDatastore(
        lock.db.sublevel<string, Uint8Array>('p2p', { valueEncoding: 'view' }) as unknown as Level<
          string,
          Uint8Array
        >,
        { clock: this.clock },
      ),
      (ds) => ds.open(),
      (ds) => ds.close(),
    )

    // SPEC 2: one score per peer over every protocol and topic; a ban hangs up and keeps it out.
    const guard = new PeerGuard({
      clock: this.clock,
      onBan: (peer, reason, until) => {
        metrics.p2p.bans.inc()
        log.warn({ peer, reason, until: new Date(until).toISOString() }, 'peer banned')
        void this.node?.hangUp(peerIdFromString(peer)).catch(() => {})
      },
    })
    this.guard = guard
    const node = await this.startable(
      'libp2p',
      await buildLibp2p({ privateKey: identity.privateKey, datastore, guard }, config),
    )
    this.node = node
    log.info({ peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(String) }, 'libp2p started')
    metrics.p2p.peers.addCollect((g) => g.set(node.getPeers().length))
    metrics.p2p.connections.addCollect((g) => {
      const conns = node.getConnections()
      const inbound = conns.filter((c) => c.direction === 'inbound').length
      g.set({ direction: 'inbound' }, inbound)
      g.set({ direction: 'outbound' }, conns.length - inbound)
    })

    const reqRespLimits = {
      maxFrameBytes: config.protocols.maxFrameBytes,
      timeoutMs: config.protocols.streamTimeoutMs,
      maxInboundStreams: config.protocols.maxInboundStreams,
      requestTimeoutMs: config.protocols.requestTimeoutMs,
      maxStreamsPerPeer: config.protocols.maxStreamsPerPeer,
      requestsPerSecond: config.protocols.requestsPerSecond,
    }
    const info = await this.startable(
      'info protocol',
      new InfoProtocol(
        {
          node,
          guard,
          log: log.child({ module: 'info' }),
          localInfo: () => ({
            network: config.network,
            version: VERSION,
            uptimeMs: this.clock.now() - startedAt,
          }),
        },
        config.network,
        reqRespLimits,
      ),
    )

    // The ledger signs with the peer key (SPEC 1: the account address is the peer id).
    const signer = signerFromSeed(identity.privateKey.raw.subarray(0, 32))
    const chain = await this.startable(
      'ledger',
      new ChainService(
        {
          node,
          db: lock.db,
          log: log.child({ module: 'ledger' }),
          clock: this.clock,
          signer,
          guard,
          onFatal: (err) => this.fail(err),
          metrics,
        },
        config,
        reqRespLimits,
      ),
    )
    this.chain = chain
    // SPEC 4.5: a prover serves the nonces of its committed list to the validators that judge it.
    let race: RaceService | null = null
    const proofs = await this.startable(
      'proof protocol',
      new ProofProtocol({ node, guard, log: log.child({ module: 'proof' }) }, config.network, {
        timeoutMs: config.protocols.streamTimeoutMs,
        maxInboundStreams: config.protocols.maxInboundStreams,
        requestTimeoutMs: config.protocols.requestTimeoutMs,
      }),
      (p) => p.start((epoch) => race?.treeFor(epoch)),
    )
    // The network comes before the engine and the services above it: a daemon joins the mesh while
    // its models load (seconds, and much longer when several daemons start on one host). Nothing
    // depends on the protocols a peer listed when it connected: every stream negotiates its own,
    // and a stream for a protocol registered later than that works as soon as it is registered.
    await this.startable(
      'peer manager',
      new PeerManager(
        { node, log: log.child({ module: 'peers' }), clock: this.clock },
        {
          bootstrap: config.p2p.bootstrap,
          targetPeers: config.p2p.targetPeers,
          heartbeatMs: config.p2p.heartbeatMs,
          redialMinMs: config.p2p.redialMinMs,
          redialMaxMs: config.p2p.redialMaxMs,
        },
      ),
    )
    await this.startable(
      'dht self-lookup',
      new DhtSelfLookup(
        { node, log: log.child({ module: 'dht' }), setTimer: unrefTimer },
        {
          minIntervalMs: config.p2p.dht.initialQuerySelfIntervalMs,
          maxIntervalMs: config.p2p.dht.querySelfIntervalMs,
        },
      ),
    )
    race = config.raceWorker.enabled
      ? await this.startable(
          'race',
          new RaceService(
            {
              chain,
              db: lock.db,
              proofs,
              signer,
              log: log.child({ module: 'race' }),
              clock: this.clock,
              metrics,
            },
            {
              profile: config.race,
              cheat: proverCheat(config.cheat),
              fetchTimeoutMs: config.protocols.streamTimeoutMs,
              throttle: config.raceWorker.throttle,
              batch: config.raceWorker.batch,
            },
          ),
        )
      : null

    // Inference (SPEC 5): the engine and executor side when this peer hosts models, and the
    // gateway, which also needs the models' tokenizers when it hosts none.
    if (config.cheat !== null)
      log.warn({ cheat: config.cheat }, 'devnet cheat on: this peer misbehaves on purpose')
    // A devnet host told to serve a substitute loads the cheap model besides the approved one
    const modelDirs = [
      ...config.engine.models,
      // (and an int8 model's float original, so that it can serve the float model's output).
      ...(config.cheat?.mode === 'substituteModel'
        ? [
            'models/kjv-tiny',
            ...config.engine.models
              .filter((d) => d.endsWith('-int8'))
              .map((d) => d.slice(0, -'-int8'.length)),
          ]
        : []),
    ].map((d) => path.resolve(PACKAGE_ROOT, d))
    const engine =
      config.engine.enabled && modelDirs.length > 0
        ? await this.step(
            'engine',
            () =>
              Engine.start(
                {
                  models: modelDirs,
                  threads: config.engine.threads ?? undefined,
                  spinning: config.engine.spinning,
                  maxActive: config.engine.maxActive,
                  maxQueue: config.engine.maxQueue,
                  executionProvider: config.engine.executionProvider,
                },
                { log: log.child({ module: 'engine' }) },
              ),
            (e) => e.stop(),
          )
        : null
    if (engine !== null)
      log.info({ models: engine.models().map((m) => m.id), provider: engine.provider }, 'engine ready')
    if (engine !== null && race !== null) engine.onBusy((busy) => race.yieldTo(busy))
    if (engine !== null)
      metrics.engine.jobs.addCollect((g) => {
        const { active, waiting } = engine.load
        g.set({ state: 'active' }, active)
        g.set({ state: 'waiting' }, waiting)
      })
    const models = engine?.models() ?? (await Promise.all(modelDirs.map((d) => TextModel.load(d))))
    // Prompts are tokenized in a worker thread, within per-caller budgets, never on the event loop.
    const tokenizer = await this.step(
      'tokenizer',
      () => TokenizerPool.start(models),
      (t) => t.stop(),
    )
    const tasks = new TaskStore(lock.db, config.inference.maxTaskRecords)
    await tasks.open()
    // What this peer served as an executor, kept for verifiers as long as the gateway's records.
    const executorRecords =
      engine === null
        ? null
        : new ExecutorRecords(
            lock.db,
            config.inference.maxTaskRecords,
            config.inference.maxTraceBytes,
            log.child({ module: 'executor-records' }),
          )
    await executorRecords?.open()
    // A request holds at most the longest prompt a hosted model can take: far below a response frame.
    const longestPrompt = Math.max(1, ...models.map((m) => Math.min(MAX_PROMPT_CHARS, m.maxPromptChars)))
    const infer = new InferProtocol(
      { node, guard, clock: this.clock, log: log.child({ module: 'infer' }) },
      config.network,
      {
        maxFrameBytes: config.protocols.maxFrameBytes,
        taskTimeoutMs: config.inference.taskTimeoutMs,
        maxInboundStreams: config.protocols.maxInboundStreams,
        maxRequestBytes: maxRequestBytes(longestPrompt),
        requestTimeoutMs: config.protocols.requestTimeoutMs,
        maxStreamsPerPeer: config.protocols.maxStreamsPerPeer,
        requestsPerSecond: config.protocols.requestsPerSecond,
      },
    )
    const chainId = config.genesis.chainId
    const local =
      engine === null
        ? null
        : {
            engine,
            handler: executorHandler({
              engine,
              tokenizer,
              // As many unconfirmed tasks per gateway as it may hold streams: what it paces itself to.
              admission: new TaskAdmission(
                { chain, clock: this.clock, self: signer.peerId },
                { maxUnconfirmedPerGateway: config.protocols.maxStreamsPerPeer },
              ),
              signer,
              chainId,
              log: log.child({ module: 'executor' }),
              records: executorRecords,
              epoch: () => getEpoch(chain.replica.state)?.number ?? 0,
              cheat: executorCheat(config.cheat),
              metrics,
            }),
          }
    // As a gateway: its spare streams to executors close with the daemon.
    await this.startable(
      'infer streams',
      infer,
      () => {},
      (p) => p.stop(),
    )
    if (local !== null) {
      await this.startable(
        'infer protocol',
        infer,
        (p) => p.register(local.handler),
        (p) => p.unregister(),
      )
    }
    // SPEC 6.1: verifiers fetch task records from the executor or the gateway over `task`.
    const source = new TaskRecordSource(
      { executor: executorRecords, gateway: tasks },
      { noRecords: config.cheat?.mode === 'noRecords' },
    )
    this.taskRecords = await this.startable(
      'task protocol',
      new TaskProtocol({ node, guard, log: log.child({ module: 'task' }) }, config.network, {
        timeoutMs: config.protocols.streamTimeoutMs,
        maxInboundStreams: config.protocols.maxInboundStreams,
        requestTimeoutMs: config.protocols.requestTimeoutMs,
      }),
      (p) => p.start(source.lookup),
    )
    // SPEC 6.2: verifiers ask an int8 task's executor to open the rows their challenge picked.
    const openings = await this.startable(
      'task-open protocol',
      new TaskOpenings({ node, guard, log: log.child({ module: 'task-open' }) }, config.network, {
        timeoutMs: config.protocols.streamTimeoutMs,
        maxInboundStreams: config.protocols.maxInboundStreams,
        requestTimeoutMs: config.protocols.requestTimeoutMs,
      }),
      (p) =>
        executorRecords === null
          ? p.start(async () => undefined)
          : p.start(openingSource(executorRecords, p.protocol)),
    )
    await this.startable(
      'host announcer',
      new HostAnnouncer({ chain, log: log.child({ module: 'host' }), me: signer.peerId }, () => {
        const ids = local?.engine.models().map((m) => m.id) ?? []
        return {
          models: ids,
          priceVote: BigInt(config.inference.priceVote),
          // The provider is part of it: verifiers see where an executor's numbers came from.
          fingerprint: (local?.engine.fingerprint(ids) ?? `${RUNTIME}/`).slice(0, 256),
          addrs: node.getMultiaddrs().map(String).slice(0, 16),
        }
      }),
    )
    // SPEC 7: this peer's price vote, sent when its recorded one differs (at most once an epoch).
    await this.startable(
      'price voter',
      new PriceVoter(
        { chain, log: log.child({ module: 'price' }), me: signer.peerId },
        { price: BigInt(config.inference.priceVote) },
      ),
    )
    const inference =
      config.genesis.inference === undefined
        ? null
        : await this.startable(
            'gateway',
            new InferenceService(
              {
                chain,
                infer,
                local,
                models,
                tokenizer,
                store: tasks,
                signer,
                log: log.child({ module: 'gateway' }),
                clock: this.clock,
                metrics,
              },
              {
                chainId,
                defaultMaxCost: BigInt(config.inference.defaultMaxCost),
                maxTokensLimit: config.inference.maxTokensLimit,
                maxAttempts: config.inference.maxAttempts,
                firstTokenTimeoutMs: config.inference.firstTokenTimeoutMs,
                taskTimeoutMs: config.inference.taskTimeoutMs,
                // What each host admits from this peer: the gateway starts no more than that.
                executorStreams: config.protocols.maxStreamsPerPeer,
                executorRate: config.protocols.requestsPerSecond,
              },
            ),
          )

    // SPEC 6.4: synthetic tasks when demand is low, through this gateway, prompts by this engine.
    const synthetic =
      inference === null || engine === null
        ? null
        : await this.startable(
            'synthetic traffic',
            new SyntheticTraffic(
              {
                chain,
                gateway: inference,
                shapes: new TrafficShapes(SYNTHETIC_SHAPES, secretRandom),
                writePrompt: enginePromptWriter(engine, secretRandom),
                me: signer.peerId,
                log: log.child({ module: 'synthetic' }),
                random: secretRandom,
                setTimer: unrefTimer,
              },
              { ...config.synthetic, blockIntervalMs: config.consensus.emptyBlockIntervalMs },
            ),
          )
    if (synthetic !== null) inference?.onTask((task) => synthetic.observe(task))

    // Batch jobs (OpenAI's Batch API): each line an ordinary task through this gateway.
    const batches =
      inference === null
        ? null
        : await this.startable(
            'batch jobs',
            new BatchService(
              {
                store: new BatchStore(lock.db),
                execute: gatewayExecutor({
                  gateway: inference,
                  clock: this.clock,
                  verifying: () => getVerifyParams(chain.replica.state) !== undefined,
                }),
                check: checkLine,
                models: () => inference.available().flatMap(({ model }) => [model.name, model.id]),
                clock: this.clock,
                setTimer: unrefTimer,
                newId: (prefix) => `${prefix}${randomBytes(12).toString('hex')}`,
                log: log.child({ module: 'batch' }),
              },
              config.batch,
            ),
          )

    // SPEC 6: check the tasks this peer's key selects, and disputed ones; reveal the key after.
    if (engine !== null && this.taskRecords !== undefined) {
      const taskRecords = this.taskRecords
      await this.startable(
        'verifier',
        new VerifierService(
          {
            chain,
            engine,
            tokenizer,
            tasks: taskRecords,
            openings,
            signer,
            chainId,
            log: log.child({ module: 'verifier' }),
            local: (id) => source.get(id),
            records: executorRecords,
            metrics,
          },
          {
            recordTimeoutMs: config.protocols.streamTimeoutMs,
            cheat:
              config.cheat?.mode === 'skipChecks' || config.cheat?.mode === 'falseAccuse'
                ? config.cheat.mode
                : null,
          },
        ),
      )
    }
    await this.step(
      'api routes',
      async () =>
        api.serve(
          apiRoutes({
            node,
            config,
            paths: lock.paths,
            clock: this.clock,
            startedAt,
            version: VERSION,
            info,
            chain,
            race,
            signer,
            inference,
            tasks,
            synthetic,
            batches,
            metrics,
            apiUrl: () => api.apiUrl,
          }),
        ),
      async () => api.withdraw(),
    )
    log.info(
      { socket: lock.paths.socket, apiUrl: api.apiUrl, peerId: node.peerId.toString() },
      'daemon ready',
    )
  }

  /**
   * Start a part, unless a stop came first, and remember to stop it. A part whose start fails is
   * stopped too (libp2p, for one, may have opened listeners before failing).
   */
  private async startable<T>(
    name: string,
    part: T,
    start: (p: T) => unknown = (p) => (p as Startable).start(),
    stop: (p: T) => unknown = (p) => (p as Startable).stop(),
  ): Promise<T> {
    return this.step(
      name,
      async () => {
        try {
          await start(part)
        } catch (err) {
          await Promise.resolve(stop(part)).catch(() => {})
          throw err
        }
        return part
      },
      async (p) => {
        await stop(p)
      },
    )
  }

  /** Open one part, unless a stop came first; remember how to close it. */
  private async step<T>(name: string, open: () => Promise<T>, close: (t: T) => Promise<void>): Promise<T> {
    if (this.stopRequested) throw new StartAbortedError()
    this.log?.debug({ part: name }, 'opening')
    const part = await open()
    this.parts.push({ name, close: () => close(part) })
    if (this.stopRequested) throw new StartAbortedError()
    return part
  }

  /**
   * A part cannot go on (the ledger's books no longer balance): log it and stop everything, as
   * an uncaught exception does; `failure` tells the command to exit with an error.
   */
  private fail(err: Error): void {
    this.failure ??= err
    this.log?.fatal({ err }, 'fatal error: stopping')
    void this.stop()
  }

  private async teardown(): Promise<void> {
    this.stopRequested = true
    await this.starting?.catch(() => {})
    this.log?.info('daemon stopping')
    for (let part = this.parts.pop(); part !== undefined; part = this.parts.pop()) {
      try {
        await part.close()
      } catch (err) {
        this.log?.error({ err, part: part.name }, 'error while closing')
      }
    }
    this.log?.info('daemon stopped')
    this.resolveStopped()
  }
}
