import { test } from 'node:test'
import assert from 'node:assert/strict'
import { baseRegistry, signTx, type SignedTx } from '../../../src/ledger/tx/index.js'
import { runBody } from '../../../src/ledger/executor.js'
import { genesisState, type Genesis } from '../../../src/ledger/genesis.js'
import type { State } from '../../../src/ledger/state/state.js'
import { getAccount, getSupply } from '../../../src/ledger/state/access.js'
import { getEpoch } from '../../../src/ledger/epoch/access.js'
import { toHex, type Signer } from '../../../src/ledger/crypto.js'
import {
  outputHash,
  routeCandidates,
  signReceipt,
  taskFee,
  taskIdOf,
  type Receipt,
} from '../../../src/ledger/task/index.js'
import {
  checkRateBps,
  getAudit,
  getChecked,
  getStanding,
  heldOf,
  isSelected,
  selectionKey,
  selectionValue,
  type CheckedTask,
  type VerifyParams,
} from '../../../src/ledger/verify/index.js'
import { checkBooks, genesisSupply } from '../../../src/ledger/economics/index.js'
import { checksDue } from '../../../src/verify/index.js'
import { TEST_PARAMS, testSigner, TEST_RACE } from '../../helpers/chainSim.js'
import { assertBooks } from '../../helpers/books.js'

const registry = baseRegistry()
const [a, b, c, d, client] = [0, 1, 2, 3, 4].map(testSigner) as [Signer, Signer, Signer, Signer, Signer]
const hosts = [a, b, c, d]
const MODEL = 'kjv-small@0123456789abcdef'
const UNITS = 10
const PRICE = 3n
const STAKE = 100_000n
const race = TEST_RACE
const vp: VerifyParams = {
  minCheckRateBps: 2000,
  reputationCap: 4,
  fraudSlashBps: 1000,
  fraudJailEpochs: 2,
  dutyToleranceBps: 1000,
  reportDeposit: 5_000n,
  reportRewardBps: 2000,
  disputeEpochs: 2,
}
const genesis: Genesis = {
  chainId: 'cordex-verify',
  time: 0,
  params: TEST_PARAMS,
  accounts: [...hosts, client].map((s) => ({ id: s.peerId, balance: 1_000_000n, stake: STAKE })),
  validators: hosts.map((s) => ({ id: s.peerId, power: 1 })),
  race,
  inference: { unitPrice: PRICE, models: [[MODEL, UNITS]] },
  verification: vp,
}
const FEE_TX = 1n
const SUPPLY = genesisSupply(genesis)

/** A chain driven block by block, with one proposer that is none of the peers under test; the books balance after each block. */
class Chain {
  state: State = genesisState(genesis)
  height = 0
  time = 0
  private readonly nonces = new Map<string, number>()

  tx(signer: Signer, type: string, body: unknown): SignedTx {
    const nonce = this.nonces.get(signer.peerId) ?? 0
    this.nonces.set(signer.peerId, nonce + 1)
    return signTx(registry, genesis.chainId, signer, { type, nonce, fee: FEE_TX, body } as never)
  }

  /** One block; returns the codes of transactions whose own rules refused them. */
  block(txs: SignedTx[] = [], dt = 10): string[] {
    this.height++
    this.time += dt
    const run = runBody(
      this.state,
      { chainId: genesis.chainId, registry },
      {
        height: this.height,
        time: this.time,
        prevHash: new Uint8Array(32).fill(this.height % 256),
        proposer: testSigner(9).peerId,
        txs,
        evidence: [],
      },
      false,
    )
    this.state.commit(run.overlay)
    assertBooks(this.state, this.height, SUPPLY)
    assert.deepEqual(run.dropped, [])
    return run.failed.map((f) => f.error.code)
  }

  get epoch(): number {
    return getEpoch(this.state)!.number
  }

  /** Run empty blocks until the next epoch begins (no proofs: the validators stay). */
  nextEpoch(): void {
    const e = this.epoch
    for (let i = 0; i < 200 && this.epoch === e; i++) this.block([], 400)
    assert.equal(this.epoch, e + 1)
  }

