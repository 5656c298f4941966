// The ledger's public surface (STYLE 14). Everything here is pure: no libp2p, no LevelDB, no timers.
export { encode, decode, read, json, amount } from './codec.js'
export {
  taggedHash,
  toHex,
  fromHex,
  equalBytes,
  u64,
  publicKeyOfPeerId,
  peerIdOfPublicKey,
  verifySignature,
  signerFromSeed,
  signingBytes,
  type Signer,
} from './crypto.js'
export {
  CodecError,
  TxRejectedError,
  BlockRejectedError,
  type CodecErrorCode,
  type TxRejectCode,
  type BlockRejectCode,
} from './errors.js'
export { State, Overlay, type StateReader, type StateChanges } from './state/state.js'
export {
  Keys,
  encodeEntry,
  decodeEntry,
  type Account,
  type Host,
  type Params,
  type Supply,
  type ValidatorEntry,
  type UnbondingQueue,
} from './state/records.js'
export * from './state/access.js'
export * from './tx/index.js'
export { Mempool, DEFAULT_MEMPOOL, type MempoolOptions } from './mempool.js'
export {
  blockHash,
  txRoot,
  commitHash,
  evidenceHash,
  checkCommit,
  encodeBlock,
  decodeBlock,
  encodeCommit,
  decodeCommit,
  type Block,
  type BlockLimits,
  type Commit,
  type Evidence,
  type Header,
} from './block.js'
export {
  applyTx,
  chargeTx,
  applyBody,
  runBody,
  executeBlock,
  buildBlock,
  checkEvidence,
  evidenceId,
  type ChainContext,
} from './executor.js'
export { genesisHash, genesisState, checkGenesis, type Genesis } from './genesis.js'
export { ValidatorSet } from './consensus/validatorSet.js'
export { AheadTracker } from './consensus/ahead.js'
export { VoteSet } from './consensus/voteSet.js'
export { VoteType, signVote, verifyVote, encodeVote, decodeVote, type Vote } from './consensus/vote.js'
export {
  signProposal,
  verifyProposal,
  encodeProposal,
  decodeProposal,
  type Proposal,
} from './consensus/proposal.js'
export {
  HeightMachine,
  Step,
  type Timeouts,
  type MachineInput,
  type MachineOutput,
} from './consensus/machine.js'
export {
  Replica,
  MAX_HEIGHTS_AHEAD,
  MAX_ROUNDS_AHEAD,
  type Admission,
  type ReplicaOptions,
  type ReplicaEvent,
  type ReplicaEffect,
  type Head,
} from './replica.js'
export * from './task/index.js'
export * from './verify/index.js'
export * from './models/index.js'
export * from './price/index.js'
export * from './economics/index.js'
