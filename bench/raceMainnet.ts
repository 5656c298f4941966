// `npm run sim:race-mainnet`: the Race with mainnet's parameters on a fake clock (issue 11, item 6).
// The real ledger rules (genesisState, runBody) run block by block with configs/mainnet.json's
// genesis and block pace. Validators commit and reveal; provers of many speeds, from CPU-class to
// GPU-class, submit a signed RaceProof; committee members draw their sample with their VRF, open
// it against the prover's Merkle tree and post a signed ProofVerdict, as src/node/race/service.ts
// does. Only the Race function itself is not evaluated (a mainnet nonce is about 4.84 GFLOP): a
// prover of r nonces/s evaluates r·raceMs/1000 nonces, each valid with the profile's q, at random.
// It prints figures, never asserts them (test/sim/raceSchedule.test.ts asserts the properties on a
// scaled-down schedule):
//  - the Race's share of wall time, and the worker's (raceMs against the epoch);
//  - proof transaction sizes, signed and encoded by the ledger's own codec (so they follow the
//    RaceProof shape in this build), and how many exceed maxTxBytes;
//  - validation cost per validator: proofs judged, nonces recomputed, seconds on a CPU, bytes;
//  - weight against speed: the ratio to the expected weight per prover class with its binomial
//    standard error, a weighted regression of weight on speed, and provers whose weight was capped.
// SIM_RACES (default 2) Races per pace; SIM_PACE idle | busy | both (default both); SIM_SEED;
// SIM_SCALE multiplies the prover counts (default 1); SIM_CPU_GFLOPS (default 100: a mainnet nonce
// on 2 CPU threads, FINDINGS; docs/protocol.md says what that is) prices the recomputation in
// seconds.
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { createHash } from 'node:crypto'
import { runBody } from '../src/ledger/executor.js'
import { genesisState, type Genesis } from '../src/ledger/genesis.js'
import { checkBooks, genesisSupply } from '../src/ledger/economics/index.js'
import { baseRegistry, signTx, type SignedTx, type TxRegistry } from '../src/ledger/tx/index.js'
import type { State } from '../src/ledger/state/state.js'
import { getAccount, getValidatorEntries } from '../src/ledger/state/access.js'
import { signerFromSeed, taggedHash, u64, type Signer } from '../src/ledger/crypto.js'
import { encode } from '../src/ledger/codec.js'
import { getEpoch, getRaceParams, proofDeadline } from '../src/ledger/epoch/access.js'
import { proofCommittee } from '../src/ledger/epoch/committee.js'
import { commitment, sampleIndices, sampleMessage, vrfOutput } from '../src/ledger/epoch/seed.js'
import type { RaceParams } from '../src/ledger/epoch/records.js'
import { flopsPerNonce, NonceTree, Stream, verifySample, type RaceProfile } from '../src/race/index.js'
import { encodeProofRequest, encodeProofResponse } from '../src/protocols/proof/codec.js'
import { networkFile, parseConfig } from '../src/node/config/index.js'
import { genesisFromConfig } from '../src/node/chain/genesis.js'
import { num, print, progress, table } from './lib/report.js'

/** One prover: a class label (for the tables) and its speed, mainnet nonces per second. */
export interface ProverSpec {
  kind: string
  speed: number
}

export interface SimOptions {
  /** chainId, time, params, race (and verification): accounts and validators are replaced. */
  genesis: Genesis
  /** The profile's target success rate per nonce. */
  q: number
  /** consensus.blockIntervalMs: the pace while there are transactions to include, ms. */
  blockIntervalMs: number
  /** consensus.emptyBlockIntervalMs: the longest gap with nothing to include, ms. */
  emptyBlockIntervalMs: number
  /** Inference traffic keeps every block at `blockIntervalMs` (else serving blocks are empty). */
  busy: boolean
  provers: ProverSpec[]
  /** The first `genesisValidators` provers are the genesis validators, power 1 each. */
  genesisValidators: number
  /** Races to run to activation; the run ends when the next one begins. */
  races: number
  seed: number
  /** A transaction reaches the proposer this long after its sender decides to send it, ms (default 500). */
  netDelayMs?: number
  /** Provers (by index) that hold no coins: racing needs none, but commits and verdicts pay fees. */
  unfunded?: number[]
  /** A validator's fetch of one proof's sampled openings over `proof`, ms (default 1000; they run side by side). */
  fetchMs?: number
  /**
   * Check the books after every block (issue 12: a throw names the height and the difference).
   * The tests set it; the benchmark leaves it off, as it times the blocks.
   */
  checkBooks?: boolean
}

/** One prover's part in one Race. */
export interface ProofRecord {
  prover: number
  /** Nonces evaluated in raceMs, and the valid ones among them. */
  evaluated: number
  valid: number
  /** Nonces in its proof: the valid ones up to maxProofNonces (as the daemon truncates). */
  submitted: number
  /** Bytes of the signed, encoded RaceProof transaction (0: nothing to submit). */
  txBytes: number
  /** Bytes the same transaction takes with the nonces inline, `{epoch, nonces}` (the shape being replaced). */
  inlineBytes: number
  /** 'included', or the code the ledger refused it with (TOO_LARGE, LATE, ...), or 'none'. */
  outcome: string
  accepted: boolean
  /** Weight activated for it (0 when not accepted). */
  weight: number
}

