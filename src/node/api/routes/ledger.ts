import type { ApiRoute } from '../server.js'
import type { ApiContext } from '../context.js'
import { HttpError } from '../errors.js'
import { heldOf } from '../../../ledger/index.js'
import {
  blockHash,
  type Block,
  toHex,
  getAccount,
  type SignedTx,
  CodecError,
  TxRejectedError,
  publicKeyOfPeerId,
  json,
} from '../../../ledger/index.js'

/** `GET /ledger/head`: the last final block and the validators of the next. */
export function headRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/ledger/head',
    handler: async () => {
      const chain = ctx.chain
      const head = chain.head
      const block = head.height === 0 ? undefined : await chain.store.blocks.get(head.height)
      return {
        chainId: chain.chainId,
        height: head.height,
        hash: toHex(head.hash),
        time: new Date(head.time).toISOString(),
        stateRoot: toHex(block?.header.stateRoot ?? chain.replica.state.root),
        validators: chain.replica.validators().members,
        mempool: { txs: chain.replica.mempool.size, bytes: chain.replica.mempool.sizeBytes },
      }
    },
  }
}

/** `GET /ledger/finality`: proposal-to-finality times of the blocks this node proposed, ms. */
export function finalityRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/ledger/finality',
    handler: async () => ({ samples: ctx.chain.finalityMs }),
  }
}

/** `GET /ledger/blocks/:height`. */
export function blockRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/ledger/blocks/:height',
    handler: async (req) => {
      const height = Number(req.params.height)
      if (!Number.isSafeInteger(height) || height < 1)
        throw new HttpError(400, 'BAD_HEIGHT', 'height must be a positive integer')
      const block = await ctx.chain.store.blocks.get(height)
      if (block === undefined)
        throw new HttpError(
          404,
          'NO_SUCH_BLOCK',
          `no block at height ${height} (head is ${ctx.chain.head.height})`,
        )
      const commit = await ctx.chain.store.commits.get(height)
      return blockView(
        ctx,
        block,
        commit === undefined ? undefined : { round: commit.round, signers: commit.sigs.map(([id]) => id) },
      )
    },
  }
}

function blockView(
  ctx: ApiContext,
  b: Block,
  commit: { round: number; signers: string[] } | undefined,
): unknown {
  const h = b.header
  return {
    height: h.height,
    hash: toHex(blockHash(h)),
    time: new Date(h.time).toISOString(),
    chainId: h.chainId,
    prevHash: toHex(h.prevHash),
    txRoot: toHex(h.txRoot),
    stateRoot: toHex(h.stateRoot),
    proposer: h.proposer,
    epoch: h.epoch,
    txs: b.txs.map((t) => txView(ctx, t)),
    evidence: b.evidence.map((e) => ({ validator: e.a.validator, height: e.a.height, round: e.a.round })),
    commit: commit ?? null,
  }
}

function txView(ctx: ApiContext, t: SignedTx): unknown {
  return {
    hash: t.hashHex,
    type: t.type,
    from: t.from,
    nonce: t.nonce,
    fee: t.fee.toString(),
    body: ctx.chain.registry.get(t.type)?.toJson(t.body as never) ?? null,
  }
}

/**
 * `GET /ledger/tx/:hash`: committed (with its height, and `ok: false` with the error when its own
 * rules failed: it paid its fee and changed nothing else), pending, or 404.
 */
export function txStatusRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/ledger/tx/:hash',
    handler: async (req) => {
      const hash = (req.params.hash ?? '').toLowerCase()
      if (!/^[0-9a-f]{64}$/.test(hash))
        throw new HttpError(400, 'BAD_HASH', 'a transaction hash is 64 hex digits')
      // Pending is read first: a transaction leaves the mempool when its block commits in memory,
      // a moment before the block is on disk, so the other order could find it in neither.
      const pending = ctx.chain.replica.mempool.has(hash)
      let result = await ctx.chain.store.txIndex.get(hash)
      if (result === undefined && !pending) {
        await ctx.chain.settled()
        result = await ctx.chain.store.txIndex.get(hash)
      }
      if (result !== undefined) {
        return {
          hash,
          status: 'committed',
          height: result.height,
          ok: result.error === undefined,
          error: result.error ?? null,
        }
      }
      if (pending) return { hash, status: 'pending' }
      throw new HttpError(404, 'UNKNOWN_TX', `transaction ${hash} is neither committed nor pending here`)
    },
  }
}

/** `GET /accounts/:id`: balance, stake and held rewards as decimal strings of base units. */
export function accountRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/accounts/:id',
    handler: async (req) => {
      const id = req.params.id ?? ''
      if (publicKeyOfPeerId(id) === undefined)
        throw new HttpError(400, 'INVALID_PEER_ID', `not an account id: ${id.slice(0, 80)}`)
      const a = getAccount(ctx.chain.replica.state, id)
      return {
        id,
        balance: a.balance.toString(),
        stake: a.stake.toString(),
        nonce: a.nonce,
        held: heldOf(ctx.chain.replica.state, id).toString(),
      }
    },
  }
}

/**
 * `POST /tx` `{type, body, fee?}`: the daemon signs with its own key, at its next nonce, admits
 * the transaction to its mempool and gossips it. A refusal is a 400 naming the reason.
 */
export function submitTxRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'POST',
    path: '/tx',
    handler: async (req) => {
      const chain = ctx.chain
      const o = req.body
      if (typeof o !== 'object' || o === null)
        throw new HttpError(400, 'BAD_REQUEST', 'expected {"type", "body", "fee"?}')
      const { type, body, fee } = o as { type?: unknown; body?: unknown; fee?: unknown }
      const t = typeof type === 'string' ? chain.registry.get(type) : undefined
      if (t === undefined)
        throw new HttpError(400, 'UNKNOWN_TYPE', `unknown transaction type ${String(type)}`)
      let tx: SignedTx
      try {
        tx = chain.sendTx(t.name, t.fromJson(body), {
          fee: fee === undefined ? undefined : json.amount(fee, 'fee'),
        })
      } catch (err) {
        if (err instanceof TxRejectedError || err instanceof CodecError)
          throw new HttpError(400, err.code, err.message)
        throw err
      }
      return { hash: tx.hashHex, nonce: tx.nonce, from: tx.from }
    },
  }
}
