import type { Clock } from '../../util/clock.js'
import {
  applyBody,
  decodeTx,
  equalBytes,
  getAccount,
  getInferenceParams,
  getTask,
  Overlay,
  taskIdOf,
  toHex,
  tokensAffordable,
  TxRejectedError,
  unitsPerToken,
  type SignedTx,
  type StateReader,
  type TaskOpenBody,
  type TxRegistry,
} from '../../ledger/index.js'
import { InferRefusal, type InferRequest } from '../../protocols/index.js'

/** What admission needs of the ledger (ChainService is one). */
export interface TaskLedger {
  readonly chainId: string
  readonly registry: TxRegistry
  readonly limits: { maxTxBytes: number }
  readonly replica: {
    readonly state: StateReader
    readonly head: { height: number }
    readonly mempool: { has(hashHex: string): boolean }
  }
  /** Admit a transaction to the mempool and gossip it; throws TxRejectedError. */
  submit(tx: SignedTx): void
}

export interface TaskAdmissionOptions {
  /**
   * Tasks one gateway may have served here while their TaskOpen is not in a block yet: the work
   * this executor risks on escrows that might never land. Default 4.
   */
  maxUnconfirmedPerGateway: number
  /** Task ids remembered against replays (settled ones are forgotten first). Default 65,536. */
  maxServed: number
}

export const DEFAULT_TASK_ADMISSION: TaskAdmissionOptions = {
  maxUnconfirmedPerGateway: 4,
  maxServed: 65_536,
}

/** A task admitted for execution. */
export interface TaskTicket {
  idHex: string
  /** Prompt and output tokens together that the escrow pays for at the request's token price. */
  tokensPaid: number
  /** The task's escrow, base units: its gas limit (SPEC 7). */
  maxCost: bigint
  /** Give the task id back: only for a task refused before its generation started. */
  release(): void
}

interface Served {
  client: string
  nonce: number
  maxCost: bigint
}

/**
 * The executor's side of SPEC 5.3 step 4: a request is served only for a task that is open, from
 * the gateway that sent it, for the model it names, priced at no less than the chain's price, with
 * an escrow that pays for the prompt and one token (the escrow is the task's gas limit: the
 * executor stops generating where it runs out, SPEC 7), and only once per task id. The task is
 * open when its TaskOpen is on the ledger, or in the mempool: the gateway's signed TaskOpen
 * travels in the request, and when gossip has not brought it yet it is admitted here (signature,
 * nonce window, fee, and the escrow against the committed balance), so an executor never waits
 * for gossip and never works for nothing it can see. What it cannot see (a TaskOpen that is then outbid by a double-spend, or lands after the
 * balance went elsewhere) is bounded: per gateway, at most `maxUnconfirmedPerGateway` such tasks
 * at once, whose escrows together fit its committed balance (docs/inference.md).
 */
export class TaskAdmission {
  /** Task ids served (or being checked), insertion order: replay protection. */
  private readonly served = new Map<string, Served>()
  /** Per gateway, the served task ids whose TaskOpen was not yet in a block when last looked at. */
  private readonly unconfirmed = new Map<string, Set<string>>()
  private readonly opts: TaskAdmissionOptions

  constructor(
    private readonly components: {
      chain: TaskLedger
      clock: Clock
      /** This node's peer id: its own gateway's tasks are trusted to be funded. */
      self: string
    },
    opts: Partial<TaskAdmissionOptions> = {},
  ) {
    this.opts = { ...DEFAULT_TASK_ADMISSION, ...opts }
  }