/** One validator's judging in one Race. */
export interface JudgeRecord {
  validator: number
  power: number
  /** Proofs whose committee it sits on, and sampled nonces it recomputes for them. */
  proofs: number
  nonces: number
  /** Bytes over `proof`: requests sent and responses (the openings) received. */
  bytes: number
  /** Recomputation time at its own speed, ms. */
  computeMs: number
  /** When its last verdict reached the proposer, ms after the verdict window closed (negative: in time). */
  lastVerdictVsWindowMs: number
}

export interface RaceRecord {
  epoch: number
  /** The Race's first block (its commit phase) and the block that activated its weights. */
  startHeight: number
  startTime: number
  gunTime: number
  activationHeight: number
  activationTime: number
  /** The next Race's first block (NaN until it begins). */
  nextStartHeight: number
  nextStartTime: number
  fallback: boolean
  proofs: ProofRecord[]
  judges: JudgeRecord[]
  verdictBytes: number[]
  /** Verdicts sent, and those the ledger refused, by code. */
  verdictsSent: number
  verdictsRefused: Record<string, number>
  /** Building (signing) and executing the Race's slowest block on this machine, ms (wall clock). */
  slowestBlockMs: number
}

export interface SimResult {
  /** The RaceProof shape of this build: a Merkle commitment, or the nonces inline. */
  shape: ProofShape
  races: RaceRecord[]
  blocks: number
  commitBytes: number
  revealBytes: number
  /** Seconds this machine took. */
  runSeconds: number
}

export type ProofShape = 'commitment' | 'inline'

/**
 * Which RaceProof body the ledger in this build takes: `{epoch, root, count}` (the list served
 * over `proof`) or `{epoch, nonces}` (inline). Asked of the codec, so the simulation follows the
 * code it runs against.
 */
export function proofShape(registry: TxRegistry): ProofShape {
  const t = registry.get('RaceProof')
  if (t === undefined) throw new Error('this build has no RaceProof transaction')
  try {
    t.decodeBody([0, new Uint8Array(32), 1])
    return 'commitment'
  } catch {
    return 'inline'
  }
}

/** What a prover keeps of its proof: the body it sends and how to open a sampled position. */
interface BuiltProof {
  body: unknown
  /** Position `i`'s nonce, and whether its opening verifies against the root (always, inline). */
  open(i: number): { nonce: number; ok: boolean }
  /** Bytes of the `proof` response carrying these openings (0 when the list is in the transaction). */
  responseBytes(indices: number[]): number
}

/**
 * The one place the RaceProof body is built, for either shape (the transaction is being changed
 * from the inline list to a Merkle commitment: keep both here, nowhere else).
 */
export function buildProof(shape: ProofShape, epoch: number, nonces: number[]): BuiltProof {
  if (shape === 'inline') {
    return {
      body: { epoch, nonces },
      open: (i) => ({ nonce: nonces[i]!, ok: true }),
      responseBytes: () => 0,
    }
  }
  const tree = new NonceTree(nonces)
  return {
    body: { epoch, root: tree.root, count: tree.count },
    open: (i) => {
      const s = tree.sample(i)
      return { nonce: s.nonce, ok: verifySample(tree.root, tree.count, s) }
    },
    responseBytes: (indices) =>
      encodeProofResponse({ found: true, samples: indices.map((i) => tree.sample(i)) }).length,
  }
}

/** Seeded randomness over the Race's AES-CTR stream (reproducible; never Math.random). */
class Rand {
  private readonly s: Stream
  constructor(seed: number, stream: number) {
    const key = new Uint8Array(32)
    new DataView(key.buffer).setUint32(0, seed >>> 0)
    this.s = new Stream(key, stream)
  }
  /** Uniform in (0, 1), 53 bits. */
  open(): number {
    const hi = this.s.next() >>> 5
    const lo = this.s.next() >>> 6
    return (hi * 67108864 + lo + 0.5) / 9007199254740992
  }
}

/**
 * The valid nonces among 0 … evaluated−1 when each is valid with probability q independently:
 * geometric gaps between successes, so the count is Binomial(evaluated, q) and the ids uniform,
 * at a cost proportional to the valid ones.
 */
export function drawValidNonces(rand: { open(): number }, evaluated: number, q: number): number[] {
  const out: number[] = []
  const lq = Math.log1p(-q)
  for (let n = -1; ;) {
    n += 1 + Math.floor(Math.log(rand.open()) / lq)
    if (n >= evaluated) return out
    out.push(n)
  }
}

interface Pending {
  at: number
  signer: Signer
  type: string
  body: unknown
  onSigned?: (tx: SignedTx) => void
  onDone?: (code: string | null) => void
  signed?: boolean
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0)

/**
 * Many peers' RaceServices collapsed into one loop over one chain: after every block, each peer
 * does what the daemon does on a committed block; transactions reach the proposer after
 * `netDelayMs`; a block follows its parent after `blockIntervalMs` when something waits to be
 * included, else after `emptyBlockIntervalMs` (checked every `blockIntervalMs`, as the replica does).
 */