  /** Open a task from `client` and settle it with `executor`'s receipt; returns its id and fee. */
  settle(executor: Signer, completion = 20): { id: Uint8Array; hex: string; fee: bigint } {
    const open = this.tx(client, 'TaskOpen', { model: MODEL, maxCost: 10_000n })
    assert.deepEqual(this.block([open]), [])
    const id = taskIdOf(client.peerId, open.nonce)
    const r: Receipt = {
      taskId: id,
      modelId: MODEL,
      inputHash: new Uint8Array(32).fill(7),
      outputHash: outputHash([1, 2, 3]),
      promptTokens: 5,
      completionTokens: completion,
    }
    const sig = signReceipt(genesis.chainId, executor, r)
    assert.deepEqual(
      this.block([this.tx(client, 'TaskReceipt', { receipt: r, executor: executor.peerId, sig })]),
      [],
    )
    return { id, hex: toHex(id), fee: taskFee(5 + completion, UNITS, PRICE, 10_000n) }
  }

  vote(verifier: Signer, taskId: Uint8Array, ok: boolean): string[] {
    const body = ok
      ? { taskId, ok, reason: 'ok', position: 0, expected: 0, actual: 0 }
      : { taskId, ok, reason: 'token', position: 3, expected: 11, actual: 12 }
    return this.block([this.tx(verifier, 'VerifyResult', body)])
  }

  revealKeys(epoch: number, who: Signer[]): string[] {
    return this.block(
      who.map((s) => this.tx(s, 'VerifyKey', { epoch, key: selectionKey(s, genesis.chainId, epoch) })),
    )
  }

  checked(hex: string): CheckedTask {
    return getChecked(this.state, hex)!
  }
}

function started(): Chain {
  const chain = new Chain()
  chain.block(
    hosts.map((h) =>
      chain.tx(h, 'HostAnnounce', { models: [MODEL], priceVote: 1n, fingerprint: 'f', addrs: [] }),
    ),
  )
  return chain
}

const selected = (s: Signer, task: CheckedTask, id: Uint8Array, epoch: number): boolean =>
  isSelected(selectionValue(selectionKey(s, genesis.chainId, epoch), id), task.rateBps, 1, task.others)

test('a settled task waits for its checks; its checkers split the fee at the audit; a sampled vote its key does not select is void', () => {
  const chain = started()
  const { id, hex, fee } = chain.settle(a)
  const task = chain.checked(hex)
  assert.equal(task.rateBps, 10_000, 'a host with reputation 0 is checked on every task')
  assert.equal(task.others, 3)
  assert.equal(heldOf(chain.state, a.peerId), fee)
  // Who the keys select is fixed by them; everyone votes ok, only the selected are paid.
  const chosen = [b, c, d].filter((s) => selected(s, task, id, 0))
  for (const s of [b, c, d]) assert.deepEqual(chain.vote(s, id, true), [])
  assert.deepEqual(chain.vote(a, id, true), ['NOT_VERIFIER'], 'an executor does not check itself')
  assert.deepEqual(chain.vote(b, id, true), ['ALREADY_VOTED'])
  assert.deepEqual(
    chain.block([chain.tx(b, 'VerifyKey', { epoch: 0, key: selectionKey(b, genesis.chainId, 0) })]),
    ['WRONG_EPOCH'],
    'a key is revealed only once its epoch is over',
  )
  const balances = hosts.map((h) => getAccount(chain.state, h.peerId).balance)
  chain.nextEpoch()
  assert.deepEqual(
    chain.block([chain.tx(b, 'VerifyKey', { epoch: 0, key: selectionKey(c, genesis.chainId, 0) })]),
    ['BAD_KEY'],
  )
  assert.deepEqual(chain.revealKeys(0, [b, c, d]), [])
  const after = chain.checked(hex)
  assert.deepEqual(
    after.votes.map((v) => v.verifier).sort(),
    chosen.map((s) => s.peerId).sort(),
    'only the selected verifiers’ votes stand',
  )
  const audit = getAudit(chain.state, 0)!
  for (const s of [b, c, d]) {
    const duty = audit.duties.find(([p]) => p === s.peerId)!
    const sel = chosen.includes(s) ? 1 : 0
    assert.deepEqual(duty.slice(1), [sel, sel])
  }
  chain.nextEpoch() // closes the audit of epoch 0
  const each = chosen.length === 0 ? 0n : fee / 2n / BigInt(chosen.length)
  const paid = hosts.map((h, i) => getAccount(chain.state, h.peerId).balance - balances[i]!)
  assert.equal(paid[0], fee - each * BigInt(chosen.length), 'the executor keeps the rest')
  for (const [i, s] of [b, c, d].entries()) {
    const expectFee = s === b ? FEE_TX * 2n : FEE_TX // b's refused key paid its fee too
    assert.equal(paid[i + 1]! + expectFee, chosen.includes(s) ? each : 0n, `pay of verifier ${i + 1}`)
  }
  assert.equal(chain.checked(hex).status, chosen.length > 0 ? 'verified' : 'unchecked')
  assert.equal(checkBooks(chain.state, SUPPLY), undefined)
})

