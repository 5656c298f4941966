import type { ApiRoute } from '../server.js'
import type { ApiContext } from '../context.js'
import { HttpError } from '../errors.js'
import { publicKeyOfPeerId } from '../../../ledger/index.js'
import { hostView } from '../views/hostView.js'

/**
 * `GET /hosts/:id`: a peer's standing (see HostView): reputation, check rate, held rewards, jail,
 * frauds, false accusations, its HostAnnounce and its duty in the audits in state. 400 for a
 * malformed peer id, 404 for a peer the chain knows nothing of as a host or a verifier.
 */
export function hostRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/hosts/:id',
    handler: async (req) => {
      const id = req.params.id ?? ''
      if (publicKeyOfPeerId(id) === undefined)
        throw new HttpError(400, 'invalid_peer_id', `not a peer id: ${id.slice(0, 80)}`)
      const view = hostView(ctx.chain.replica.state, id)
      if (view === undefined)
        throw new HttpError(404, 'not_found', `the chain knows no host or verifier ${id}`)
      return view
    },
  }
}
