import { ChainSim, testSigner, testGenesis } from '../helpers/chainSim.js'
import {
  baseRegistry,
  signTx,
  type SignedTx,
  type TxRegistry,
  encodeBlock,
  encodeCommit,
  type Block,
  type Commit,
  type BlockLimits,
  signProposal,
  encodeProposal,
  type Proposal,
  signVote,
  encodeVote,
  VoteType,
  blockHash,
  genesisState,
  encodeEntry,
  type Signer,
} from '../../src/ledger/index.js'
import { freshEpoch } from '../../src/ledger/epoch/records.js'
import { encodeRequest, encodeFrame, type InferRequest } from '../../src/protocols/infer/codec.js'
import { encodeInfo } from '../../src/protocols/info/codec.js'
import type { Receipt } from '../../src/ledger/task/receipt.js'

// Valid encodings of every message the daemon decodes, made by the daemon's own encoders: the
// seeds that the fuzz targets mutate. Built once per process from a short simulated chain.

export const CHAIN_ID = 'cordex-sim'

export const LIMITS: BlockLimits = {
  maxBlockBytes: 1 << 20,
  maxBlockTxs: 1000,
  maxTxBytes: 4096,
  maxValidators: 100,
}

export interface Templates {
  registry: TxRegistry
  signers: Signer[]
  txs: SignedTx[]
  blocks: Block[]
  commits: Commit[]
  proposals: Proposal[]
  votes: Uint8Array[]
  inferRequests: InferRequest[]
  inferFrames: Uint8Array[]
  info: Uint8Array[]
  /** State entries: (key, canonical bytes). */
  entries: Array<[string, Uint8Array]>
  /** Every valid encoding above, as donors for splices. */
  all: Uint8Array[]
}

const b = (n: number, fill = 7): Uint8Array => new Uint8Array(n).fill(fill)

export const RECEIPT: Receipt = {
  taskId: b(32, 1),
  modelId: 'kjv-small@395ffd6090691bd5',
  inputHash: b(32, 2),
  outputHash: b(32, 3),
  promptTokens: 12,
  completionTokens: 34,
}

export const INFER_REQUEST: InferRequest = {
  taskId: b(32, 9),
  model: 'kjv-small@395ffd6090691bd5',
  prompt: '\uFEFFIn the beginning',
  maxTokens: 8,
  tokenPrice: 7499n,
  sampling: {
    temperature: 0.7,
    topP: 0.9,
    topK: 40,
    repetitionPenalty: 1.1,
    frequencyPenalty: 0,
    presencePenalty: 0.5,
  },
  stop: ['\n', 'Amen'],
  // The gateway's signed TaskOpen travels with the request; any canonical bytes decode here.
  open: new Uint8Array(0),
}

/** One signed transaction of every registered type, from `signer`. */
export function sampleTxs(registry: TxRegistry, signer: Signer, other: Signer): SignedTx[] {
  const bodies: Array<[string, unknown, bigint]> = [
    ['Transfer', { to: other.peerId, amount: 5n }, 1n],
    ['Transfer', { to: other.peerId, amount: 2n ** 64n - 1n }, 2n ** 64n - 1n],
    ['Stake', { amount: 10n }, 1n],
    ['Unstake', { amount: 1n }, 1n],
    [
      'HostAnnounce',
      {
        models: ['kjv-small@395ffd6090691bd5'],
        priceVote: 1n,
        fingerprint: 'cpu/x',
        addrs: ['/ip4/127.0.0.1/tcp/1'],
      },
      1n,
    ],
    ['RandCommit', { epoch: 1, hash: b(32) }, 1n],
    ['RandReveal', { epoch: 1, secret: b(32) }, 1n],
    ['RaceProof', { epoch: 1, root: b(32, 3), count: 2 ** 32 }, 0n],
    ['ProofVerdict', { epoch: 1, prover: other.peerId, accepted: true, failures: 0, vrfSig: b(64) }, 1n],
    ['TaskOpen', { model: 'kjv-small@395ffd6090691bd5', maxCost: 1000n }, 1n],
    ['TaskReceipt', { receipt: RECEIPT, executor: other.peerId, sig: b(64) }, 1n],
    ['TaskCancel', { taskId: b(32) }, 1n],
    ['VerifyResult', { taskId: b(32), ok: true, reason: 'ok', position: 0, expected: 0, actual: 0 }, 1n],
    [
      'VerifyResult',
      { taskId: b(32), ok: false, reason: 'end', position: 17, expected: 2047, actual: -1 },
      1n,
    ],
    ['VerifyKey', { epoch: 3, key: b(64) }, 1n],
    ['Report', { taskId: b(32) }, 1n],
    ['PriceVote', { price: 2n ** 64n - 1n }, 1n],
    ['ModelPropose', { model: 'kjv-tiny@0123456789abcdef', unitsPerToken: 1e12 }, 1n],
    ['ModelVote', { model: 'kjv-tiny@0123456789abcdef', approve: false }, 1n],
  ]
  return bodies.map(([type, body, fee], nonce) =>
    signTx(registry, CHAIN_ID, signer, { type, nonce, fee, body }),
  )
}