test('a failed check disputes the task; a weighted majority convicts: refund, forfeit, slash, bounty, jail, reputation', () => {
  const chain = started()
  // a earns rewards on an earlier task, then cheats on another.
  const first = chain.settle(a)
  const { id, hex, fee } = chain.settle(a, 40)
  const clientBefore = getAccount(chain.state, client.peerId).balance
  const burnedBefore = getSupply(chain.state).burned
  const heldBefore = heldOf(chain.state, a.peerId)
  assert.equal(heldBefore, first.fee + fee)
  assert.deepEqual(chain.vote(b, id, false), [])
  assert.equal(chain.checked(hex).status, 'disputed', 'one failed check is a suspicion')
  const bBefore = getAccount(chain.state, b.peerId).balance
  const cBefore = getAccount(chain.state, c.peerId).balance
  assert.deepEqual(chain.vote(c, id, false), [], 'b and c hold 2 of the 3 others’ weight')
  const t = chain.checked(hex)
  assert.equal(t.status, 'fraud')
  // The rules, recomputed: the fee back to the client, every held reward of a forfeited and
  // burned, 10% of its stake slashed, each accuser paid min(slash/2, fee/2/2), the rest burned.
  const slash = (STAKE * 1000n) / 10_000n
  const bounty = [slash / 2n, fee / 2n / 2n].reduce((x, y) => (x < y ? x : y))
  assert.equal(getAccount(chain.state, client.peerId).balance, clientBefore + fee)
  assert.equal(heldOf(chain.state, a.peerId), 0n)
  assert.equal(getAccount(chain.state, a.peerId).stake, STAKE - slash)
  assert.equal(getAccount(chain.state, b.peerId).balance, bBefore + bounty)
  assert.equal(getAccount(chain.state, c.peerId).balance, cBefore + bounty - FEE_TX)
  assert.equal(getSupply(chain.state).burned - burnedBefore, heldBefore - fee + slash - 2n * bounty)
  assert.deepEqual(t.penalty, {
    refunded: fee,
    forfeited: heldBefore - fee,
    slashed: slash,
    bounty,
    reporterReward: 0n,
  })
  const st = getStanding(chain.state, a.peerId)
  assert.equal(st.reputation, 0)
  assert.deepEqual(st.frauds, [0])
  assert.equal(st.jailedUntilEpoch, 0 + 1 + vp.fraudJailEpochs)
  assert.deepEqual(chain.vote(d, id, true), ['TASK_DECIDED'])
  // Jailed: drawn for no task, and no receipt of its is paid, for the epochs of its sentence.
  assert.ok(!routeCandidates(chain.state, MODEL, chain.height).some(([p]) => p === a.peerId))
  const open = chain.tx(client, 'TaskOpen', { model: MODEL, maxCost: 1000n })
  chain.block([open])
  const r: Receipt = {
    taskId: taskIdOf(client.peerId, open.nonce),
    modelId: MODEL,
    inputHash: new Uint8Array(32),
    outputHash: new Uint8Array(32),
    promptTokens: 1,
    completionTokens: 1,
  }
  assert.deepEqual(
    chain.block([
      chain.tx(client, 'TaskReceipt', {
        receipt: r,
        executor: a.peerId,
        sig: signReceipt(genesis.chainId, a, r),
      }),
    ]),
    ['JAILED'],
  )
  for (let e = 1; e <= 1 + vp.fraudJailEpochs; e++) chain.nextEpoch()
  assert.ok(
    routeCandidates(chain.state, MODEL, chain.height).some(([p]) => p === a.peerId),
    'free again',
  )
  assert.equal(checkBooks(chain.state, SUPPLY), undefined)
})

