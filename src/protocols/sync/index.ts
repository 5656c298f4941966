import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Logger } from '../../util/logger.js'
import { ReqResp, type ReqRespLimits } from '../reqresp.js'
import { ProtocolError } from '../errors.js'
import { protocolId } from '../ids.js'
import type { PeerGuard } from '../guard.js'
import {
  encode,
  decode,
  read,
  decodeBlock,
  decodeCommit,
  type Block,
  type BlockLimits,
  type Commit,
  type TxRegistry,
} from '../../ledger/index.js'

/** Blocks sent in one response at most. */
export const MAX_BLOCKS_PER_RESPONSE = 64

/** What the server side reads: committed blocks and commits, as stored. */
export interface BlockSource {
  headHeight(): number
  blockBytes(height: number): Promise<Uint8Array | undefined>
  commitBytes(height: number): Promise<Uint8Array | undefined>
}

export interface SyncResponse {
  /** The serving peer's head height. */
  head: number
  blocks: Array<{ block: Block; commit: Commit }>
}

/**
 * SPEC 3.3 `sync`: fetch committed blocks by height range. Request `[chainId, from, count]`;
 * response `[head, [[block, commit], ...]]`, at most 64 blocks and one frame. The client decodes
 * everything within limits; checking commits and state roots is the replica's job.
 */
export class SyncProtocol {
  private readonly rr: ReqResp

  constructor(
    private readonly components: {
      node: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'>
      log: Logger
      guard?: PeerGuard | null
    },
    private readonly opts: { network: string; chainId: string; registry: TxRegistry; limits: BlockLimits },
    private readonly reqLimits: ReqRespLimits,
  ) {
    this.rr = new ReqResp(components, protocolId(opts.network, 'sync'), reqLimits)
  }

  async start(source: BlockSource): Promise<void> {
    await this.rr.register(async (req) => this.serve(req, source))
  }

  async stop(): Promise<void> {
    await this.rr.unregister()
  }

  private async serve(req: Uint8Array, source: BlockSource): Promise<Uint8Array> {
    let chainId: string, from: number, count: number
    try {
      const [c, f, n] = read.array(decode(req, 128, 'sync request'), 3, 'sync request')
      ;[chainId, from, count] = [read.string(c, 64, 'chainId'), read.uint(f, 'from'), read.uint(n, 'count')]
    } catch (err) {
      throw new ProtocolError('MALFORMED', (err as Error).message, {
        protocol: this.rr.protocol,
        action: 'reject',
      })
    }
    if (chainId !== this.opts.chainId) {
      throw new ProtocolError('MALFORMED', `not on chain ${chainId}`, {
        protocol: this.rr.protocol,
        action: 'ignore',
      })
    }
    const head = source.headHeight()
    const blocks: Uint8Array[][] = []
    let size = 64
    const last = Math.min(head, from + Math.min(count, MAX_BLOCKS_PER_RESPONSE) - 1)
    for (let h = Math.max(from, 1); h <= last; h++) {
      const [b, c] = [await source.blockBytes(h), await source.commitBytes(h)]
      if (b === undefined || c === undefined) break
      size += b.length + c.length + 16
      if (size > this.reqLimits.maxFrameBytes - 1 && blocks.length > 0) break
      blocks.push([b, c])
    }
    return encode([head, blocks])
  }

  /** Ask `peer` for up to `count` blocks from `from`. Throws ProtocolError or CodecError. */
  async fetch(peer: PeerId, from: number, count: number, signal?: AbortSignal): Promise<SyncResponse> {
    const res = await this.rr.request(peer, encode([this.opts.chainId, from, count]), { signal })
    const [head, list] = read.array(
      decode(res, this.reqLimits.maxFrameBytes, 'sync response'),
      2,
      'sync response',
    )
    return {
      head: read.uint(head, 'head'),
      blocks: read.list(list, MAX_BLOCKS_PER_RESPONSE, 'blocks').map((pair) => {
        const [b, c] = read.array(pair, 2, 'block and commit')
        return {
          block: decodeBlock(read.bytes(b, 'block'), this.opts.registry, this.opts.limits),
          commit: decodeCommit(read.bytes(c, 'commit'), this.opts.limits.maxValidators),
        }
      }),
    }
  }
}
