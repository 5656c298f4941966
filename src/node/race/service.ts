import { Worker } from 'node:worker_threads'
import { randomBytes } from 'node:crypto'
import type { Level } from 'level'
import type { Logger } from '../../util/logger.js'
import type { Clock } from '../../util/clock.js'
import { getValidatorEntries, publicKeyOfPeerId, type Signer } from '../../ledger/index.js'
import { getEpoch, getProof, getRaceParams, proofDeadline } from '../../ledger/epoch/access.js'
import { commitment, sampleIndices, sampleMessage, vrfOutput, proofHash } from '../../ledger/epoch/seed.js'
import type { EpochState } from '../../ledger/epoch/records.js'
import { proofCommittee } from '../../ledger/epoch/committee.js'
import { nodeSeed, judgeSample, type RaceProfile } from '../../race/index.js'
import type { ChainService } from '../chain/service.js'
import type { WorkerReply, WorkerRequest } from './worker.js'

export interface RaceServiceOptions {
  profile: RaceProfile
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
 * starting gun until the Race ends and submit the valid nonces (any peer), and judge the proofs
 * whose committee it sits on by recomputing the nonces its VRF picks (validators). Secrets are
 * kept in the database so that a restart between commit and reveal does not cost the no-reveal fine.
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
  private readonly onCommit = (): void =>
    void this.step().catch((err: unknown) => this.components.log.warn({ err }, 'race step failed'))

  constructor(
    private readonly components: {
      chain: ChainService
      db: Level<string, Uint8Array>
      signer: Signer
      log: Logger
      clock: Clock
    },
    private readonly opts: RaceServiceOptions,
  ) {
    this.secrets = components.db.sublevel<string, Uint8Array>('race-secrets', { valueEncoding: 'view' })
  }

  async start(): Promise<void> {
    this.worker = new Worker(new URL('./worker.js', import.meta.url))
    this.worker.unref()
    // The session does not depend on the seed: build it now, not after the starting gun.
    void this.call({ kind: 'prepare', profile: this.opts.profile, batch: this.opts.batch }).then(
      (r) => {
        if (r.kind === 'error') this.components.log.warn({ err: r.message }, 'race backend not prepared')
      },
      () => {},
    )
    this.components.chain.onCommit(this.onCommit)
    this.onCommit()
  }

  async stop(): Promise<void> {
    this.components.chain.offCommit(this.onCommit)
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
      for (const [prover] of e.proofs) {
        if (e.verdicts.some(([pr, v]) => pr === prover && v === this.me)) continue
        if (!proofCommittee(state, e, p, prover).includes(this.me)) continue
        await this.once(`judge/${e.number}/${prover}`, () =>
          this.judge(e, prover, p.sampleSize, p.maxSampleFailures),
        )
      }
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
        if (m.kind === 'progress')
          Object.assign(this.progress, { done: m.done, valid: m.valid, ratePerSec: m.ratePerSec })
      },
    )
    if (reply.kind !== 'raced')
      throw new Error(reply.kind === 'error' ? reply.message : 'unexpected worker reply')
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
    const nonces = reply.nonces.slice(0, maxNonces)
    this.progress.submitted = nonces.length
    this.send('RaceProof', { epoch: e.number, nonces })
  }

  /** SPEC 4.5: recompute the nonces this validator's VRF picks from the proof, and post the verdict. */
  private async judge(e: EpochState, prover: string, sampleSize: number, maxFailures: number): Promise<void> {
    const proof = getProof(this.components.chain.replica.state, prover)
    const key = publicKeyOfPeerId(prover)
    if (proof === undefined || key === undefined || e.seed === null) return
    const vrfSig = this.components.signer.sign(sampleMessage(e.number, prover, proofHash(proof.nonces)))
    const sample = sampleIndices(vrfOutput(vrfSig), proof.nonces.length, sampleSize).map(
      (i) => proof.nonces[i]!,
    )
    const reply = await this.call({
      kind: 'distances',
      profile: this.opts.profile,
      seed: e.seed,
      node: nodeSeed(key),
      nonces: sample,
      batch: this.opts.batch,
    })
    if (reply.kind !== 'distances')
      throw new Error(reply.kind === 'error' ? reply.message : 'unexpected worker reply')
    // SPEC 4.5: a nonce fails only beyond the tolerance; a proof fails only past the allowed failures.
    const { accepted, failures, reason } = judgeSample(this.opts.profile, reply.distances, maxFailures)
    this.components.log.info(
      { epoch: e.number, prover, sampled: sample.length, failures, accepted, reason },
      'proof judged',
    )
    this.send('ProofVerdict', { epoch: e.number, prover, accepted, failures, vrfSig })
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
