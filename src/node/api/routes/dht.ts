import type { ApiRoute } from '../server.js'
import type { ApiContext } from '../context.js'
import { HttpError } from '../errors.js'
import { parsePeerId } from './peers.js'
import { deadline } from '../../../util/deadline.js'

/**
 * `GET /dht/peers/:id`: look a peer up through the DHT (peerRouting.findPeer, skipping the local
 * peer store unless `?cache=true`), bounded by the protocol stream timeout.
 */
export function findPeerRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/dht/peers/:id',
    handler: async (req) => {
      const peer = parsePeerId(req.params.id ?? '')
      if (peer.equals(ctx.node.peerId)) throw new HttpError(400, 'SELF', 'that is this peer')
      const { signal, clear } = deadline(ctx.config.protocols.streamTimeoutMs, req.signal)
      try {
        const found = await ctx.node.peerRouting.findPeer(peer, {
          signal,
          useCache: req.query.get('cache') === 'true',
        })
        return { peerId: found.id.toString(), addrs: found.multiaddrs.map((a) => a.toString()) }
      } catch (err) {
        throw new HttpError(404, 'PEER_NOT_FOUND', `${peer} not found in the DHT: ${(err as Error).message}`)
      } finally {
        clear()
      }
    },
  }
}
