import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Logger } from '../../util/logger.js'
import { CordexError } from '../../util/errors.js'
import { ReqResp } from '../reqresp.js'
import { exchangeFailure, ProtocolError, type PeerAction } from '../errors.js'
import { protocolId } from '../ids.js'
import type { PeerGuard } from '../guard.js'
import { verifySample, type NonceSample, type NonceTree } from '../../race/index.js'
import {
  decodeProofRequest,
  decodeProofResponse,
  encodeProofRequest,
  encodeProofResponse,
  MAX_PROOF_INDICES,
  MAX_PROOF_REQUEST_BYTES,
  MAX_PROOF_RESPONSE_BYTES,
  type ProofRequest,
} from './codec.js'

export {
  encodeProofRequest,
  decodeProofRequest,
  encodeProofResponse,
  decodeProofResponse,
  MAX_PROOF_INDICES,
  MAX_PROOF_REQUEST_BYTES,
  MAX_PROOF_RESPONSE_BYTES,
} from './codec.js'
export type { ProofRequest, ProofResponse } from './codec.js'

export type ProofFetchErrorCode =
  /** The peer answered that it keeps no nonce list for that epoch. */
  | 'NOT_FOUND'
  /** The peer answered with openings that do not verify against the proof's root and count, or not of the asked positions. */
  | 'BAD_OPENING'
  /** No whole answer within the deadline. */
  | 'TIMEOUT'
  /** No stream could be opened to the peer. */
  | 'UNREACHABLE'
  /** The peer refused (busy, over its rate, failed, or found the request invalid) or hung up. */
  | 'REFUSED'
  /** The answer was oversized or not a proof response. */
  | 'MALFORMED'
  /** The caller's signal aborted the fetch. */
  | 'CANCELLED'

/**
 * Why a prover's sampled nonces could not be had. Every code means the prover did not serve what
 * its root commits to, as far as this validator can tell (SPEC 4.5: a prover that does not serve
 * its sample fails); `meta.action` says what the answer deserves from its sender, and `cause` is
 * the ProtocolError of the exchange when there is one.
 */
export class ProofFetchError extends CordexError<ProofFetchErrorCode, { peer: string; action: PeerAction }> {}

/** The server side's lookup: this peer's nonce tree of the Race of `epoch`, if it keeps one. Never sees a stream. */
export type NonceTreeProvider = (epoch: number) => NonceTree | undefined

export interface ProofLimits {
  /** Deadline for a whole exchange, ms. */
  timeoutMs: number
  /** Concurrent inbound streams per connection (libp2p's own cap). */
  maxInboundStreams: number
  /** Deadline for the request frame to arrive whole, ms. Default 5000. */
  requestTimeoutMs?: number
  /** Concurrent inbound proof streams one peer may hold (with a guard). Default 2: a validator asks once per proof. */
  maxStreamsPerPeer?: number
  /** Proof requests per second one peer may make, bursts of twice as many (with a guard). Default 2. */
  requestsPerSecond?: number
}

const DEFAULT_STREAMS_PER_PEER = 2
const DEFAULT_REQUESTS_PER_SECOND = 2

type Node = Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'>

/**
 * `/cordex/<network>/proof/1.0.0` (SPEC 2, 4.5): a validator on a proof's committee asks the
 * prover for the openings of the positions its VRF picked (one frame of at most 2,317 bytes) and
 * gets them, each with its Merkle path, or "not found" (one frame of at most
 * `MAX_PROOF_RESPONSE_BYTES`). Framing, deadlines and per-peer streams and rates are the
 * request/response machinery's; this file encodes, decodes and checks the openings against the
 * root and count on the ledger. A malformed request counts against its sender.
 */
export class ProofProtocol {
  private readonly rr: ReqResp