test('a rejected accusation costs the accuser its reputation and pay; a report is upheld or rejected with the deposit moving as stated', () => {
  const chain = started()
  // Reputation first: every peer gains one per epoch without fraud (audits close one epoch late).
  chain.nextEpoch()
  chain.revealKeys(0, hosts)
  chain.nextEpoch()
  for (const h of hosts) assert.equal(getStanding(chain.state, h.peerId).reputation, 1)
  // An honest task, falsely accused by b; c and d pass it.
  const honest = chain.settle(a)
  assert.equal(chain.checked(honest.hex).rateBps, checkRateBps(1, vp.reputationCap, vp.minCheckRateBps))
  chain.vote(b, honest.id, false)
  chain.vote(c, honest.id, true)
  assert.equal(chain.checked(honest.hex).status, 'disputed', 'c alone holds 1/3: not yet half')
  chain.vote(d, honest.id, true)
  assert.equal(chain.checked(honest.hex).status, 'cleared')
  assert.equal(getStanding(chain.state, b.peerId).reputation, 0)
  assert.equal(getStanding(chain.state, b.peerId).falseAccusations, 1)
  assert.equal(getStanding(chain.state, a.peerId).reputation, 1, 'the executor keeps its standing')

  // The client reports another honest task: rejected, its deposit goes to those who passed it.
  const reported = chain.settle(a)
  const clientBefore = getAccount(chain.state, client.peerId).balance
  assert.deepEqual(chain.block([chain.tx(client, 'Report', { taskId: reported.id })]), [])
  assert.deepEqual(chain.block([chain.tx(b, 'Report', { taskId: reported.id })]), ['NOT_CLIENT'])
  assert.equal(getAccount(chain.state, client.peerId).balance, clientBefore - vp.reportDeposit - FEE_TX)
  const cBefore = getAccount(chain.state, c.peerId).balance
  const dBefore = getAccount(chain.state, d.peerId).balance
  chain.vote(c, reported.id, true)
  chain.vote(d, reported.id, true)
  assert.equal(chain.checked(reported.hex).status, 'cleared')
  assert.equal(getAccount(chain.state, c.peerId).balance, cBefore + vp.reportDeposit / 2n - FEE_TX)
  assert.equal(getAccount(chain.state, d.peerId).balance, dBefore + vp.reportDeposit / 2n - FEE_TX)

  // A report against a cheat, upheld: fee and deposit back, plus its share of the forfeit.
  const cheated = chain.settle(a, 30)
  chain.block([chain.tx(client, 'Report', { taskId: cheated.id })])
  const held = heldOf(chain.state, a.peerId)
  const before = getAccount(chain.state, client.peerId).balance
  chain.vote(b, cheated.id, false)
  chain.vote(c, cheated.id, false)
  const forfeit = held - cheated.fee
  const reward = (forfeit * BigInt(vp.reportRewardBps)) / 10_000n
  assert.equal(chain.checked(cheated.hex).status, 'fraud')
  assert.equal(
    getAccount(chain.state, client.peerId).balance,
    before + cheated.fee + vp.reportDeposit + reward,
  )
  assert.equal(checkBooks(chain.state, SUPPLY), undefined)
})