export class RaceScheduleSim {
  readonly registry = baseRegistry()
  readonly shape: ProofShape
  readonly signers: Signer[]
  private readonly index = new Map<string, number>()
  private readonly state: State
  private height = 0
  private time: number
  private prevHash: Uint8Array = new Uint8Array(32)
  private pending: Pending[] = []
  private readonly done = new Set<string>()
  private readonly secrets = new Map<string, Uint8Array>()
  private readonly built = new Map<number, Map<number, BuiltProof>>()
  private readonly records = new Map<number, RaceRecord>()
  private lastEpoch = 0
  private commitBytes = 0
  private revealBytes = 0
  private readonly netDelayMs: number
  private readonly fetchMs: number
  private readonly genesisSupply: bigint

  constructor(readonly o: SimOptions) {
    if (o.genesis.race === undefined) throw new Error('the genesis runs no Races')
    this.signers = o.provers.map((_, i) =>
      signerFromSeed(createHash('sha256').update(`cordex-race-sim-${i}`).digest()),
    )
    this.signers.forEach((s, i) => this.index.set(s.peerId, i))
    const genesis: Genesis = {
      ...o.genesis,
      // Commits, reveals and verdicts pay fees: every peer has coins unless it is `unfunded`.
      accounts: this.signers
        .filter((_, i) => !(o.unfunded ?? []).includes(i))
        .map((s) => ({ id: s.peerId, balance: 10n ** 15n, stake: 0n })),
      validators: this.signers.slice(0, o.genesisValidators).map((s) => ({ id: s.peerId, power: 1 })),
    }
    this.state = genesisState(genesis)
    this.genesisSupply = genesisSupply(genesis)
    this.time = o.genesis.time
    this.shape = proofShape(this.registry)
    this.netDelayMs = o.netDelayMs ?? 500
    this.fetchMs = o.fetchMs ?? 1000
  }

  run(): SimResult {
    const t0 = performance.now()
    while (this.records.get(this.o.races) === undefined) {
      const started = performance.now()
      this.block()
      this.observe(performance.now() - started)
    }
    return {
      shape: this.shape,
      races: [...this.records.values()].filter((r) => r.epoch < this.o.races),
      blocks: this.height,
      commitBytes: this.commitBytes,
      revealBytes: this.revealBytes,
      runSeconds: (performance.now() - t0) / 1000,
    }
  }

  private nextBlockTime(): number {
    const { blockIntervalMs: bi, emptyBlockIntervalMs: idle } = this.o
    if (this.o.busy || idle <= bi || bi <= 0) return this.time + bi
    const first = Math.min(...this.pending.map((x) => x.at))
    for (let at = this.time + bi; at < this.time + idle; at += bi) if (first <= at) return at
    return this.time + idle
  }

  /** One block: what has reached the proposer by its time, signed with the senders' next nonces. */
  private block(): void {
    const time = this.nextBlockTime()
    const height = this.height + 1
    const ready = this.pending.filter((x) => x.at <= time).sort((a, b) => a.at - b.at)
    const next = new Map<string, number>()
    const byHash = new Map<string, Pending>()
    const txs = ready.map((x) => {
      const id = x.signer.peerId
      const nonce = next.get(id) ?? getAccount(this.state, id).nonce
      next.set(id, nonce + 1)
      const fee = this.registry.get(x.type)?.feeExempt === true ? 0n : this.o.genesis.params.minTxFee
      const tx = signTx(this.registry, this.o.genesis.chainId, x.signer, {
        type: x.type,
        nonce,
        fee,
        body: x.body,
      })
      if (x.signed !== true) x.onSigned?.(tx)
      x.signed = true
      byHash.set(tx.hashHex, x)
      return tx
    })
    const proposer = getValidatorEntries(this.state)[0]!.id
    const run = runBody(
      this.state,
      { chainId: this.o.genesis.chainId, registry: this.registry },
      { height, time, prevHash: this.prevHash, proposer, txs, evidence: [] },
      false,
    )
    this.state.commit(run.overlay)
    if (this.o.checkBooks === true) {
      const why = checkBooks(this.state, this.genesisSupply)
      if (why !== undefined) throw new Error(`after block ${height}: ${why}`)
    }
    const settle = (hash: string, code: string | null): void => {
      const x = byHash.get(hash)!
      this.pending.splice(this.pending.indexOf(x), 1)
      x.onDone?.(code)
    }
    const failed = new Map(run.failed.map((f) => [f.tx.hashHex, f.error.code]))
    for (const tx of run.txs) settle(tx.hashHex, failed.get(tx.hashHex) ?? null)
    // Left out: a nonce gap waits for the sender's earlier transaction; anything else is refused.
    for (const d of run.dropped) if (d.error.code !== 'NONCE_GAP') settle(d.tx.hashHex, d.error.code)
    this.height = height
    this.time = time
    this.prevHash = taggedHash('cordex/sim/block', u64(height))
  }

  private send(at: number, signer: Signer, type: string, body: unknown, hooks: Partial<Pending> = {}): void {
    this.pending.push({ at: at + this.netDelayMs, signer, type, body, ...hooks })
  }

  private once(key: string): boolean {
    if (this.done.has(key)) return false
    this.done.add(key)
    return true
  }