  constructor(
    components: { node: Node; log: Logger; guard?: PeerGuard | null },
    network: string,
    limits: ProofLimits,
  ) {
    this.rr = new ReqResp(components, protocolId(network, 'proof'), {
      // The response code byte comes first.
      maxFrameBytes: MAX_PROOF_RESPONSE_BYTES + 1,
      maxRequestBytes: MAX_PROOF_REQUEST_BYTES,
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

  /** Serve openings from the trees `provider` keeps. */
  async start(provider: NonceTreeProvider): Promise<void> {
    await this.rr.register(async (req) => this.serve(req, provider))
  }

  async stop(): Promise<void> {
    await this.rr.unregister()
  }

  private async serve(req: Uint8Array, provider: NonceTreeProvider): Promise<Uint8Array> {
    const reject = (message: string): ProtocolError =>
      new ProtocolError('MALFORMED', message, { protocol: this.rr.protocol, action: 'reject' })
    let request: ProofRequest
    try {
      request = decodeProofRequest(req)
    } catch (err) {
      throw reject((err as Error).message)
    }
    const tree = provider(request.epoch)
    if (tree === undefined) return encodeProofResponse({ found: false })
    // A validator draws its positions below the count on the ledger, which is this tree's.
    const outside = request.indices.find((i) => i >= tree.count)
    if (outside !== undefined) throw reject(`no position ${outside} in a list of ${tree.count}`)
    return encodeProofResponse({ found: true, samples: request.indices.map((i) => tree.sample(i)) })
  }

  /**
   * The nonces at `indices` (in that order) of `peer`'s Race proof of `epoch`, whose root and
   * count are on the ledger: every opening is checked against them (`checkSamples`). Throws
   * ProofFetchError; RangeError when `indices` is empty, over `MAX_PROOF_INDICES` or not below
   * `count` (a caller's mistake, not the peer's).
   */
  async fetchSamples(
    peer: PeerId,
    epoch: number,
    indices: readonly number[],
    root: Uint8Array,
    count: number,
    signal?: AbortSignal,
  ): Promise<number[]> {
    if (indices.length === 0 || indices.length > MAX_PROOF_INDICES)
      throw new RangeError(`proof: 1 to ${MAX_PROOF_INDICES} indices, not ${indices.length}`)
    if (indices.some((i) => !Number.isSafeInteger(i) || i < 0 || i >= count))
      throw new RangeError(`proof: every index must be a position below the count ${count}`)
    const who = peer.toString()
    let body: Uint8Array
    try {
      body = await this.rr.request(peer, encodeProofRequest({ epoch, indices: [...indices] }), { signal })
    } catch (err) {
      throw fetchError(who, err, signal)
    }
    let res
    try {
      res = decodeProofResponse(body)
    } catch (err) {
      throw new ProofFetchError('MALFORMED', `${who}: ${(err as Error).message}`, {
        peer: who,
        action: 'reject',
      })
    }
    if (!res.found)
      throw new ProofFetchError('NOT_FOUND', `${who} keeps no nonce list of epoch ${epoch}`, {
        peer: who,
        action: 'ignore',
      })
    const problem = checkSamples(res.samples, indices, root, count)
    if (problem !== undefined)
      throw new ProofFetchError('BAD_OPENING', `${who}: ${problem}`, { peer: who, action: 'reject' })
    return res.samples.map((s) => s.nonce)
  }
}

/**
 * Undefined when `samples` are exactly the openings of `indices`, in order, of the list of `count`
 * nonces committed by `root`; otherwise what is wrong, as a sentence. Pure.
 */
export function checkSamples(
  samples: readonly NonceSample[],
  indices: readonly number[],
  root: Uint8Array,
  count: number,
): string | undefined {
  if (samples.length !== indices.length)
    return `${samples.length} openings for ${indices.length} asked positions`
  for (let k = 0; k < samples.length; k++) {
    const s = samples[k]!
    if (s.index !== indices[k]) return `an opening of position ${s.index} where ${indices[k]} was asked`
    if (!verifySample(root, count, s)) return `the opening of position ${s.index} does not verify`
  }
  return undefined
}

function fetchError(peer: string, err: unknown, signal: AbortSignal | undefined): ProofFetchError {
  const { code, action } = exchangeFailure(err, signal)
  return new ProofFetchError(code, (err as Error).message, { peer, action }, { cause: err })
}