test('a report of a task its checkers passed by a majority already is rejected at once, the deposit going to them', () => {
  const chain = started()
  const t = chain.settle(a)
  // b and c pass it (2 of the 3 others' weight) before the client reports it: no one who could
  // still vote would be needed, so the report is decided in its own block.
  assert.deepEqual(chain.vote(b, t.id, true), [])
  assert.deepEqual(chain.vote(c, t.id, true), [])
  assert.equal(chain.checked(t.hex).status, 'open')
  const balance = (s: Signer): bigint => getAccount(chain.state, s.peerId).balance
  const [clientBefore, bBefore, cBefore] = [balance(client), balance(b), balance(c)]
  assert.deepEqual(chain.block([chain.tx(client, 'Report', { taskId: t.id })]), [])
  assert.equal(chain.checked(t.hex).status, 'cleared')
  assert.equal(balance(client), clientBefore - vp.reportDeposit - FEE_TX)
  assert.equal(balance(b), bBefore + vp.reportDeposit / 2n)
  assert.equal(balance(c), cBefore + vp.reportDeposit / 2n)
  assert.deepEqual(chain.vote(d, t.id, false), ['TASK_DECIDED'])
})

test('a disputed task is every weighted peer’s to vote on until its audit is dropped, its audit closed or not (checksDue)', () => {
  const chain = started()
  const { id, hex } = chain.settle(a)
  const epoch = chain.epoch
  const duties = (s: Signer, task = hex): string[] =>
    checksDue(chain.state, s.peerId, (e) => selectionKey(s, genesis.chainId, e))
      .filter((x) => x.idHex === task)
      .map((x) => x.duty)
  // Open: a sampled check where the peer's key selects the task; never the executor's own.
  assert.deepEqual(duties(a), [])
  for (const s of [b, c, d])
    assert.deepEqual(duties(s), selected(s, chain.checked(hex), id, epoch) ? ['sample'] : [])
  // b's failed check disputes it: c and d owe a vote, b has cast its own.
  assert.deepEqual(chain.vote(b, id, false), [])
  assert.deepEqual(duties(b), [])
  for (const s of [c, d]) assert.deepEqual(duties(s), ['escalation'])
  assert.deepEqual(chain.vote(c, id, true), [])
  assert.equal(chain.checked(hex).status, 'disputed', 'c alone holds 1/3 of the others: not half')
  // Epochs on, the audit closed (the epoch after the task's): d still owes its vote, and the
  // chain still takes it, up to the last epoch before the audit is dropped.
  for (let e = 0; e <= vp.disputeEpochs; e++) chain.nextEpoch()
  assert.equal(chain.epoch, epoch + 1 + vp.disputeEpochs)
  assert.equal(getAudit(chain.state, epoch)!.closed, true)
  assert.deepEqual(duties(d), ['escalation'])
  const other = chain.settle(b)
  assert.deepEqual(chain.vote(c, other.id, false), [])
  // The late vote decides it: c and d pass it, 2/3 of the others.
  assert.deepEqual(chain.vote(d, id, true), [])
  assert.equal(chain.checked(hex).status, 'cleared')
  assert.deepEqual(duties(d), [])
  // A dispute nobody decides is owed until its audit is dropped, and no longer.
  chain.nextEpoch()
  assert.deepEqual(duties(a, other.hex), ['escalation'], 'the new task, disputed by c: a owes it a vote')
  for (let e = 0; e <= vp.disputeEpochs; e++) chain.nextEpoch()
  assert.equal(getAudit(chain.state, chain.epoch - 2 - vp.disputeEpochs), undefined, 'dropped')
  assert.deepEqual(duties(a, other.hex), [])
})