  /** What every peer does on the block just committed (RaceService.step), and the bookkeeping. */
  private observe(blockMs: number): void {
    const e = getEpoch(this.state)!
    const p = getRaceParams(this.state)!
    const now = this.time
    const running = this.records.get(this.lastEpoch)
    if (running !== undefined && Number.isNaN(running.activationTime))
      running.slowestBlockMs = Math.max(running.slowestBlockMs, blockMs)
    if (e.number !== this.lastEpoch) {
      // The previous Race activated at this block: its weights are the new epoch's.
      const r = this.records.get(this.lastEpoch)!
      r.activationHeight = this.height
      r.activationTime = now
      const weights = new Map(e.weights)
      for (const pr of r.proofs) {
        pr.weight = weights.get(this.signers[pr.prover]!.peerId) ?? 0
        pr.accepted = weights.has(this.signers[pr.prover]!.peerId)
      }
      this.built.delete(this.lastEpoch)
      this.lastEpoch = e.number
    }
    if (e.phase !== 'serve' && !this.records.has(e.number)) {
      const prev = this.records.get(e.number - 1)
      if (prev !== undefined) {
        prev.nextStartHeight = this.height
        prev.nextStartTime = now
      }
      this.records.set(e.number, {
        epoch: e.number,
        startHeight: this.height,
        startTime: now,
        gunTime: NaN,
        activationHeight: NaN,
        activationTime: NaN,
        nextStartHeight: NaN,
        nextStartTime: NaN,
        fallback: false,
        proofs: [],
        judges: [],
        verdictBytes: [],
        verdictsSent: 0,
        verdictsRefused: {},
        slowestBlockMs: 0,
      })
    }
    const r = this.records.get(e.number)
    if (r === undefined) return
    const validators = getValidatorEntries(this.state).filter((v) => v.power > 0)
    if (e.phase === 'commit' && this.once(`commit/${e.number}`)) {
      for (const v of validators) {
        const signer = this.signers[this.index.get(v.id)!]!
        const secret = taggedHash('cordex/sim/secret', u64(this.o.seed), u64(e.number), Buffer.from(v.id))
        this.secrets.set(v.id, secret)
        this.send(
          now,
          signer,
          'RandCommit',
          { epoch: e.number, hash: commitment(secret, v.id) },
          {
            onSigned: (tx) => (this.commitBytes = tx.bytes.length),
          },
        )
      }
    } else if (e.phase === 'reveal' && this.once(`reveal/${e.number}`)) {
      for (const [id] of e.commits) {
        this.send(
          now,
          this.signers[this.index.get(id)!]!,
          'RandReveal',
          { epoch: e.number, secret: this.secrets.get(id)! },
          {
            onSigned: (tx) => (this.revealBytes = tx.bytes.length),
          },
        )
      }
    } else if (e.phase === 'race' && e.seed !== null && this.once(`race/${e.number}`)) {
      r.gunTime = e.gunTime
      r.fallback = e.fallback
      this.race(r, e.number, e.gunTime, p)
    } else if (e.phase === 'validate' && this.once(`judge/${e.number}`)) {
      this.judge(r, p, now)
    }
  }

  /** Every prover races from the gun for raceMs, then submits its valid nonces (SPEC 4 phases 3, 4). */
  private race(r: RaceRecord, epoch: number, gun: number, p: RaceParams): void {
    const built = new Map<number, BuiltProof>()
    this.built.set(epoch, built)
    this.o.provers.forEach((spec, i) => {
      const evaluated = Math.floor((spec.speed * p.raceMs) / 1000)
      const rand = new Rand(this.o.seed, epoch * 1_000_003 + i)
      const valid = drawValidNonces(rand, evaluated, this.o.q)
      const rec: ProofRecord = {
        prover: i,
        evaluated,
        valid: valid.length,
        submitted: Math.min(valid.length, p.maxProofNonces),
        txBytes: 0,
        inlineBytes: 0,
        outcome: 'none',
        accepted: false,
        weight: 0,
      }
      r.proofs.push(rec)
      if (valid.length === 0) return
      const list = valid.slice(0, p.maxProofNonces)
      const proof = buildProof(this.shape, epoch, list)
      built.set(i, proof)
      // The worker races until gun + raceMs by its clock, then builds its tree and sends.
      this.send(gun + p.raceMs, this.signers[i]!, 'RaceProof', proof.body, {
        onSigned: (tx) => {
          rec.txBytes = tx.bytes.length
          // The body is one element of the transaction's array: swap its encoding for the inline one's.
          const body = this.registry.get('RaceProof')!.encodeBody(tx.body as never)
          rec.inlineBytes = rec.txBytes - encode(body).length + encode([epoch, list]).length
        },
        onDone: (code) => (rec.outcome = code ?? 'included'),
      })
    })
  }

