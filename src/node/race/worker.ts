// The Race worker thread: evaluates nonces on WebGPU when an adapter exists, else on onnxruntime
// (falling back to the TypeScript reference when neither starts), so the daemon's event loop stays
// free. One job at a time. It works only when asked: between Races it holds its prepared
// onnxruntime session and does nothing.
import { parentPort } from 'node:worker_threads'
import { OrtRaceSession, WebGpuRaceBackend, webgpuAvailable } from '../../engine/index.js'
import { ReferenceBackend, threshold, type RaceBackend, type RaceProfile } from '../../race/index.js'

export type WorkerRequest =
  /** Build what does not depend on the seed (the onnxruntime session), before the starting gun. */
  | { kind: 'prepare'; profile: RaceProfile; batch: number }
  | {
      kind: 'race'
      profile: RaceProfile
      seed: Uint8Array
      node: Uint8Array
      /** Stop at this wall-clock time (ms since the epoch). */
      until: number
      /** Share of time spent idle, 0 ≤ throttle < 1 (tests, and hosts that cap the Race). */
      throttle: number
      batch: number
    }
  | {
      kind: 'distances'
      profile: RaceProfile
      seed: Uint8Array
      node: Uint8Array
      nonces: number[]
      batch: number
    }
  /** Pause between batches while the host runs inference (SPEC 4: the Race yields to real work). */
  | { kind: 'yield'; yielding: boolean }
  /** Finish the current batch, release onnxruntime, answer `stopped`. */
  | { kind: 'stop' }

export type WorkerReply =
  | { kind: 'prepared' }
  | { kind: 'progress'; done: number; valid: number; ratePerSec: number }
  | { kind: 'raced'; nonces: number[]; done: number; backend: string }
  | { kind: 'distances'; distances: number[] }
  | { kind: 'error'; message: string }
  | { kind: 'stopped' }

/** The onnxruntime session, kept across epochs (it depends on the profile and batch only). */
let session: { key: string; session: Promise<OrtRaceSession> } | undefined
/** The backend of the current seed. */
let cached: { key: string; backend: RaceBackend } | undefined
/** Asked once per worker: probing for an adapter costs time and, without one, stderr noise. */
let gpu: Promise<boolean> | undefined
let stopping = false
let yielding = false
let current: Promise<unknown> = Promise.resolve()

function sessionFor(profile: RaceProfile, batch: number): Promise<OrtRaceSession> {
  const key = `${JSON.stringify(profile)}/${batch}`
  if (session?.key !== key) {
    const old = session?.session
    session = { key, session: OrtRaceSession.create(profile, { batch }) }
    void old?.then((s) => s.release()).catch(() => {})
  }
  return session.session
}

/** Before the gun: the GPU probe and the onnxruntime session, so the Race starts on the gun. */
async function prepare(profile: RaceProfile, batch: number): Promise<void> {
  gpu ??= webgpuAvailable()
  if (!(await gpu)) await sessionFor(profile, batch)
}

/** The backend for one seed; judging another prover's nonces reuses the racing one. */
async function backendFor(profile: RaceProfile, seed: Uint8Array, batch: number): Promise<RaceBackend> {
  const key = `${JSON.stringify(profile)}/${Buffer.from(seed).toString('hex')}`
  if (cached?.key === key) return cached.backend
  await cached?.backend.close()
  cached = undefined
  let backend: RaceBackend
  try {
    gpu ??= webgpuAvailable()
    const cpu = async (): Promise<RaceBackend> => (await sessionFor(profile, batch)).forSeed(seed)
    backend = (await gpu) ? await WebGpuRaceBackend.create(profile, seed, { batch }).catch(cpu) : await cpu()
  } catch {
    backend = new ReferenceBackend(profile, seed)
  }
  cached = { key, backend }
  return backend
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function race(req: Extract<WorkerRequest, { kind: 'race' }>): Promise<void> {
  const backend = await backendFor(req.profile, req.seed, req.batch)
  const tau = threshold(req.profile)
  const valid: number[] = []
  let done = 0
  const start = Date.now()
  let lastReport = start
  while (Date.now() < req.until && !stopping) {
    if (yielding) {
      await sleep(20)
      continue
    }
    const t = Date.now()
    const nonces = Array.from({ length: req.batch }, (_, i) => done + i)
    const d = await backend.distances(req.node, nonces)
    d.forEach((x, i) => x < tau && valid.push(nonces[i]!))
    done += req.batch
    if (req.throttle > 0) await sleep(((Date.now() - t) * req.throttle) / (1 - req.throttle))
    if (Date.now() - lastReport >= 500) {
      lastReport = Date.now()
      post({ kind: 'progress', done, valid: valid.length, ratePerSec: (done * 1000) / (Date.now() - start) })
    }
  }
  post({ kind: 'raced', nonces: valid, done, backend: backend.name })
}

function post(m: WorkerReply): void {
  parentPort!.postMessage(m)
}

parentPort!.on('message', (req: WorkerRequest) => {
  if (req.kind === 'yield') {
    yielding = req.yielding
    return
  }
  if (req.kind === 'stop') {
    // Terminating a worker inside a native onnxruntime run can crash the process: stop between
    // batches, release the session, then let the parent terminate the thread.
    stopping = true
    void current
      .then(() => cached?.backend.close())
      .then(() => session?.session)
      .then((s) => s?.release())
      .catch(() => {})
      .then(() => post({ kind: 'stopped' }))
    return
  }
  const job =
    req.kind === 'prepare'
      ? prepare(req.profile, req.batch).then(() => post({ kind: 'prepared' }))
      : req.kind === 'race'
        ? race(req)
        : backendFor(req.profile, req.seed, req.batch)
            .then((b) => b.distances(req.node, req.nonces))
            .then((d) => post({ kind: 'distances', distances: [...d] }))
  current = job.catch((err: unknown) => post({ kind: 'error', message: (err as Error).message }))
})