  /**
   * Admit `req` from peer `from`, knowing only lower bounds of its prompt: it has at least
   * `minPromptTokens` tokens and runs in a context of `contextLength`. Throws InferRefusal:
   * TASK_NOT_OPEN, WRONG_CLIENT, WRONG_MODEL, PRICE_TOO_LOW, ESCROW_TOO_LOW, TASK_REPLAYED,
   * UNCONFIRMED_LIMIT, ESCROW_UNFUNDED, BUSY. The caller checks the exact prompt against
   * `tokensPaid` once tokenized.
   */
  admit(
    req: Pick<InferRequest, 'taskId' | 'model' | 'open' | 'tokenPrice'>,
    from: string,
    bounds: { minPromptTokens: number; contextLength: number },
  ): TaskTicket {
    const { chain, self } = this.components
    let tx: SignedTx
    try {
      tx = decodeTx(chain.registry, req.open, chain.limits.maxTxBytes)
    } catch (err) {
      throw refusal('TASK_NOT_OPEN', `the request carries no valid TaskOpen: ${(err as Error).message}`, true)
    }
    if (tx.type !== 'TaskOpen')
      throw refusal('TASK_NOT_OPEN', `the request carries a ${tx.type}, not a TaskOpen`, true)
    if (tx.from !== from)
      throw refusal('WRONG_CLIENT', `the TaskOpen is ${tx.from}'s, not the sender's`, true)
    const idHex = toHex(req.taskId)
    if (!equalBytes(taskIdOf(tx.from, tx.nonce), req.taskId))
      throw refusal('TASK_NOT_OPEN', `the TaskOpen opens another task than ${idHex}`, true)
    if (this.served.has(idHex)) throw refusal('TASK_REPLAYED', `task ${idHex} was served already`, true)

    const state = chain.replica.state
    const onChain = getTask(state, idHex)
    const body = tx.body as TaskOpenBody
    const model = onChain?.model ?? body.model
    const maxCost = onChain?.maxCost ?? body.maxCost
    if (onChain !== undefined && onChain.client !== from)
      throw refusal('WRONG_CLIENT', `task ${idHex} is ${onChain.client}'s`, true)
    if (model !== req.model)
      throw refusal('WRONG_MODEL', `task ${idHex} is open for ${model}, not ${req.model}`, true)
    const units = unitsPerToken(state, model)
    // An open task pays at the price it was opened at (SPEC 7), a task still opening at today's.
    const price = onChain?.unitPrice ?? getInferenceParams(state)?.unitPrice
    if (units === undefined || price === undefined)
      throw refusal('TASK_NOT_OPEN', `${model} is not approved on this chain`)
    // SPEC 7: the gas price. Below the chain's, this executor would generate tokens the ledger
    // does not pay for; above it, it stops sooner, and the client is still charged the chain's.
    const floor = BigInt(units) * price
    if (req.tokenPrice < floor)
      throw refusal(
        'PRICE_TOO_LOW',
        `the request prices a token at ${req.tokenPrice} base units; ${model} costs ${floor} here`,
      )
    const tokensPaid = tokensAffordable(maxCost, 1, req.tokenPrice)
    // SPEC 7: the escrow is a gas limit: it pays for the prompt and at least one token.
    const needed = Math.min(bounds.minPromptTokens + 1, bounds.contextLength)
    if (tokensPaid < needed)
      throw refusal(
        'ESCROW_TOO_LOW',
        `max_cost ${maxCost} pays for ${tokensPaid} tokens; the prompt and one token need at least ${needed}`,
      )

    if (onChain === undefined && tx.nonce < getAccount(state, from).nonce)
      throw refusal('TASK_NOT_OPEN', `task ${idHex} is settled, cancelled or its TaskOpen failed`)
    if (this.served.size >= this.opts.maxServed) this.forgetSettled(state)
    if (this.served.size >= this.opts.maxServed)
      throw refusal('BUSY', `${this.opts.maxServed} tasks served here are still open`)
    if (onChain === undefined) this.admitUnconfirmed(tx, maxCost, state)
    this.served.set(idHex, { client: from, nonce: tx.nonce, maxCost })
    if (onChain === undefined && from !== self) {
      const set = this.unconfirmed.get(from) ?? new Set()
      set.add(idHex)
      this.unconfirmed.set(from, set)
    }
    return {
      idHex,
      tokensPaid,
      maxCost,
      release: () => {
        this.served.delete(idHex)
        this.unconfirmed.get(from)?.delete(idHex)
      },
    }
  }

  /** Task ids remembered against replays (for tests and metrics). */
  get size(): number {
    return this.served.size
  }

  /** A TaskOpen not in a block yet: check it as the next block would, and take it into the mempool. */
  private admitUnconfirmed(tx: SignedTx, maxCost: bigint, state: StateReader): void {
    const { chain, clock, self } = this.components
    const refused = (err: TxRejectedError): InferRefusal =>
      refusal(
        'TASK_NOT_OPEN',
        `the TaskOpen is refused: ${err.code}: ${err.message}`,
        err.code === 'BAD_SIGNATURE',
      )
    // As the next block would see it: the model approved, the escrow within the balance.
    try {
      applyBody(
        new Overlay(state),
        tx,
        { chainId: chain.chainId, registry: chain.registry },
        { height: chain.replica.head.height + 1, time: clock.now(), proposer: self },
      )
    } catch (err) {
      if (err instanceof TxRejectedError) throw refused(err)
      throw err
    }
    const account = getAccount(state, tx.from)
    if (tx.from !== self) {
      const pending = this.pendingOf(tx.from, state)
      if (pending.length >= this.opts.maxUnconfirmedPerGateway)
        throw refusal(
          'UNCONFIRMED_LIMIT',
          `${pending.length} tasks of this gateway here wait for their TaskOpen to be in a block`,
        )
      // Concurrent TaskOpens must fit the balance together, not each on its own.
      const committed = pending.reduce((sum, s) => sum + s.maxCost, maxCost)
      if (account.balance < committed)
        throw refusal(
          'ESCROW_UNFUNDED',
          `balance ${account.balance} does not cover ${committed} escrowed by this gateway's unconfirmed tasks`,
        )
    }
    // Signature, nonce window and fee, as any transaction from the network; gossiped on from here.
    try {
      if (!chain.replica.mempool.has(tx.hashHex)) chain.submit(tx)
    } catch (err) {
      if (err instanceof TxRejectedError) throw refused(err)
      throw err
    }
  }

  /** The gateway's served tasks still unconfirmed: those whose TaskOpen nonce is not used on chain yet. */
  private pendingOf(client: string, state: StateReader): Served[] {
    const set = this.unconfirmed.get(client)
    if (set === undefined) return []
    const next = getAccount(state, client).nonce
    const out: Served[] = []
    for (const id of [...set]) {
      const s = this.served.get(id)
      if (s === undefined || s.nonce < next) set.delete(id)
      else out.push(s)
    }
    if (set.size === 0) this.unconfirmed.delete(client)
    return out
  }

  /** Forget tasks that can no longer be replayed: not open on chain and their TaskOpen used. */
  private forgetSettled(state: StateReader): void {
    for (const [id, s] of this.served) {
      if (getTask(state, id) !== undefined || getAccount(state, s.client).nonce <= s.nonce) continue
      this.served.delete(id)
      this.unconfirmed.get(s.client)?.delete(id)
    }
  }
}

function refusal(code: string, message: string, hostile = false): InferRefusal {
  // An honest gateway never sends another's TaskOpen, a replay or a forged one.
  return new InferRefusal(code, message, hostile ? { action: 'reject' } : {})
}