  /**
   * Each validator on a proof's committee signs the sample message (its VRF), opens the sampled
   * positions, recomputes them and posts its verdict (SPEC 4.5). Fetches run side by side; the
   * recomputations queue on its worker at its own speed.
   */
  private judge(r: RaceRecord, p: RaceParams, now: number): void {
    const e = getEpoch(this.state)!
    const built = this.built.get(e.number) ?? new Map<number, BuiltProof>()
    const windowEnd = proofDeadline(e, p) + p.validateMs
    const seats = new Map<string, Array<[string, number, Uint8Array]>>()
    for (const proof of e.proofs) {
      for (const v of proofCommittee(this.state, e, p, proof[0])) {
        const list = seats.get(v) ?? []
        list.push(proof)
        seats.set(v, list)
      }
    }
    for (const v of getValidatorEntries(this.state).filter((x) => x.power > 0)) {
      const vi = this.index.get(v.id)!
      const signer = this.signers[vi]!
      const speed = this.o.provers[vi]!.speed
      const rec: JudgeRecord = {
        validator: vi,
        power: v.power,
        proofs: 0,
        nonces: 0,
        bytes: 0,
        computeMs: 0,
        lastVerdictVsWindowMs: -Infinity,
      }
      r.judges.push(rec)
      let at = now + this.fetchMs
      for (const [prover, count, root] of seats.get(v.id) ?? []) {
        const vrfSig = signer.sign(sampleMessage(e.number, prover, root))
        const indices = sampleIndices(vrfOutput(vrfSig), count, p.sampleSize)
        const proof = built.get(this.index.get(prover)!)!
        // Honest provers: every sampled nonce is one of their valid ones, and every opening holds.
        const failures = indices.filter((i) => !proof.open(i).ok).length
        const ms = (indices.length / speed) * 1000
        at += ms
        rec.proofs++
        rec.nonces += indices.length
        rec.computeMs += ms
        // Its own proof it opens from its own tree (as the daemon does); others' come over `proof`.
        if (this.shape === 'commitment' && prover !== v.id)
          rec.bytes += encodeProofRequest({ epoch: e.number, indices }).length + proof.responseBytes(indices)
        rec.lastVerdictVsWindowMs = at + this.netDelayMs - windowEnd
        r.verdictsSent++
        const body = { epoch: e.number, prover, accepted: failures <= p.maxSampleFailures, failures, vrfSig }
        this.send(at, signer, 'ProofVerdict', body, {
          onSigned: (tx) => r.verdictBytes.push(tx.bytes.length),
          onDone: (code) => {
            if (code !== null) r.verdictsRefused[code] = (r.verdictsRefused[code] ?? 0) + 1
          },
        })
      }
    }
  }
}

// ---- Analysis ----

/** Wall-time figures of one Race: its phases' share of its epoch, and the worker's racing share. */
export function raceShare(
  r: RaceRecord,
  raceMs: number,
): { raceWallMs: number; epochWallMs: number; share: number; racing: number } {
  const raceWallMs = r.activationTime - r.startTime
  const epochWallMs = r.nextStartTime - r.startTime
  return { raceWallMs, epochWallMs, share: raceWallMs / epochWallMs, racing: raceMs / epochWallMs }
}

export interface KindRow {
  kind: string
  provers: number
  speed: number
  /** Σ weight and Σ expected weight (evaluated · q) over provers and Races. */
  weight: number
  expected: number
  /** weight / expected, and its binomial standard error. */
  ratio: number
  se: number
}

export interface WeightStats {
  rows: KindRow[]
  /** Weighted least squares of weight on speed (variance ∝ speed): slope normalized by q·raceMs/1000, and intercept in nonces. */
  slope: number
  slopeSe: number
  intercept: number
  interceptSe: number
  /** Σ z² over prover-Races, its expectation (the count) and its standard deviation under the binomial. */
  chi2: number
  chi2Mean: number
  chi2Sd: number
  maxAbsZ: number
  /** Provers whose weight was capped (maxProofNonces truncated their list, or maxWeightPerPeer their weight). */
  capped: Array<{ prover: number; kind: string; epoch: number; valid: number; weight: number; by: string }>
  /** Provers whose proof was not accepted although they had valid nonces. */
  lost: Array<{ prover: number; kind: string; epoch: number; valid: number; outcome: string }>
}

/**
 * Weight against speed over all Races. Under honest play a prover's weight is Binomial(N, q) for
 * the N nonces it evaluated, so every figure's error comes from that variance. Capped provers are
 * left out of the statistics (they are listed) unless `includeCapped`.
 */
