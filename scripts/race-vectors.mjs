// Writes test/fixtures/race-vectors.json from the reference implementation (run after `npm run
// build`). The file is committed: every backend, and any other implementation of the Race
// function, must reproduce these distances within the profile's tolerance and these verdicts.
// Regenerate only with a new version of the Race function.
import { writeFileSync } from 'node:fs'
import { H, nodeSeed, Stream, ReferenceBackend, threshold } from '../dist/src/race/index.js'

const profile = {
  version: 1,
  layers: 2,
  width: 32,
  heads: 4,
  ffn: 64,
  vocab: 256,
  seqLen: 4,
  q: 0.05,
  tolerance: 0.001,
}
const seed = H('cordex/test/race-seed')
const publicKey = H('cordex/test/public-key')
const node = nodeSeed(publicKey)
const hex = (b) => Buffer.from(b).toString('hex')
const ref = new ReferenceBackend(profile, seed)
const nonces = Array.from({ length: 400 }, (_, i) => i)
const distances = await ref.distances(node, nonces)
const tau = threshold(profile)
const first = new Stream(new Uint8Array(32), 0).words(4)
writeFileSync(
  new URL('../test/fixtures/race-vectors.json', import.meta.url),
  JSON.stringify(
    {
      comment: 'Race function v1 test vectors; see docs/race-function.md',
      profile,
      seed: hex(seed),
      publicKey: hex(publicKey),
      nodeSeed: hex(node),
      tau,
      prng: { key: hex(new Uint8Array(32)), stream: 0, firstWords: [...first] },
      vectors: nonces.map((n, i) => ({ nonce: n, distance: distances[i], valid: distances[i] < tau })),
    },
    null,
    2,
  ) + '\n',
)
console.log(
  `wrote ${nonces.length} vectors; ${[...distances].filter((d) => d < tau).length} valid; tau ${tau}`,
)
