import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Logger } from '../../util/logger.js'
import { ReqResp } from '../reqresp.js'
import { ProtocolError } from '../errors.js'
import { protocolId } from '../ids.js'
import type { PeerGuard } from '../guard.js'
import type { RequestReader } from '../../verify/index.js'
import { decodeRequest, inputHash, maxRequestBytes } from '../infer/codec.js'
import {
  decodeTaskRequest,
  decodeTaskResponse,
  encodeTaskRequest,
  encodeTaskResponse,
  maxTaskResponseBytes,
  MAX_TASK_REQUEST_BYTES,
  type TaskRecordData,
} from './codec.js'
import { TaskFetchError, fetchError } from './fetchError.js'

export { TaskFetchError, type TaskFetchErrorCode } from './fetchError.js'
export {
  TaskOpenings,
  encodeOpenRequest,
  decodeOpenRequest,
  encodeOpenResponse,
  decodeOpenResponse,
  MAX_OPEN_ROWS,
  MAX_OPEN_PRODUCTS,
  MAX_OPEN_REQUEST_BYTES,
  MAX_OPEN_RESPONSE_BYTES,
  type OpeningsLookup,
  type OpeningsLimits,
} from './openings.js'
export {
  encodeTaskRequest,
  decodeTaskRequest,
  encodeTaskResponse,
  decodeTaskResponse,
  encodeTaskRecord,
  decodeTaskRecord,
  maxTaskResponseBytes,
  MAX_RECORD_TOKENS,
  MAX_TASK_REQUEST_BYTES,
} from './codec.js'
export type { TaskRecordData, TaskResponse } from './codec.js'

/** How `checkTaskRecord` reads a record's request: the infer protocol's frames and input hash. */
export const inferRequestReader: RequestReader = {
  hash: inputHash,
  decode: (frame) => decodeRequest(frame, maxRequestBytes()),
}

/** The server side's lookup: the record this peer keeps of `taskId`, if any. Never sees a stream. */
export type TaskRecordLookup = (taskId: Uint8Array, from: PeerId) => Promise<TaskRecordData | undefined>

export interface TaskLimits {
  /** Deadline for a whole exchange, ms (a record may be about 1.4 MB). */
  timeoutMs: number
  /** Concurrent inbound streams per connection (libp2p's own cap). */
  maxInboundStreams: number
  /** Deadline for the request frame to arrive whole, ms. Default 5000. */
  requestTimeoutMs?: number
  /** Concurrent inbound task streams one peer may hold (with a guard). Default 4: each answer may be large. */
  maxStreamsPerPeer?: number
  /** Task requests per second one peer may make, bursts of twice as many (with a guard). Default 5. */
  requestsPerSecond?: number
}

const DEFAULT_STREAMS_PER_PEER = 4
const DEFAULT_REQUESTS_PER_SECOND = 5

type Node = Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'>

/**
 * `/cordex/<network>/task/1.0.0` (SPEC 2, 6.1): a verifier asks a gateway or an executor for a
 * task's record by the task id (one 34-byte frame) and gets the record or "not found" (one frame
 * of at most `maxTaskResponseBytes()`). Framing, deadlines and per-peer streams and rates are the
 * request/response machinery's; this file only encodes and decodes. A malformed request counts
 * against its sender; "not found" is an answer, not an offence.
 */
export class TaskProtocol {
  private readonly rr: ReqResp

  constructor(
    components: { node: Node; log: Logger; guard?: PeerGuard | null },
    network: string,
    limits: TaskLimits,
  ) {
    this.rr = new ReqResp(components, protocolId(network, 'task'), {
      // The response code byte comes first.
      maxFrameBytes: maxTaskResponseBytes() + 1,
      maxRequestBytes: MAX_TASK_REQUEST_BYTES,
      timeoutMs: limits.timeoutMs,
      maxInboundStreams: limits.maxInboundStreams,
      requestTimeoutMs: limits.requestTimeoutMs,
      maxStreamsPerPeer: limits.maxStreamsPerPeer ?? DEFAULT_STREAMS_PER_PEER,
      requestsPerSecond: limits.requestsPerSecond ?? DEFAULT_REQUESTS_PER_SECOND,
    })
  }

  get protocol(): string {
    return this.rr.protocol
  }

  /** Serve records from `lookup`. */
  async start(lookup: TaskRecordLookup): Promise<void> {
    await this.rr.register(async (req, from) => this.serve(req, from, lookup))
  }

  async stop(): Promise<void> {
    await this.rr.unregister()
  }

  private async serve(req: Uint8Array, from: PeerId, lookup: TaskRecordLookup): Promise<Uint8Array> {
    let taskId: Uint8Array
    try {
      taskId = decodeTaskRequest(req)
    } catch (err) {
      throw new ProtocolError('MALFORMED', (err as Error).message, {
        protocol: this.rr.protocol,
        action: 'reject',
      })
    }
    const record = await lookup(taskId, from)
    // A record over the bounds throws a CodecError here: a SERVER_ERROR, not the asker's fault.
    return encodeTaskResponse(record === undefined ? { found: false } : { found: true, record })
  }

  /**
   * Fetch `peer`'s record of `taskId`: shapes and sizes are checked, meaning is not (see
   * `checkTaskRecord`). Throws TaskFetchError: NOT_FOUND when the peer keeps none.
   */
  async fetchTaskRecord(peer: PeerId, taskId: Uint8Array, signal?: AbortSignal): Promise<TaskRecordData> {
    const who = peer.toString()
    let body: Uint8Array
    try {
      body = await this.rr.request(peer, encodeTaskRequest(taskId), { signal })
    } catch (err) {
      throw fetchError(who, err, signal)
    }
    let res
    try {
      res = decodeTaskResponse(body)
    } catch (err) {
      throw new TaskFetchError('MALFORMED', `${who}: ${(err as Error).message}`, {
        peer: who,
        action: 'reject',
      })
    }
    if (!res.found)
      throw new TaskFetchError('NOT_FOUND', `${who} keeps no record of this task`, {
        peer: who,
        action: 'ignore',
      })
    return res.record
  }
}
