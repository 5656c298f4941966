import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import type { ApiRoute } from '../server.js'
import type { ApiContext } from '../context.js'
import { HttpError } from '../errors.js'

/** One element of `GET /peers` (and of `cordex peers --json`). */
export interface PeerView {
  peerId: string
  /** Remote addresses of the open connections. */
  addrs: string[]
  /** Round trip measured by libp2p's connection monitor, or null before the first ping. */
  latencyMs: number | null
  protocols: string[]
  agent: string | null
  connectedSince: string
  direction: 'inbound' | 'outbound'
}

export function peersRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/peers',
    handler: async (): Promise<PeerView[]> => {
      const byPeer = new Map<string, ReturnType<typeof ctx.node.getConnections>>()
      for (const conn of ctx.node.getConnections()) {
        const key = conn.remotePeer.toString()
        byPeer.set(key, [...(byPeer.get(key) ?? []), conn])
      }
      const views: PeerView[] = []
      for (const [peerId, conns] of byPeer) {
        const first = conns.reduce((a, b) => (a.timeline.open <= b.timeline.open ? a : b))
        const rtts = conns.map((c) => c.rtt).filter((r): r is number => typeof r === 'number')
        const peer = await ctx.node.peerStore.get(first.remotePeer).catch(() => undefined)
        const agent = peer?.metadata.get('AgentVersion')
        views.push({
          peerId,
          addrs: conns.map((c) => c.remoteAddr.toString()),
          latencyMs: rtts.length > 0 ? Math.min(...rtts) : null,
          protocols: [...(peer?.protocols ?? [])].sort(),
          agent: agent !== undefined ? new TextDecoder().decode(agent) : null,
          connectedSince: new Date(first.timeline.open).toISOString(),
          direction: first.direction,
        })
      }
      return views.sort((a, b) => a.peerId.localeCompare(b.peerId))
    },
  }
}

/** `GET /peers/:id/info`: ask a connected or known peer for its version and uptime over `info`. */
export function peerInfoRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/peers/:id/info',
    handler: async (req) => {
      const peer = parsePeerId(req.params.id ?? '')
      const info = await ctx.info.query(peer, { signal: req.signal }).catch((err: Error) => {
        throw new HttpError(502, 'PEER_UNREACHABLE', err.message)
      })
      return { peerId: peer.toString(), ...info }
    },
  }
}

export function parsePeerId(s: string): PeerId {
  try {
    return peerIdFromString(s)
  } catch {
    throw new HttpError(400, 'INVALID_PEER_ID', `not a peer id: ${s.slice(0, 100)}`)
  }
}