export function weightStats(
  res: SimResult,
  provers: ProverSpec[],
  q: number,
  p: Pick<RaceParams, 'raceMs' | 'maxProofNonces' | 'maxWeightPerPeer'>,
  includeCapped = false,
): WeightStats {
  const capped: WeightStats['capped'] = []
  const lost: WeightStats['lost'] = []
  const samples: Array<{ kind: string; speed: number; w: number; n: number }> = []
  for (const r of res.races) {
    for (const pr of r.proofs) {
      const spec = provers[pr.prover]!
      const by =
        pr.valid > p.maxProofNonces
          ? 'maxProofNonces'
          : p.maxWeightPerPeer > 0 && pr.submitted > p.maxWeightPerPeer
            ? 'maxWeightPerPeer'
            : ''
      if (by !== '')
        capped.push({
          prover: pr.prover,
          kind: spec.kind,
          epoch: r.epoch,
          valid: pr.valid,
          weight: pr.weight,
          by,
        })
      if (pr.valid > 0 && !pr.accepted)
        lost.push({
          prover: pr.prover,
          kind: spec.kind,
          epoch: r.epoch,
          valid: pr.valid,
          outcome: pr.outcome,
        })
      if (by === '' || includeCapped)
        samples.push({ kind: spec.kind, speed: spec.speed, w: pr.weight, n: pr.evaluated })
    }
  }
  const kinds = [...new Set(provers.map((x) => x.kind))]
  const rows = kinds.map((kind): KindRow => {
    const s = samples.filter((x) => x.kind === kind)
    const expected = sum(s.map((x) => x.n * q))
    const weight = sum(s.map((x) => x.w))
    const ofKind = provers.filter((x) => x.kind === kind)
    return {
      kind,
      provers: ofKind.length,
      speed: sum(ofKind.map((x) => x.speed)) / ofKind.length,
      weight,
      expected,
      ratio: weight / expected,
      se: Math.sqrt(expected * (1 - q)) / expected,
    }
  })
  // WLS with the known variances σ² = N q (1 − q): normal equations of [1, s].
  let a = 0,
    b = 0,
    c = 0,
    y0 = 0,
    y1 = 0
  let chi2 = 0,
    chi2Var = 0,
    maxAbsZ = 0
  for (const x of samples) {
    if (x.n === 0) continue
    const v = x.n * q * (1 - q)
    a += 1 / v
    b += x.speed / v
    c += (x.speed * x.speed) / v
    y0 += x.w / v
    y1 += (x.speed * x.w) / v
    const z = (x.w - x.n * q) / Math.sqrt(v)
    chi2 += z * z
    // Var(z²) = 2 + excess kurtosis of the binomial, (1 − 6q(1 − q)) / (N q (1 − q)).
    chi2Var += 2 + (1 - 6 * q * (1 - q)) / v
    maxAbsZ = Math.max(maxAbsZ, Math.abs(z))
  }
  const det = a * c - b * b
  const unit = (q * p.raceMs) / 1000
  return {
    rows,
    slope: (a * y1 - b * y0) / det / unit,
    slopeSe: Math.sqrt(a / det) / unit,
    intercept: (c * y0 - b * y1) / det,
    interceptSe: Math.sqrt(c / det),
    chi2,
    chi2Mean: samples.filter((x) => x.n > 0).length,
    chi2Sd: Math.sqrt(chi2Var),
    maxAbsZ,
    capped,
    lost,
  }
}

// ---- Mainnet set-up ----

export interface MainnetSetup {
  genesis: Genesis
  profile: RaceProfile
  blockIntervalMs: number
  emptyBlockIntervalMs: number
}

/** configs/mainnet.json, validated by the config loader's own schema (which includes its Race-fit check). */
export function mainnetSetup(): MainnetSetup {
  const config = parseConfig(JSON.parse(readFileSync(networkFile('mainnet'), 'utf8')), 'configs/mainnet.json')
  return {
    genesis: genesisFromConfig(config.genesis),
    profile: config.race as RaceProfile,
    blockIntervalMs: config.consensus.blockIntervalMs,
    emptyBlockIntervalMs: config.consensus.emptyBlockIntervalMs,
  }
}

/**
 * Provers from CPU-class to GPU-class (nonces/s on the mainnet profile, FINDINGS, docs/protocol.md):
 * 50 CPUs at 5–40, 20 H200s on our WebGPU backend at about 960, 5 on PyTorch fp32 at 7,300 and
 * 2 on PyTorch bf16 at 38,000; `scale` multiplies the counts.
 */
export function mainnetProvers(scale = 1): ProverSpec[] {
  const spread = (kind: string, count: number, lo: number, hi: number): ProverSpec[] => {
    const n = Math.max(1, Math.round(count * scale))
    return Array.from({ length: n }, (_, i) => ({
      kind,
      speed: n === 1 ? (lo + hi) / 2 : lo + ((hi - lo) * i) / (n - 1),
    }))
  }
  return [
    ...spread('cpu', 50, 5, 40),
    ...spread('webgpu', 20, 900, 1020),
    ...spread('torch-fp32', 5, 7300, 7300),
    ...spread('torch-bf16', 2, 38000, 38000),
  ]
}

// ---- The report ----

function quantiles(xs: number[]): string {
  if (xs.length === 0) return '—'
  const s = [...xs].sort((a, b) => a - b)
  const at = (f: number): number => s[Math.min(s.length - 1, Math.floor(f * s.length))]!
  return `${s[0]} / ${at(0.5)} / ${s[s.length - 1]}`
}

const pct = (x: number): string => `${(100 * x).toFixed(3)}%`
const hours = (ms: number): string => `${(ms / 3_600_000).toFixed(2)} h`
const secs = (ms: number): string => `${num(ms / 1000, 0)} s`

function scheduleSection(p: RaceParams, res: SimResult): void {
  print('### The Race in the epoch (wall time)')
  print()
  print(
    table([
      [
        'Race',
        'start height',
        'blocks to next',
        'Race blocks',
        'commit+reveal',
        'gun→activation',
        'Race wall',
        'epoch wall',
        'Race share',
        'racing share',
        'slowest block',
      ],
      ...res.races.map((r) => {
        const s = raceShare(r, p.raceMs)
        return [
          String(r.epoch),
          String(r.startHeight),
          String(r.nextStartHeight - r.startHeight),
          String(r.activationHeight - r.startHeight),
          secs(r.gunTime - r.startTime),
          secs(r.activationTime - r.gunTime),
          secs(s.raceWallMs),
          hours(s.epochWallMs),
          pct(s.share),
          pct(s.racing),
          `${num(r.slowestBlockMs, 0)} ms`,
        ]
      }),
    ]),
  )
  print()
  print(
    'Race share: from the first commit block to the activation block, over the time from one Race start to ' +
      'the next; racing share: raceMs over the same. Slowest block: signing and executing it on this machine.',
  )
  print()
}

