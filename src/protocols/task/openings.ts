import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Logger } from '../../util/logger.js'
import { CodecError } from '../../ledger/errors.js'
import { decode, encode, read } from '../../ledger/codec.js'
import type { RowOpening, RowRequest } from '../../verify/freivalds/index.js'
import { ReqResp } from '../reqresp.js'
import { ProtocolError } from '../errors.js'
import { protocolId } from '../ids.js'
import type { PeerGuard } from '../guard.js'
import { TaskFetchError, fetchError } from './fetchError.js'

/**
 * `/cordex/<network>/task-open/1.0.0` (SPEC 6.2, issue 13): the `task` protocol's second request.
 * A verifier names an int8 task and the rows its challenge picked (which products, which rows of
 * each); the executor answers with each row's integers, scale and Merkle path under the root its
 * receipt signed, or "not found". Shapes and sizes are checked here; `auditOpenings` in
 * src/verify/freivalds judges the meaning (every row opened under the root, and right).
 *
 * Request: `[taskId, [[product, [row, …]], …]]`. Response: `[0]` (not found) or
 * `[1, [[product, row, x, y, scale, [sibling, …]], …]]`, `x` the int8 bytes, `y` the int32s
 * little-endian, `scale` the float32 little-endian (4 bytes).
 */

/** Products one request may name, rows it may name in all. */
export const MAX_OPEN_PRODUCTS = 1024
export const MAX_OPEN_ROWS = 4096
/** A request frame at most: the task id and 4,096 row indexes of up to 5 bytes with their headers. */
export const MAX_OPEN_REQUEST_BYTES = 32 * 1024
/** A response frame at most (kjv-small-int8: 16 positions of all 17 products, about 0.9 MB). */
export const MAX_OPEN_RESPONSE_BYTES = 16 * 1024 * 1024
/** Largest product dimension an opening may carry (the Freivalds field's bound). */
const MAX_ROW_DIM = 1 << 20

const NOT_FOUND = 0
const FOUND = 1

export function encodeOpenRequest(taskId: Uint8Array, requests: readonly RowRequest[]): Uint8Array {
  return encode([taskId, requests.map((r) => [r.product, r.rows])])
}

export function decodeOpenRequest(bytes: Uint8Array): { taskId: Uint8Array; requests: RowRequest[] } {
  const [t, list] = read.array(decode(bytes, MAX_OPEN_REQUEST_BYTES, 'open request'), 2, 'open request')
  let rows = 0
  const requests = read.list(list, MAX_OPEN_PRODUCTS, 'products').map((v) => {
    const [p, r] = read.array(v, 2, 'product request')
    const picked = read.uints(r, MAX_OPEN_ROWS, 'rows')
    rows += picked.length
    return { product: read.uint(p, 'product'), rows: picked }
  })
  if (rows > MAX_OPEN_ROWS)
    throw new CodecError('TOO_LARGE', `open request: ${rows} rows, over ${MAX_OPEN_ROWS}`, {
      what: 'open request',
    })
  return { taskId: read.bytes(t, 'taskId', 32), requests }
}

export function encodeOpenResponse(openings: readonly RowOpening[] | undefined): Uint8Array {
  if (openings === undefined) return encode([NOT_FOUND])
  const bytes = encode([
    FOUND,
    openings.map((o) => {
      const scale = new Uint8Array(4)
      new DataView(scale.buffer).setFloat32(0, o.scale, true)
      return [
        o.product,
        o.row,
        new Uint8Array(o.x.buffer, o.x.byteOffset, o.x.byteLength),
        int32le(o.y),
        scale,
        o.path,
      ]
    }),
  ])
  if (bytes.length > MAX_OPEN_RESPONSE_BYTES)
    throw new CodecError('TOO_LARGE', `openings: ${bytes.length} bytes, over ${MAX_OPEN_RESPONSE_BYTES}`, {
      what: 'openings',
    })
  return bytes
}

