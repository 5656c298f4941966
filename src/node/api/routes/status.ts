import type { ApiRoute } from '../server.js'
import type { ApiContext } from '../context.js'
import { routingTableSize } from '../../libp2p.js'

/** Shape of `GET /status` (and of `cordex status --json`). */
export interface StatusView {
  peerId: string
  pid: number
  network: string
  version: string
  /** Full multiaddrs, each ending in /p2p/<peerId>. */
  addrs: string[]
  /** Configured listen multiaddrs. */
  listen: string[]
  startedAt: string
  uptimeMs: number
  /** Connected peers. */
  peers: number
  connections: number
  routingTableSize: number
  dataDir: string
  socket: string
  apiUrl: string | null
  /** File holding the bearer token the TCP listener requires (the path, never the token). */
  apiTokenFile: string
}

export function statusRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/status',
    handler: async (): Promise<StatusView> => ({
      peerId: ctx.node.peerId.toString(),
      pid: process.pid,
      network: ctx.config.network,
      version: ctx.version,
      addrs: ctx.node.getMultiaddrs().map((a) => a.toString()),
      listen: ctx.config.p2p.listen,
      startedAt: new Date(ctx.startedAt).toISOString(),
      uptimeMs: ctx.clock.now() - ctx.startedAt,
      peers: ctx.node.getPeers().length,
      connections: ctx.node.getConnections().length,
      routingTableSize: routingTableSize(ctx.node),
      dataDir: ctx.paths.root,
      socket: ctx.paths.socket,
      apiUrl: ctx.apiUrl(),
      apiTokenFile: ctx.paths.apiToken,
    }),
  }
}
