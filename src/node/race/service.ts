import { Worker } from 'node:worker_threads'
import { randomBytes } from 'node:crypto'
import type { Level } from 'level'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import type { Logger } from '../../util/logger.js'
import type { Clock } from '../../util/clock.js'
import { getValidatorEntries, publicKeyOfPeerId, type Signer } from '../../ledger/index.js'
import { decode, encode, read } from '../../ledger/codec.js'
import { getEpoch, getRaceParams, proofDeadline } from '../../ledger/epoch/access.js'
import { commitment, sampleIndices, sampleMessage, vrfOutput } from '../../ledger/epoch/seed.js'
import type { EpochState, RaceParams } from '../../ledger/epoch/records.js'
import { proofCommittee } from '../../ledger/epoch/committee.js'
import { nodeSeed, judgeSample, NonceTree, type RaceProfile } from '../../race/index.js'
import { deadline } from '../../util/deadline.js'
import type { ChainService } from '../chain/service.js'
import type { WorkerReply, WorkerRequest } from './worker.js'
import type { Metrics } from '../metrics.js'
import { workerFile } from '../../util/workerFile.js'

/** Fetches sampled nonces of a prover's committed list, each checked against the root (`proof` protocol). */
export interface ProofFetcher {
  fetchSamples(
    peer: PeerId,
    epoch: number,
    indices: number[],
    root: Uint8Array,
    count: number,
    signal: AbortSignal,
  ): Promise<number[]>
}

/**
 * Devnet only: a prover that misbehaves on purpose. `withholdProof` commits to its list but does
 * not serve it; `padProof` adds unevaluated nonces, `rate` of the list.
 */
export type ProverCheat = { mode: 'withholdProof' } | { mode: 'padProof'; rate: number } | null

export interface RaceServiceOptions {
  profile: RaceProfile
  cheat: ProverCheat
  /** How long a prover has to serve a validator its sampled nonces, ms. */
  fetchTimeoutMs: number
  /** Share of time the worker idles, 0 ≤ throttle < 1 (0: full speed). */
  throttle: number
  /** Nonces per worker batch. */
  batch: number
}

/** What `GET /race` shows of this peer's Race. */
export interface RaceProgress {
  epoch: number
  racing: boolean
  done: number
  valid: number
  ratePerSec: number
  backend: string | null
  submitted: number | null
}

/**
 * The Race in the daemon (SPEC 4): on each committed block it looks at the epoch and does this
 * peer's part: commit to a secret and reveal it (validators), race in a worker thread from the
 * starting gun until the Race ends and submit the Merkle root and count of its valid nonces (any
 * peer), serve that list's openings over the `proof` protocol, and judge the proofs whose
 * committee it sits on by fetching the nonces its VRF picks from the prover and recomputing them
 * (validators). Secrets and nonce lists are kept in the database so that a restart between commit
 * and reveal does not cost the no-reveal fine, nor one between submission and judging the proof.
 */
export class RaceService {
  private worker: Worker | undefined
  private queue: Promise<unknown> = Promise.resolve()
  private readonly sent = new Set<string>()
  private racedEpoch = -1
  private sentEpoch = -1
  readonly progress: RaceProgress = {
    epoch: -1,
    racing: false,
    done: 0,
    valid: 0,
    ratePerSec: 0,
    backend: null,
    submitted: null,
  }
  private readonly secrets
  private readonly lists
  /** This peer's committed nonce lists of the last two epochs, served to the judges. */
  private readonly trees = new Map<number, NonceTree>()
  private readonly abort = new AbortController()
  private readonly onCommit = (): void =>
    void this.step().catch((err: unknown) => this.components.log.warn({ err }, 'race step failed'))

  constructor(
    private readonly components: {
      chain: ChainService
      db: Level<string, Uint8Array>
      proofs: ProofFetcher
      signer: Signer
      log: Logger
      clock: Clock
      /** Counts nonces evaluated and valid (null: nowhere). */
      metrics?: Metrics | null
    },
    private readonly opts: RaceServiceOptions,
  ) {
    this.secrets = components.db.sublevel<string, Uint8Array>('race-secrets', { valueEncoding: 'view' })
    this.lists = components.db.sublevel<string, Uint8Array>('race-proofs', { valueEncoding: 'view' })
  }

