import { NonceTree } from '../../src/race/index.js'
import {
  decodeProofRequest,
  decodeProofResponse,
  encodeProofRequest,
  encodeProofResponse,
  MAX_PROOF_REQUEST_BYTES,
  type ProofRequest,
  type ProofResponse,
} from '../../src/protocols/proof/codec.js'

// The `proof` protocol's two decoders, as targets of decoders.test.ts (same shape as its `Target`).
const tree = new NonceTree(Array.from({ length: 300 }, (_, i) => 7 * i + 3))

export const proofTargets = [
  {
    name: 'proof decodeProofRequest',
    seeds: [
      encodeProofRequest({ epoch: 3, indices: [0, 17, 299] }),
      encodeProofRequest({ epoch: 2 ** 40, indices: Array.from({ length: 32 }, (_, i) => 9 * i) }),
    ],
    maxBytes: MAX_PROOF_REQUEST_BYTES,
    decode: (b: Uint8Array): unknown => decodeProofRequest(b),
    reencode: (v: unknown): Uint8Array => encodeProofRequest(v as ProofRequest),
  },
  {
    name: 'proof decodeProofResponse',
    seeds: [
      encodeProofResponse({ found: false }),
      encodeProofResponse({ found: true, samples: [0, 150, 299].map((i) => tree.sample(i)) }),
    ],
    // The fuzz inputs stay near the seeds' sizes; the decoder's own bound is about 805 KiB.
    maxBytes: 64 * 1024,
    decode: (b: Uint8Array): unknown => decodeProofResponse(b),
    reencode: (v: unknown): Uint8Array => encodeProofResponse(v as ProofResponse),
  },
]
