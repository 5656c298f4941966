import { TxRegistry } from './tx.js'
import { transfer } from './types/transfer.js'
import { stake } from './types/stake.js'
import { unstake } from './types/unstake.js'
import { hostAnnounce } from './types/hostAnnounce.js'

export {
  TxRegistry,
  signTx,
  decodeTx,
  verifyTx,
  type Tx,
  type SignedTx,
  type TxType,
  type TxContext,
} from './tx.js'
export { transfer, stake, unstake, hostAnnounce }
export type { TransferBody } from './types/transfer.js'
export type { StakeBody } from './types/stake.js'
export type { HostAnnounceBody } from './types/hostAnnounce.js'

/** The registry with this types: Transfer, Stake, Unstake, HostAnnounce. */
export function baseRegistry(): TxRegistry {
  return new TxRegistry([transfer, stake, unstake, hostAnnounce] as never[])
}