test('a peer that skips its assigned checks forfeits the epoch’s rewards; one that does them keeps them', () => {
  const chain = started()
  // b and c each execute a task, so each holds rewards; many tasks by a give everyone duties.
  const bTask = chain.settle(b)
  const cTask = chain.settle(c)
  const tasks = Array.from({ length: 12 }, () => chain.settle(a))
  const all = [bTask, cTask, ...tasks]
  // c checks everything it is selected for; b checks nothing.
  let cAssigned = 0
  let cPay = 0n
  for (const t of all) {
    const task = chain.checked(t.hex)
    if (task.executor !== c.peerId && selected(c, task, t.id, 0)) {
      cAssigned++
      cPay += t.fee / 2n // the only checker whose vote stands
      chain.vote(c, t.id, true)
    }
  }
  const bAssigned = all.filter((t) => {
    const task = chain.checked(t.hex)
    return task.executor !== b.peerId && selected(b, task, t.id, 0)
  }).length
  assert.ok(bAssigned > 0 && cAssigned > 0, 'at rate 1 and a third of the weight, 14 tasks give both duties')
  chain.nextEpoch()
  chain.revealKeys(0, [b, c, d])
  const bBefore = getAccount(chain.state, b.peerId).balance
  const cBefore = getAccount(chain.state, c.peerId).balance
  const cHeld = heldOf(chain.state, c.peerId)
  const bHeld = heldOf(chain.state, b.peerId)
  const burned = getSupply(chain.state).burned
  chain.nextEpoch()
  const audit = getAudit(chain.state, 0)!
  assert.ok(audit.skipped.includes(b.peerId))
  assert.ok(!audit.skipped.includes(c.peerId))
  assert.equal(getAccount(chain.state, b.peerId).balance, bBefore, 'b is paid nothing for epoch 0')
  // c's own task was checked by nobody (b skipped, d did not vote), so c keeps all of its fee, and
  // is paid half the fee of each task it checked.
  assert.equal(getAccount(chain.state, c.peerId).balance, cBefore + cHeld + cPay)
  assert.ok(getSupply(chain.state).burned - burned >= bHeld)
  assert.equal(checkBooks(chain.state, SUPPLY), undefined)
})

test('a second conviction in an epoch refunds its client from the executor’s stake, the held rewards being gone', () => {
  const chain = started()
  const one = chain.settle(a)
  const two = chain.settle(a, 60)
  chain.vote(b, one.id, false)
  chain.vote(c, one.id, false)
  assert.equal(chain.checked(one.hex).status, 'fraud')
  const slash1 = (STAKE * 1000n) / 10_000n
  assert.equal(chain.checked(one.hex).penalty?.forfeited, two.fee, 'the first took every held reward')
  const clientBefore = getAccount(chain.state, client.peerId).balance
  chain.vote(b, two.id, false)
  chain.vote(c, two.id, false)
  const t = chain.checked(two.hex)
  assert.equal(t.status, 'fraud')
  assert.equal(t.penalty?.refunded, two.fee)
  assert.equal(getAccount(chain.state, client.peerId).balance, clientBefore + two.fee)
  const stakeLeft = STAKE - slash1 - two.fee
  assert.equal(t.penalty?.slashed, (stakeLeft * 1000n) / 10_000n)
  assert.equal(getAccount(chain.state, a.peerId).stake, stakeLeft - t.penalty!.slashed)
  assert.equal(checkBooks(chain.state, SUPPLY), undefined)
})

