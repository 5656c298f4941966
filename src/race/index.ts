// The Race function (SPEC 4.1, docs/race-function.md): pure and versioned.
export { type RaceProfile, checkProfile, parameterCount, flopsPerNonce } from './profile.js'
export { threshold, cosineTail } from './threshold.js'
export { Stream, uniform, fillUniform } from './prng.js'
export {
  H,
  weightKey,
  nodeSeed,
  inputSeed,
  tokensAndPermutation,
  targetVector,
  centreAndNormalize,
} from './seeds.js'
export { generateWeights, type RaceWeights, type LayerWeights } from './weights.js'
export { RaceReference, distanceFromLogits } from './reference.js'
export type { RaceBackend } from './backend.js'
export { ReferenceBackend } from './referenceBackend.js'
export { judgeSample, type Judgement } from './verdict.js'
export { NonceTree, verifySample, type NonceSample, PATH_ELEMENT_BYTES, MAX_PATH_ELEMENTS } from './merkle.js'
