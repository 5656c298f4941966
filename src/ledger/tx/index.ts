import { TxRegistry } from './tx.js'
import { transfer } from './types/transfer.js'
import { stake } from './types/stake.js'
import { unstake } from './types/unstake.js'
import { hostAnnounce } from './types/hostAnnounce.js'
import { randCommit } from './types/randCommit.js'
import { randReveal } from './types/randReveal.js'
import { raceProof } from './types/raceProof.js'
import { proofVerdict } from './types/proofVerdict.js'
import { taskOpen } from './types/taskOpen.js'
import { taskReceipt } from './types/taskReceipt.js'
import { taskCancel } from './types/taskCancel.js'
import { verifyResult } from './types/verifyResult.js'
import { verifyKey } from './types/verifyKey.js'
import { report } from './types/report.js'
import { modelPropose } from './types/modelPropose.js'
import { modelVote } from './types/modelVote.js'
import { priceVote } from './types/priceVote.js'

export {
  TxRegistry,
  minFee,
  signTx,
  decodeTx,
  verifyTx,
  type Tx,
  type SignedTx,
  type TxType,
  type TxContext,
} from './tx.js'
export type { TransferBody } from './types/transfer.js'
export type { StakeBody } from './types/stake.js'
export type { HostAnnounceBody } from './types/hostAnnounce.js'
export type { RandCommitBody } from './types/randCommit.js'
export type { RandRevealBody } from './types/randReveal.js'
export type { RaceProofBody } from './types/raceProof.js'
export type { ProofVerdictBody } from './types/proofVerdict.js'
export type { TaskOpenBody } from './types/taskOpen.js'
export type { TaskReceiptBody } from './types/taskReceipt.js'
export type { TaskCancelBody } from './types/taskCancel.js'
export type { VerifyResultBody } from './types/verifyResult.js'
export type { VerifyKeyBody } from './types/verifyKey.js'
export type { ReportBody } from './types/report.js'
export type { ModelProposeBody } from './types/modelPropose.js'
export type { ModelVoteBody } from './types/modelVote.js'
export type { PriceVoteBody } from './types/priceVote.js'

/** The registry of the ledger's, the Race's and inference's types. */
export function baseRegistry(): TxRegistry {
  return new TxRegistry([
    transfer,
    stake,
    unstake,
    hostAnnounce,
    randCommit,
    randReveal,
    raceProof,
    proofVerdict,
    taskOpen,
    taskReceipt,
    taskCancel,
    verifyResult,
    verifyKey,
    report,
    modelPropose,
    modelVote,
    priceVote,
  ] as never[])
}
