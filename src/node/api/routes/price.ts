import type { ApiRoute } from '../server.js'
import type { ApiContext } from '../context.js'
import { HttpError } from '../errors.js'
import { epochWeights, getPriceVote, priceTally } from '../../../ledger/index.js'
import { getEpoch } from '../../../ledger/epoch/access.js'

/** `GET /price` (as `cordex price --json`). Amounts are decimal strings of base units per unit of compute. */
export interface PriceView {
  /** The epoch in progress. */
  epoch: number
  /** The unit price in force. */
  current: string
  /** The price the next epoch would have if this epoch ended now: the weighted median of `votes`. */
  next: string
  totalWeight: number
  /**
   * Every peer with weight in this epoch: its recorded PriceVote (`recorded`, with the block that
   * recorded it), or, if it never voted, the price in force (`recorded: false`, `height: null`).
   */
  votes: Array<{ peer: string; weight: number; price: string; recorded: boolean; height: number | null }>
  /** This daemon: the vote its config asks for (null: none), and its vote on the ledger. */
  me: { peerId: string; configured: string | null; recorded: string | null }
}

/** `GET /price`: the unit price, the votes of the peers with weight, and the next price. 404 `NO_INFERENCE`. */
export function priceRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/price',
    handler: async (): Promise<PriceView> => {
      const state = ctx.chain.replica.state
      const epoch = getEpoch(state)
      const tally = priceTally(state, epochWeights(state, epoch))
      if (tally === undefined)
        throw new HttpError(404, 'NO_INFERENCE', 'this chain takes no inference tasks, so it has no price')
      const me = ctx.signer.peerId
      const configured = BigInt(ctx.config.inference.priceVote)
      return {
        epoch: epoch?.number ?? 0,
        current: tally.current.toString(),
        next: tally.next.toString(),
        totalWeight: tally.votes.reduce((sum, v) => sum + v.weight, 0),
        votes: tally.votes.map((v) => ({
          peer: v.peer,
          weight: v.weight,
          price: v.price.toString(),
          recorded: v.recorded,
          height: v.recorded ? (getPriceVote(state, v.peer)?.height ?? null) : null,
        })),
        me: {
          peerId: me,
          configured: configured > 0n ? configured.toString() : null,
          recorded: getPriceVote(state, me)?.price.toString() ?? null,
        },
      }
    },
  }
}