let cached: Templates | undefined

export function templates(): Templates {
  if (cached !== undefined) return cached
  const registry = baseRegistry()
  // Four validators, one of them equivocating so that blocks carry evidence, and transfers so
  // that blocks carry transactions and every block after the first a last commit.
  const sim = new ChainSim(4)
  sim.equivocators.add(3)
  const signers = sim.signers
  sim.start()
  for (let i = 0; i < 3; i++) {
    sim.submit(
      0,
      signTx(registry, CHAIN_ID, signers[0]!, {
        type: 'Transfer',
        nonce: i,
        fee: 1n,
        body: { to: testSigner(50).peerId, amount: BigInt(i + 1) },
      }),
    )
  }
  sim.runUntil(() => sim.minHeight() >= 6, 120_000)
  const stored = [...sim.stored[0]!.values()]
  const blocks = stored.map((s) => s.block)
  const commits = stored.map((s) => s.commit)
  const bySigner = new Map(signers.map((s) => [s.peerId, s]))
  const proposals = blocks.map((block, i) =>
    signProposal(CHAIN_ID, bySigner.get(block.header.proposer)!, {
      height: block.header.height,
      round: i % 2,
      validRound: i % 3 === 0 ? -1 : 0,
      block,
    }),
  )
  const votes = blocks.flatMap((block) =>
    [VoteType.Prevote, VoteType.Precommit].map((type) =>
      encodeVote(
        signVote(CHAIN_ID, signers[1]!, {
          type,
          height: block.header.height,
          round: 0,
          blockHash: type === VoteType.Prevote ? blockHash(block.header) : null,
        }),
      ),
    ),
  )
  const txs = sampleTxs(registry, signers[0]!, signers[1]!)
  const open = txs.find((t) => t.type === 'TaskOpen')!.bytes
  const inferRequests = [
    { ...INFER_REQUEST, open },
    { ...INFER_REQUEST, stop: [], prompt: 'x', maxTokens: 0, tokenPrice: (1n << 64n) - 1n, open },
  ]
  const inferFrames = [
    encodeFrame({ kind: 'chunk', tokens: [1, 2, 65535], text: '\uFEFFand' }),
    encodeFrame({ kind: 'chunk', tokens: [], text: '' }),
    encodeFrame({ kind: 'done', receipt: RECEIPT, sig: b(64), finishReason: 'stop' }),
    encodeFrame({ kind: 'done', receipt: RECEIPT, sig: b(64), finishReason: 'budget' }),
    encodeFrame({ kind: 'error', code: 'BUSY', message: 'try another' }),
  ]
  const info = [
    encodeInfo({ network: 'devnet', version: '0.1.0', uptimeMs: 1234 }),
    encodeInfo({ network: '', version: '\uFEFF', uptimeMs: Number.MAX_SAFE_INTEGER }),
  ]
  const entries = stateEntries(signers)
  cached = {
    registry,
    signers,
    txs,
    blocks,
    commits,
    proposals,
    votes,
    inferRequests,
    inferFrames,
    info,
    entries,
    all: [
      ...txs.map((t) => t.bytes),
      ...blocks.map(encodeBlock),
      ...commits.map(encodeCommit),
      ...proposals.map(encodeProposal),
      ...votes,
      ...inferRequests.map(encodeRequest),
      ...inferFrames,
      ...info,
      ...entries.map(([, v]) => v),
    ],
  }
  return cached
}

