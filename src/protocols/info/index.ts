import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Logger } from '../../util/logger.js'
import { ReqResp, type ReqRespLimits } from '../reqresp.js'
import { protocolId } from '../ids.js'
import { encodeInfo, decodeInfo, type NodeInfo } from './codec.js'
import type { PeerGuard } from '../guard.js'

export { encodeInfo, decodeInfo, type NodeInfo } from './codec.js'

export interface InfoComponents {
  node: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'>
  log: Logger
  guard?: PeerGuard | null
  /** Current facts about this daemon. */
  localInfo: () => NodeInfo
}

/**
 * `/cordex/<network>/info/1.0.0`: ask a peer for its version and uptime. The smallest Cordex
 * request/response protocol; operators use it through GET /peers/:id/info and the network
 * benchmark measures stream round trips with it.
 */
export class InfoProtocol {
  private readonly rr: ReqResp

  constructor(
    private readonly components: InfoComponents,
    network: string,
    limits: ReqRespLimits,
  ) {
    this.rr = new ReqResp(components, protocolId(network, 'info'), limits)
  }

  get protocol(): string {
    return this.rr.protocol
  }

  async start(): Promise<void> {
    await this.rr.register(async () => encodeInfo(this.components.localInfo()))
  }

  async stop(): Promise<void> {
    await this.rr.unregister()
  }

  async query(peer: PeerId, options: { signal?: AbortSignal } = {}): Promise<NodeInfo> {
    return decodeInfo(await this.rr.request(peer, new Uint8Array(0), options), this.rr.protocol)
  }
}