function sizeSection(o: SimOptions, res: SimResult): void {
  const max = o.genesis.params.maxTxBytes
  print(`### Transaction sizes (signed and encoded by the ledger's codec; RaceProof shape: ${res.shape})`)
  print()
  const sizes = res.races.flatMap((r) => r.proofs.filter((x) => x.txBytes > 0))
  const kinds = [...new Set(o.provers.map((x) => x.kind))]
  print(
    table([
      [
        'transaction',
        'nonces (min / median / max)',
        'bytes',
        `over ${max}`,
        'inline bytes',
        `inline over ${max}`,
      ],
      ...kinds.map((k) => {
        const of = sizes.filter((x) => o.provers[x.prover]!.kind === k)
        return [
          `RaceProof, ${k}`,
          quantiles(of.map((x) => x.submitted)),
          quantiles(of.map((x) => x.txBytes)),
          String(of.filter((x) => x.txBytes > max).length),
          quantiles(of.map((x) => x.inlineBytes)),
          String(of.filter((x) => x.inlineBytes > max).length),
        ]
      }),
      ['ProofVerdict', '', quantiles(res.races.flatMap((r) => r.verdictBytes)), '', '', ''],
      ['RandCommit / RandReveal', '', `${res.commitBytes} / ${res.revealBytes}`, '', '', ''],
    ]),
  )
  print()
  const refused = sizes.filter((x) => x.outcome !== 'included')
  const codes = [...new Set(refused.map((x) => x.outcome))]
  print(
    `Proofs the ledger refused: ${refused.length} of ${sizes.length}` +
      (codes.length === 0
        ? ''
        : ` (${codes.map((c) => `${c} ${refused.filter((x) => x.outcome === c).length}`).join(', ')})`) +
      `. Inline: the same lists as \`{epoch, nonces}\`; ${sizes.filter((x) => x.inlineBytes > max).length} of ` +
      `${sizes.length} would exceed maxTxBytes ${max}.`,
  )
  print()
}

function validationSection(setup: MainnetSetup, o: SimOptions, res: SimResult, cpuGflops: number): void {
  const p = setup.genesis.race!
  const kinds = [...new Set(o.provers.map((x) => x.kind))]
  print('### Validation cost per validator, per Race')
  print()
  const secPerNonce = flopsPerNonce(setup.profile) / (cpuGflops * 1e9)
  print(
    `One mainnet nonce is ${num(flopsPerNonce(setup.profile) / 1e9, 2)} GFLOP: ${num(secPerNonce, 4)} s on a CPU at ` +
      `${cpuGflops} GFLOP/s (2 threads, ../shared/FINDINGS.md). sampleSize ${p.sampleSize}, committeeSize ` +
      `${p.committeeSize}, validateMs ${p.validateMs / 1000} s. Columns: min / median / max over validators.`,
  )
  print()
  const header = [
    'validators',
    'count',
    'proofs judged',
    'nonces recomputed',
    's on a CPU',
    's at own speed',
    'KiB over proof',
    'late',
  ]
  const rowFor = (name: string, js: JudgeRecord[]): string[] => [
    name,
    String(js.length),
    quantiles(js.map((j) => j.proofs)),
    quantiles(js.map((j) => j.nonces)),
    quantiles(js.map((j) => Math.round(j.nonces * secPerNonce))),
    quantiles(js.map((j) => Math.round(j.computeMs / 100) / 10)),
    quantiles(js.map((j) => Math.round(j.bytes / 1024))),
    String(js.filter((j) => j.lastVerdictVsWindowMs > 0).length),
  ]
  const later = res.races.filter((r) => r.epoch > 0).flatMap((r) => r.judges)
  const first = res.races[0]
  print(
    table([
      header,
      ...(first === undefined ? [] : [rowFor(`Race 0: genesis (power 1 each)`, first.judges)]),
      ...kinds.map((k) =>
        rowFor(
          `Races 1+: ${k}`,
          later.filter((j) => o.provers[j.validator]!.kind === k),
        ),
      ),
      rowFor('Races 1+: all', later),
    ]),
  )
  print()
  const proofs = res.races.map((r) => r.proofs.filter((x) => x.outcome === 'included').length)
  const refused = res.races.flatMap((r) => Object.entries(r.verdictsRefused))
  print(
    `Verdicts: ${sum(res.races.map((r) => r.verdictsSent))} sent for ${sum(proofs)} proofs; refused: ` +
      (refused.length === 0 ? 'none' : refused.map(([c, n]) => `${c} ${n}`).join(', ')) +
      `. A validator recomputing on a CPU can judge at most ` +
      `${Math.floor(p.validateMs / 1000 / secPerNonce / p.sampleSize)} proofs in validateMs.`,
  )
  const last = res.races[res.races.length - 1]
  if (last !== undefined && last.epoch > 0) {
    const total = sum(last.judges.map((j) => j.power))
    const top = [...last.judges].sort((x, y) => y.power - x.power).slice(0, p.committeeSize)
    print(
      `Power in Race ${last.epoch}: the ${top.length} heaviest validators hold ${pct(sum(top.map((j) => j.power)) / total)} ` +
        `of it (the heaviest two ${pct(sum(top.slice(0, 2).map((j) => j.power)) / total)}) and judged ` +
        `${top.map((j) => j.proofs).join(', ')} of ${proofs[proofs.length - 1]} proofs.`,
    )
  }
  print()
}