test('a conviction forfeits the fees of the executor’s other tasks of the epoch: at the audit’s close there is nothing of them to split or park, and the books balance', () => {
  const chain = started()
  // Three tasks of a in epoch 0: one cleared after a false accusation (c and d passed it), one
  // left disputed, one a cheat. The conviction forfeits every reward a holds, their fees with it.
  const cleared = chain.settle(a)
  const disputed = chain.settle(a, 30)
  const cheat = chain.settle(a, 40)
  chain.vote(b, cleared.id, false)
  chain.vote(c, cleared.id, true)
  chain.vote(d, cleared.id, true)
  assert.equal(chain.checked(cleared.hex).status, 'cleared')
  // d votes on every task (so it does its duty whatever its key selects), passing them all.
  chain.vote(b, disputed.id, false)
  chain.vote(d, disputed.id, true)
  assert.equal(chain.checked(disputed.hex).status, 'disputed', 'd alone holds 1/3: not yet half')
  chain.vote(b, cheat.id, false)
  chain.vote(d, cheat.id, true)
  chain.vote(c, cheat.id, false)
  assert.equal(chain.checked(cheat.hex).status, 'fraud')
  assert.equal(chain.checked(cheat.hex).penalty?.forfeited, cleared.fee + disputed.fee)
  assert.equal(heldOf(chain.state, a.peerId), 0n)
  // A later task of epoch 0, by b: its fee is b's to share with its checkers.
  const later = chain.settle(b)
  chain.vote(c, later.id, false)
  chain.vote(d, later.id, true)
  chain.vote(a, later.id, true)
  assert.equal(chain.checked(later.hex).status, 'cleared')
  const before = [c, d, a].map((s) => getAccount(chain.state, s.peerId).balance)
  chain.nextEpoch()
  chain.revealKeys(0, hosts)
  chain.nextEpoch() // closes the audit of epoch 0: the block that does so must not fail
  assert.equal(getAudit(chain.state, 0)?.closed, true)
  const t = chain.checked(disputed.hex)
  assert.equal(t.status, 'disputed')
  assert.equal(t.parked, false, 'its fee was forfeited: nothing to park')
  // c's and d's pay for the cleared task was in the forfeit; d (and a) passed b's later task.
  assert.ok(!getAudit(chain.state, 0)!.skipped.includes(d.peerId))
  const each = later.fee / 2n / 2n
  assert.equal(getAccount(chain.state, d.peerId).balance - before[1]!, each - FEE_TX)
  assert.equal(getAccount(chain.state, c.peerId).balance - before[0]!, -FEE_TX)
  // a passed b's task too, but a cheat loses all its rewards of the epoch: its share is burned.
  assert.equal(getAccount(chain.state, a.peerId).balance - before[2]!, -FEE_TX)
  // Its audit dropped, the dispute closes unproven: a is paid nothing for it, holding nothing of it.
  const aBefore = getAccount(chain.state, a.peerId).balance
  for (let e = 0; e < vp.disputeEpochs; e++) chain.nextEpoch()
  assert.equal(getChecked(chain.state, disputed.hex), undefined)
  assert.equal(getAccount(chain.state, a.peerId).balance, aBefore)
  assert.equal(checkBooks(chain.state, SUPPLY), undefined)
})

test('a host convicted on its own task (client and executor at once) gets its refund and deposit: nothing is lost from the books', () => {
  const chain = started()
  const open = chain.tx(a, 'TaskOpen', { model: MODEL, maxCost: 10_000n })
  assert.deepEqual(chain.block([open]), [])
  const r: Receipt = {
    taskId: taskIdOf(a.peerId, open.nonce),
    modelId: MODEL,
    inputHash: new Uint8Array(32).fill(7),
    outputHash: outputHash([1, 2, 3]),
    promptTokens: 5,
    completionTokens: 20,
  }
  const fee = taskFee(25, UNITS, PRICE, 10_000n)
  const sig = signReceipt(genesis.chainId, a, r)
  assert.deepEqual(chain.block([chain.tx(a, 'TaskReceipt', { receipt: r, executor: a.peerId, sig })]), [])
  assert.deepEqual(chain.block([chain.tx(a, 'Report', { taskId: r.taskId })]), [])
  const before = getAccount(chain.state, a.peerId)
  chain.vote(b, r.taskId, false)
  chain.vote(c, r.taskId, false) // the block's books are checked: a throw here names the difference
  const t = chain.checked(toHex(r.taskId))
  assert.equal(t.status, 'fraud')
  assert.deepEqual(t.penalty?.refunded, fee)
  const after = getAccount(chain.state, a.peerId)
  assert.equal(
    after.balance,
    before.balance + fee + vp.reportDeposit,
    'refund and deposit, no forfeit to share',
  )
  assert.equal(after.stake, before.stake - t.penalty!.slashed)
})