/** The openings, or undefined for "not found"; throws CodecError on anything malformed. */
export function decodeOpenResponse(bytes: Uint8Array): RowOpening[] | undefined {
  const v = decode(
    new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    MAX_OPEN_RESPONSE_BYTES,
    'openings',
  )
  if (!Array.isArray(v) || (v[0] !== NOT_FOUND && v[0] !== FOUND))
    throw new CodecError('BAD_SHAPE', 'openings: unknown kind', { what: 'openings' })
  if (v[0] === NOT_FOUND) {
    read.array(v, 1, 'openings')
    return undefined
  }
  const [, list] = read.array(v, 2, 'openings')
  return read.list(list, MAX_OPEN_ROWS, 'openings').map((o) => {
    const [p, r, x, y, s, path] = read.array(o, 6, 'opening')
    const xb = read.bytes(x, 'x')
    const yb = read.bytes(y, 'y')
    const sb = read.bytes(s, 'scale', 4)
    if (xb.length > MAX_ROW_DIM || yb.length % 4 !== 0 || yb.length > 4 * MAX_ROW_DIM)
      throw new CodecError('BAD_SHAPE', 'opening: a row of a bad size', { what: 'opening' })
    const yv = new DataView(yb.buffer, yb.byteOffset, yb.byteLength)
    return {
      product: read.uint(p, 'product'),
      row: read.uint(r, 'row'),
      x: new Int8Array(xb.slice().buffer),
      y: Int32Array.from({ length: yb.length / 4 }, (_, i) => yv.getInt32(4 * i, true)),
      scale: new DataView(sb.buffer, sb.byteOffset, 4).getFloat32(0, true),
      path: read.list(path, 64, 'path').map((e) => read.bytes(e, 'sibling', 32)),
    }
  })
}

function int32le(y: Int32Array): Uint8Array {
  const out = new Uint8Array(y.length * 4)
  const view = new DataView(out.buffer)
  for (let i = 0; i < y.length; i++) view.setInt32(4 * i, y[i]!, true)
  return out
}

/** The server side's lookup: the openings of `requests` for `taskId`, or undefined when this peer keeps no trace of it. */
export type OpeningsLookup = (
  taskId: Uint8Array,
  requests: RowRequest[],
  from: PeerId,
) => Promise<RowOpening[] | undefined>

type Node = Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'>

export interface OpeningsLimits {
  timeoutMs: number
  maxInboundStreams: number
  requestTimeoutMs?: number
  /** Default 2: each answer may be megabytes. */
  maxStreamsPerPeer?: number
  /** Default 2. */
  requestsPerSecond?: number
}

export class TaskOpenings {
  private readonly rr: ReqResp

  constructor(
    components: { node: Node; log: Logger; guard?: PeerGuard | null },
    network: string,
    limits: OpeningsLimits,
  ) {
    this.rr = new ReqResp(components, protocolId(network, 'task-open'), {
      maxFrameBytes: MAX_OPEN_RESPONSE_BYTES + 1,
      maxRequestBytes: MAX_OPEN_REQUEST_BYTES,
      timeoutMs: limits.timeoutMs,
      maxInboundStreams: limits.maxInboundStreams,
      requestTimeoutMs: limits.requestTimeoutMs,
      maxStreamsPerPeer: limits.maxStreamsPerPeer ?? 2,
      requestsPerSecond: limits.requestsPerSecond ?? 2,
    })
  }

  get protocol(): string {
    return this.rr.protocol
  }

  async start(lookup: OpeningsLookup): Promise<void> {
    await this.rr.register(async (req, from) => {
      let parsed
      try {
        parsed = decodeOpenRequest(req)
      } catch (err) {
        throw new ProtocolError('MALFORMED', (err as Error).message, {
          protocol: this.rr.protocol,
          action: 'reject',
        })
      }
      return encodeOpenResponse(await lookup(parsed.taskId, parsed.requests, from))
    })
  }

  async stop(): Promise<void> {
    await this.rr.unregister()
  }

  /** `peer`'s openings of `requests` for `taskId`. Throws TaskFetchError (NOT_FOUND: it keeps no trace). */
  async fetchOpenings(
    peer: PeerId,
    taskId: Uint8Array,
    requests: readonly RowRequest[],
    signal?: AbortSignal,
  ): Promise<RowOpening[]> {
    const who = peer.toString()
    let body: Uint8Array
    try {
      body = await this.rr.request(peer, encodeOpenRequest(taskId, requests), { signal })
    } catch (err) {
      throw fetchError(who, err, signal)
    }
    let openings
    try {
      openings = decodeOpenResponse(body)
    } catch (err) {
      throw new TaskFetchError('MALFORMED', `${who}: ${(err as Error).message}`, {
        peer: who,
        action: 'reject',
      })
    }
    if (openings === undefined)
      throw new TaskFetchError('NOT_FOUND', `${who} keeps no trace of this task`, {
        peer: who,
        action: 'ignore',
      })
    return openings
  }
}