/** Every kind of state entry: from a genesis with Races and inference, plus one of each record the chain adds later. */
function stateEntries(signers: Signer[]): Array<[string, Uint8Array]> {
  const genesis = {
    ...testGenesis(signers),
    race: {
      commitBlocks: 3,
      revealBlocks: 3,
      raceMs: 4000,
      submitMs: 3000,
      validateMs: 3000,
      maxProofNonces: 100_000,
      sampleSize: 16,
      maxSampleFailures: 2,
      noRevealPenalty: 2n ** 63n,
      maxWeightPerPeer: 0,
      minRevealBps: 5000,
      committeeSize: 0,
    },
    inference: { unitPrice: 1n, models: [['kjv-small@395ffd6090691bd5', 7499]] as Array<[string, number]> },
  }
  const entries = [...genesisState(genesis).encoded()]
  const id = signers[0]!.peerId
  const epoch = {
    ...freshEpoch(2, 200, b(32), [[id, 5]]),
    phase: 'validate' as const,
    seed: b(32, 1),
    gunTime: 1_000_000,
    commits: [[id, b(32)]] as Array<[string, Uint8Array]>,
    reveals: [[id, b(32)]] as Array<[string, Uint8Array]>,
    proofs: [[id, 3, b(32)]] as Array<[string, number, Uint8Array]>,
    verdicts: [[id, id, true]] as Array<[string, string, boolean]>,
  }
  const extra: Array<[string, unknown]> = [
    [
      `host:${id}`,
      { models: ['m'], priceVote: 1n, fingerprint: 'f', addrs: ['/ip4/1.2.3.4/tcp/1'], since: 3 },
    ],
    ['unbond:000000000007', [[id, 2n ** 64n - 1n]]],
    [`evid:${'ab'.repeat(32)}`, 12],
    ['epoch', epoch],
    [`task:${'cd'.repeat(32)}`, { client: id, model: 'm', maxCost: 10n, height: 4, unitPrice: 3n }],
    [`pricevote:${id}`, { price: 7n, height: 5 }],
    ['held', [[id, 2, 7n]]],
    [
      'verifyParams',
      {
        minCheckRateBps: 2000,
        reputationCap: 5,
        fraudSlashBps: 1000,
        fraudJailEpochs: 2,
        dutyToleranceBps: 1000,
        reportDeposit: 10n,
        reportRewardBps: 2000,
        disputeEpochs: 2,
      },
    ],
    [`standing:${id}`, { reputation: 3, jailedUntilEpoch: 4, frauds: [1], falseAccusations: 0 }],
    [
      `checked:${'ef'.repeat(32)}`,
      {
        epoch: 2,
        executor: id,
        client: id,
        model: 'm',
        fee: 9n,
        rateBps: 10_000,
        others: 5,
        receipt: b(32),
        height: 7,
        status: 'disputed',
        votes: [
          {
            verifier: id,
            ok: false,
            reason: 'token',
            position: 3,
            expected: 4,
            actual: -1,
            escalation: false,
          },
        ],
        reportDeposit: 10n,
        parked: false,
        penalty: null,
      },
    ],
    [
      'audit:000000000002',
      { epoch: 2, weights: [[id, 5]], tasks: 1, duties: [[id, 1, 1]], skipped: [], closed: false },
    ],
    ['auditpage:000000000002:000000000000', [b(32, 2)]],
    ['governance', { modelDeposit: 2n ** 64n - 1n, modelVotingEpochs: 3, maxPendingModels: 16 }],
    ['modelprops', ['kjv-tiny@0123456789abcdef']],
    [
      'modelprop:kjv-tiny@0123456789abcdef',
      {
        model: 'kjv-tiny@0123456789abcdef',
        unitsPerToken: 495,
        proposer: id,
        deposit: 10n,
        epoch: 2,
        closesAt: 5,
        height: 9,
        votes: [[id, true]],
      },
    ],
    [
      'modeldone',
      [
        {
          model: 'a@0123456789abcdef',
          unitsPerToken: 1,
          proposer: id,
          deposit: 10n,
          outcome: 'expired',
          epoch: 4,
        },
      ],
    ],
  ]
  return [...entries, ...extra.map(([k, v]): [string, Uint8Array] => [k, encodeEntry(k, v)])]
}