function weightSection(o: SimOptions, results: SimResult[], q: number, p: RaceParams): void {
  const merged: SimResult = { ...results[0]!, races: results.flatMap((r) => r.races) }
  const w = weightStats(merged, o.provers, q, p)
  const races = merged.races.length
  print(`### Weight against speed (${races} Races)`)
  print()
  print(
    table([
      ['class', 'provers', 'nonces/s', 'weight per Race', 'expected', 'weight / expected', '± s.e.'],
      ...w.rows.map((r) => [
        r.kind,
        String(r.provers),
        num(r.speed, 0),
        num(r.weight / races, 0),
        num(r.expected / races, 0),
        num(r.ratio, 4),
        num(r.se, 4),
      ]),
    ]),
  )
  print()
  print(
    `Expected: nonces evaluated × q. Weighted regression of weight on speed (variance ∝ speed): slope ` +
      `${num(w.slope, 4)} ± ${num(w.slopeSe, 4)} of q·raceMs/1000 (1: proportional), intercept ` +
      `${num(w.intercept, 2)} ± ${num(w.interceptSe, 2)} nonces (0: proportional). Σz² over prover-Races ` +
      `${num(w.chi2, 1)} against ${w.chi2Mean} ± ${num(w.chi2Sd, 1)} under the binomial; largest |z| ${num(w.maxAbsZ, 2)}.`,
  )
  print(
    w.capped.length === 0
      ? `No prover was capped (maxProofNonces ${p.maxProofNonces}, maxWeightPerPeer ${p.maxWeightPerPeer || 'none'}).`
      : `Capped (left out of the figures above): ${w.capped
          .map(
            (c) =>
              `prover ${c.prover} (${c.kind}) in Race ${c.epoch}: ${c.valid} valid, weight ${c.weight}, by ${c.by}`,
          )
          .join('; ')}`,
  )
  if (w.lost.length > 0)
    print(
      `Not accepted although it had valid nonces: ${w.lost.length}, e.g. ` +
        w.lost
          .slice(0, 5)
          .map((l) => `prover ${l.prover} (${l.kind}) in Race ${l.epoch}: ${l.valid} valid, ${l.outcome}`)
          .join('; '),
    )
  print()
}

function main(): void {
  const setup = mainnetSetup()
  const races = Number(process.env.SIM_RACES ?? 2)
  const seed = Number(process.env.SIM_SEED ?? 20261111)
  const scale = Number(process.env.SIM_SCALE ?? 1)
  const cpuGflops = Number(process.env.SIM_CPU_GFLOPS ?? 100)
  const pace = process.env.SIM_PACE ?? 'both'
  const paces = pace === 'idle' ? [false] : pace === 'busy' ? [true] : [true, false]
  const provers = mainnetProvers(scale)
  const p = setup.genesis.race!
  print('# The Race on mainnet parameters (simulated, fake clock)')
  print()
  print(
    `configs/mainnet.json: epochBlocks ${setup.genesis.params.epochBlocks}; commit ${p.commitBlocks} + reveal ` +
      `${p.revealBlocks} blocks; raceMs ${p.raceMs / 1000} s, submitMs ${p.submitMs / 1000} s, validateMs ` +
      `${p.validateMs / 1000} s; blocks every ${setup.blockIntervalMs / 1000} s with transactions, ` +
      `${setup.emptyBlockIntervalMs / 1000} s without; q = 1/${num(1 / setup.profile.q, 0)}. ` +
      `${provers.length} provers (${[...new Set(provers.map((x) => x.kind))]
        .map((k) => `${provers.filter((x) => x.kind === k).length} ${k}`)
        .join(', ')}), all of them genesis validators with power 1; seed ${seed}.`,
  )
  print()
  const results: SimResult[] = []
  let o: SimOptions | undefined
  for (const [i, busy] of paces.entries()) {
    o = {
      genesis: setup.genesis,
      q: setup.profile.q,
      blockIntervalMs: setup.blockIntervalMs,
      emptyBlockIntervalMs: setup.emptyBlockIntervalMs,
      busy,
      provers,
      genesisValidators: provers.length,
      races,
      seed: seed + i,
    }
    progress(`${busy ? 'busy' : 'idle'} chain: ${races} Races of ${provers.length} provers`)
    const res = new RaceScheduleSim(o).run()
    results.push(res)
    print(
      busy
        ? '## A busy chain: inference traffic keeps a block every 2 s'
        : '## An idle chain: between Races, an empty block every 10 s',
    )
    print()
    print(`${res.races.length} Races, ${res.blocks} blocks, ${num(res.runSeconds, 1)} s on this machine.`)
    print()
    scheduleSection(p, res)
    sizeSection(o, res)
    validationSection(setup, o, res, cpuGflops)
  }
  if (o !== undefined) {
    print('## Both paces together')
    print()
    weightSection(o, results, setup.profile.q, p)
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main()
