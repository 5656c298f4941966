import { CodecError } from '../../ledger/errors.js'
import { decode, encode, read } from '../../ledger/codec.js'
import { MAX_PATH_ELEMENTS, PATH_ELEMENT_BYTES, type NonceSample } from '../../race/index.js'

/** What a validator asks a prover over `proof` (SPEC 4.5): openings of these positions of its list. */
export interface ProofRequest {
  /** The Race epoch of the proof. */
  epoch: number
  /** Positions in the prover's nonce list, 1 to `MAX_PROOF_INDICES` of them (a validator's sample). */
  indices: number[]
}

/** The answer: one opening per asked position, in the asked order, or "no proof for that epoch". */
export type ProofResponse = { found: true; samples: NonceSample[] } | { found: false }

/** Positions one request may ask for: far above any sample size (mainnet samples 32). */
export const MAX_PROOF_INDICES = 256

/** Bytes a CBOR unsigned integer takes at most (a safe integer: head byte and 8 bytes). */
const MAX_UINT_BYTES = 9

/** Bytes of a CBOR array or byte-string head for a length below 65,536. */
const MAX_HEAD_BYTES = 3

/** A request frame at most: `[epoch, [index…]]`, 2,317 bytes. */
export const MAX_PROOF_REQUEST_BYTES =
  1 + MAX_UINT_BYTES + MAX_HEAD_BYTES + MAX_PROOF_INDICES * MAX_UINT_BYTES

/** One opening at most: `[index, nonce, [element…]]` with 64 elements of 48 bytes. */
const MAX_SAMPLE_BYTES =
  1 + 2 * MAX_UINT_BYTES + MAX_HEAD_BYTES + MAX_PATH_ELEMENTS * (2 + PATH_ELEMENT_BYTES)

/**
 * A response frame at most: `[1, [opening…]]` with 256 openings of 64 elements (about 805 KiB;
 * a real answer, 32 openings of a list of 100,000, is about 28 KB).
 */
export const MAX_PROOF_RESPONSE_BYTES = 2 + MAX_HEAD_BYTES + MAX_PROOF_INDICES * MAX_SAMPLE_BYTES

const NOT_FOUND = 0
const FOUND = 1

/** Encode a request; throws CodecError on a shape a server would refuse. */
export function encodeProofRequest(r: ProofRequest): Uint8Array {
  if (r.indices.length === 0 || r.indices.length > MAX_PROOF_INDICES)
    throw new CodecError('BAD_SHAPE', `proof request: 1 to ${MAX_PROOF_INDICES} indices`, {
      what: 'proof request',
    })
  return encode([read.uint(r.epoch, 'epoch'), r.indices.map((i) => read.uint(i, 'index'))])
}

/** The epoch and positions a request names; throws CodecError on anything else. */
export function decodeProofRequest(bytes: Uint8Array): ProofRequest {
  const [epoch, indices] = read.array(
    decode(bytes, MAX_PROOF_REQUEST_BYTES, 'proof request'),
    2,
    'proof request',
  )
  const list = read.uints(indices, MAX_PROOF_INDICES, 'indices')
  if (list.length === 0)
    throw new CodecError('BAD_SHAPE', 'proof request: no index', { what: 'proof request' })
  return { epoch: read.uint(epoch, 'epoch'), indices: list }
}

/** Encode an answer; throws CodecError when it breaks a bound a peer would refuse it for. */
export function encodeProofResponse(r: ProofResponse): Uint8Array {
  if (!r.found) return encode([NOT_FOUND])
  const what = { what: 'proof response' }
  if (r.samples.length === 0 || r.samples.length > MAX_PROOF_INDICES)
    throw new CodecError('TOO_LARGE', `proof response: 1 to ${MAX_PROOF_INDICES} openings`, what)
  const samples = r.samples.map((s) => {
    if (s.path.length > MAX_PATH_ELEMENTS || s.path.some((e) => e.length !== PATH_ELEMENT_BYTES))
      throw new CodecError(
        'BAD_SHAPE',
        `proof response: a path of at most ${MAX_PATH_ELEMENTS} elements`,
        what,
      )
    return [read.uint(s.index, 'index'), read.uint(s.nonce, 'nonce'), s.path]
  })
  return encode([FOUND, samples])
}

/**
 * Decode an answer of at most `MAX_PROOF_RESPONSE_BYTES`: shapes and sizes only (at most 256
 * openings of at most 64 path elements of 48 bytes); whether the openings verify is the caller's
 * check (`verifySample`). Throws CodecError.
 */
export function decodeProofResponse(bytes: Uint8Array): ProofResponse {
  // Decoded byte strings are views of the input: of a plain view, so that a stream's Buffer does
  // not come back as the path elements.
  const v = decode(
    new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    MAX_PROOF_RESPONSE_BYTES,
    'proof response',
  )
  if (!Array.isArray(v) || v.length === 0)
    throw new CodecError('BAD_SHAPE', 'proof response: expected a non-empty array', {
      what: 'proof response',
    })
  if (v[0] === NOT_FOUND) {
    read.array(v, 1, 'proof response')
    return { found: false }
  }
  if (v[0] !== FOUND)
    throw new CodecError('BAD_SHAPE', 'proof response: unknown kind', { what: 'proof response' })
  const [, list] = read.array(v, 2, 'proof response')
  const samples = read.list(list, MAX_PROOF_INDICES, 'openings').map((x): NonceSample => {
    const [index, nonce, path] = read.array(x, 3, 'opening')
    return {
      index: read.uint(index, 'index'),
      nonce: read.uint(nonce, 'nonce'),
      path: read
        .list(path, MAX_PATH_ELEMENTS, 'path')
        .map((e) => read.bytes(e, 'path element', PATH_ELEMENT_BYTES)),
    }
  })
  if (samples.length === 0)
    throw new CodecError('BAD_SHAPE', 'proof response: no opening', { what: 'proof response' })
  return { found: true, samples }
}
