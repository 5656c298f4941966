// A chain writer for the crash test: one validator committing blocks of transfers to a LevelDB
// store as fast as it can, printing "committed <height>" after each batch is acknowledged. The
// test kills it with SIGKILL at random instants and checks what survives.
import { Level } from 'level'
import { ChainStore } from '../../src/node/db/chainStore.js'
import { Replica } from '../../src/ledger/replica.js'
import { genesisHash, genesisState } from '../../src/ledger/genesis.js'
import { baseRegistry, signTx } from '../../src/ledger/tx/index.js'
import { getAccount } from '../../src/ledger/state/access.js'
import { testGenesis, testSigner } from './chainSim.js'

const dir = process.argv[2]!
const signers = [0, 1, 2, 3].map(testSigner)
const genesis = testGenesis(signers.slice(0, 1))
const registry = baseRegistry()
const limits = { maxBlockBytes: 1 << 20, maxBlockTxs: 1000, maxTxBytes: 4096, maxValidators: 100 }

const db = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
await db.open()
const store = new ChainStore(db, registry, limits)
let head = await store.head()
let state
if (head === undefined) {
  state = genesisState(genesis)
  await store.initGenesis([...state.encoded()], genesisHash(genesis), genesis.time)
  head = { height: 0, hash: genesisHash(genesis), time: genesis.time, commit: null }
} else {
  state = await store.loadState()
}
let now = head.time
const replica = new Replica(
  {
    chainId: genesis.chainId,
    registry,
    signer: signers[0]!,
    timeouts: { proposeMs: 1000, prevoteMs: 1000, precommitMs: 1000, deltaMs: 0 },
    blockIntervalMs: 0,
    proposerSeed: genesisHash(genesis),
    mempool: { maxTxs: 10_000, maxBytes: 1 << 25, maxPerSender: 1000, maxNonceGap: 1000 },
  },
  state,
  head,
  { now: () => ++now },
)

for (;;) {
  // 200 transfers per block, so that each batch is large enough to be caught half-written.
  const from = signers[0]!
  let nonce = getAccount(replica.state, from.peerId).nonce
  for (let i = 0; i < 200; i++) {
    const to = signers[1 + (i % 3)]!.peerId
    replica.submitTx(
      signTx(registry, genesis.chainId, from, {
        type: 'Transfer',
        nonce: nonce++,
        fee: 1n,
        body: { to, amount: 1n },
      }),
    )
  }
  for (const e of replica.handle({ kind: 'newHeight', height: replica.height + 1 })) {
    if (e.kind === 'persist') {
      await store.commitBlock(e.block, e.commit, e.changes)
      process.stdout.write(`committed ${e.block.header.height}\n`)
    }
  }
}