  /** This peer's committed nonce list of `epoch`, for the `proof` protocol (undefined: none). */
  readonly treeFor = (epoch: number): NonceTree | undefined =>
    this.opts.cheat?.mode === 'withholdProof' ? undefined : this.trees.get(epoch)

  async start(): Promise<void> {
    for await (const [key, bytes] of this.lists.iterator()) {
      try {
        const nonces = read.uints(decode(bytes, 64 * 1024 * 1024, 'nonce list'), Infinity, 'nonces')
        this.trees.set(Number(key), new NonceTree(nonces))
      } catch (err) {
        // A damaged list cannot be served: its proof will be rejected, as if withheld.
        this.components.log.warn(
          { epoch: Number(key), err: (err as Error).message },
          'kept nonce list unreadable',
        )
        await this.lists.del(key)
      }
    }
    this.worker = new Worker(workerFile(new URL('./worker.js', import.meta.url), 'race-worker'))
    this.worker.unref()
    // The session does not depend on the seed: build it now, not after the starting gun.
    void this.call({ kind: 'prepare', profile: this.opts.profile, batch: this.opts.batch }).then(
      (r) => {
        if (r.kind === 'error') this.components.log.warn({ err: r.message }, 'race backend not prepared')
      },
      () => {},
    )
    this.components.metrics?.race.rate.addCollect((g) =>
      g.set(this.progress.racing ? this.progress.ratePerSec : 0),
    )
    this.components.chain.onCommit(this.onCommit)
    this.onCommit()
  }

  async stop(): Promise<void> {
    this.components.chain.offCommit(this.onCommit)
    this.abort.abort()
    const w = this.worker
    this.worker = undefined
    if (w === undefined) return
    // Let the worker finish its batch and release onnxruntime (at most 5 s), then end it.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5000)
      w.on('message', (m: WorkerReply) => {
        if (m.kind !== 'stopped') return
        clearTimeout(timer)
        resolve()
      })
      w.postMessage({ kind: 'stop' } satisfies WorkerRequest)
    })
    await w.terminate()
  }

  /**
   * SPEC 4: the Race yields to inference. While `busy`, the worker pauses between batches; the
   * nonces it does not evaluate are the price a host pays for serving tasks.
   */
  yieldTo(busy: boolean): void {
    this.worker?.postMessage({ kind: 'yield', yielding: busy } satisfies WorkerRequest)
  }

  private get me(): string {
    return this.components.signer.peerId
  }

  private async step(): Promise<void> {
    const state = this.components.chain.replica.state
    const e = getEpoch(state)
    const p = getRaceParams(state)
    if (e === undefined || p === undefined) return
    if (e.number !== this.sentEpoch) {
      // A new epoch: what was sent for earlier ones is settled; keep the set bounded.
      this.sent.clear()
      this.sentEpoch = e.number
    }
    const isValidator = getValidatorEntries(state).some((v) => v.id === this.me && v.power > 0)
    const mine = ([id]: [string, ...unknown[]]): boolean => id === this.me
    if (e.phase === 'commit' && isValidator && !e.commits.some(mine)) {
      await this.once(`commit/${e.number}`, async () => {
        const secret = new Uint8Array(randomBytes(32))
        // Earlier epochs' secrets are spent (revealed or forfeited): keep only this one.
        await this.secrets.clear()
        await this.secrets.put(String(e.number), secret)
        this.send('RandCommit', { epoch: e.number, hash: commitment(secret, this.me) })
      })
    } else if (e.phase === 'reveal' && e.commits.some(mine) && !e.reveals.some(mine)) {
      await this.once(`reveal/${e.number}`, async () => {
        const secret = await this.secrets.get(String(e.number))
        if (secret === undefined) throw new Error(`no secret kept for epoch ${e.number}`)
        this.send('RandReveal', { epoch: e.number, secret })
      })
    } else if (e.phase === 'race' && e.seed !== null && this.racedEpoch !== e.number) {
      this.racedEpoch = e.number
      void this.race(e, e.seed, e.gunTime + p.raceMs, proofDeadline(e, p), p.maxProofNonces).catch(
        (err: unknown) => this.components.log.warn({ err }, 'race failed'),
      )
    } else if (e.phase === 'validate' && isValidator) {
      // The fetches run side by side (a silent prover must not hold up the others' verdicts); the
      // recomputations queue on the worker.
      const judging = e.proofs
        .filter(([prover]) => !e.verdicts.some(([pr, v]) => pr === prover && v === this.me))
        .filter(([prover]) => proofCommittee(state, e, p, prover).includes(this.me))
        .map(([prover, count, root]) =>
          this.once(`judge/${e.number}/${prover}`, () => this.judge(e, p, prover, count, root)),
        )
      await Promise.all(judging)
    }
  }

  /** Run `fn` once per key (a key that failed may be tried again on a later block). */
  private async once(key: string, fn: () => Promise<void>): Promise<void> {
    if (this.sent.has(key)) return
    this.sent.add(key)
    try {
      await fn()
    } catch (err) {
      this.sent.delete(key)
      throw err
    }
  }

  private send(type: string, body: unknown): void {
    try {
      const tx = this.components.chain.sendTx(type, body)
      this.components.log.info({ type, hash: tx.hashHex }, 'race transaction sent')
    } catch (err) {
      this.components.log.warn({ type, err: (err as Error).message }, 'race transaction refused')
    }
  }

  private async race(
    e: EpochState,
    seed: Uint8Array,
    until: number,
    deadline: number,
    maxNonces: number,
  ): Promise<void> {
    const node = nodeSeed(publicKeyOfPeerId(this.me)!)
    Object.assign(this.progress, {
      epoch: e.number,
      racing: true,
      done: 0,
      valid: 0,
      ratePerSec: 0,
      submitted: null,
    })
    this.components.log.info({ epoch: e.number, until: new Date(until).toISOString() }, 'race started')
    // The worker reports running totals: the counters take what is new in each report.
    const counted = { done: 0, valid: 0 }
    const count = (done: number, valid: number): void => {
      const race = this.components.metrics?.race
      race?.nonces.inc(Math.max(0, done - counted.done))
      race?.validNonces.inc(Math.max(0, valid - counted.valid))
      counted.done = Math.max(counted.done, done)
      counted.valid = Math.max(counted.valid, valid)
    }
    const reply = await this.call(
      {
        kind: 'race',
        profile: this.opts.profile,
        seed,
        node,
        until,
        throttle: this.opts.throttle,
        batch: this.opts.batch,
      },
      (m) => {
        if (m.kind !== 'progress') return
        Object.assign(this.progress, { done: m.done, valid: m.valid, ratePerSec: m.ratePerSec })
        count(m.done, m.valid)
      },
    )
    if (reply.kind !== 'raced')
      throw new Error(reply.kind === 'error' ? reply.message : 'unexpected worker reply')
    count(reply.done, reply.nonces.length)
    Object.assign(this.progress, {
      racing: false,
      done: reply.done,
      valid: reply.nonces.length,
      backend: reply.backend,
    })
    this.components.log.info(
      { epoch: e.number, done: reply.done, valid: reply.nonces.length, backend: reply.backend },
      'race finished',
    )
    if (reply.nonces.length === 0 || this.components.clock.now() > deadline) return
    const nonces = padded(reply.nonces, reply.done, this.opts.cheat).slice(0, maxNonces)
    const tree = new NonceTree(nonces)
    await this.keepList(e.number, nonces, tree)
    this.progress.submitted = nonces.length
    this.send('RaceProof', { epoch: e.number, root: tree.root, count: tree.count })
  }

  /** Keep the list served for `epoch` (and the one before, still being judged); drop older ones. */
  private async keepList(epoch: number, nonces: number[], tree: NonceTree): Promise<void> {
    this.trees.set(epoch, tree)
    await this.lists.put(String(epoch).padStart(12, '0'), encode(nonces))
    for (const old of [...this.trees.keys()].filter((k) => k < epoch - 1)) {
      this.trees.delete(old)
      await this.lists.del(String(old).padStart(12, '0'))
    }
  }

  /**
   * SPEC 4.5: fetch the nonces this validator's VRF picks from the prover's committed list, each
   * with its opening against the root, recompute them, and post the verdict. A prover that does
   * not serve them in time, or serves openings that do not hold, is rejected.
   */
  private async judge(
    e: EpochState,
    p: RaceParams,
    prover: string,
    count: number,
    root: Uint8Array,
  ): Promise<void> {
    const key = publicKeyOfPeerId(prover)
    if (key === undefined || e.seed === null) return
    const vrfSig = this.components.signer.sign(sampleMessage(e.number, prover, root))
    const indices = sampleIndices(vrfOutput(vrfSig), count, p.sampleSize)
    let nonces: number[]
    try {
      nonces = await this.fetchSample(e.number, prover, indices, root, count, p.validateMs)
    } catch (err) {
      if (this.abort.signal.aborted) return // stopping: no verdict rather than a wrong one
      const reason = `the prover did not serve its sample: ${(err as Error).message}`
      this.components.log.info({ epoch: e.number, prover, accepted: false, reason }, 'proof judged')
      this.send('ProofVerdict', {
        epoch: e.number,
        prover,
        accepted: false,
        failures: indices.length,
        vrfSig,
      })
      return
    }
    const reply = await this.call({
      kind: 'distances',
      profile: this.opts.profile,
      seed: e.seed,
      node: nodeSeed(key),
      nonces,
      batch: this.opts.batch,
    })
    if (reply.kind !== 'distances')
      throw new Error(reply.kind === 'error' ? reply.message : 'unexpected worker reply')
    // SPEC 4.5: a nonce fails only beyond the tolerance; a proof fails only past the allowed failures.
    const { accepted, failures, reason } = judgeSample(
      this.opts.profile,
      reply.distances,
      p.maxSampleFailures,
    )
    this.components.log.info(
      { epoch: e.number, prover, sampled: nonces.length, failures, accepted, reason },
      'proof judged',
    )
    this.send('ProofVerdict', { epoch: e.number, prover, accepted, failures, vrfSig })
  }

  /** The sampled nonces: from this peer's own list, or fetched from the prover within half the window. */
  private async fetchSample(
    epoch: number,
    prover: string,
    indices: number[],
    root: Uint8Array,
    count: number,
    validateMs: number,
  ): Promise<number[]> {
    if (prover === this.me) {
      const tree = this.trees.get(epoch)
      if (tree === undefined || tree.count !== count) throw new Error('this peer no longer holds its list')
      return indices.map((i) => tree.sample(i).nonce)
    }
    const time = deadline(Math.min(this.opts.fetchTimeoutMs, validateMs / 2), this.abort.signal)
    try {
      return await this.components.proofs.fetchSamples(
        peerIdFromString(prover),
        epoch,
        indices,
        root,
        count,
        time.signal,
      )
    } finally {
      time.clear()
    }
  }

  /** One job on the worker at a time; `onProgress` sees its progress messages. */
  private call(req: WorkerRequest, onProgress?: (m: WorkerReply) => void): Promise<WorkerReply> {
    const run = (): Promise<WorkerReply> =>
      new Promise((resolve, reject) => {
        const w = this.worker
        if (w === undefined) return reject(new Error('race worker stopped'))
        const onMessage = (m: WorkerReply): void => {
          if (m.kind === 'progress') return onProgress?.(m)
          w.off('message', onMessage)
          w.off('error', onError)
          resolve(m)
        }
        const onError = (err: Error): void => {
          w.off('message', onMessage)
          reject(err)
        }
        w.on('message', onMessage)
        w.once('error', onError)
        w.postMessage(req)
      })
    const result = this.queue.then(run, run)
    this.queue = result.catch(() => {})
    return result
  }
}

/** A `padProof` cheat's list: the valid nonces and `rate` of the whole as nonces never evaluated. */
function padded(valid: number[], done: number, cheat: ProverCheat): number[] {
  if (cheat?.mode !== 'padProof') return valid
  const rate = Math.min(cheat.rate, 0.99)
  const extra = Math.round((valid.length * rate) / (1 - rate))
  return [...valid, ...Array.from({ length: extra }, (_, i) => done + i)]
}
