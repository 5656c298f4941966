import type { Genesis } from '../../ledger/index.js'
import type { GenesisConfig } from '../config/index.js'

/** The ledger's genesis from the config's (decimal strings become bigints). */
export function genesisFromConfig(g: GenesisConfig): Genesis {
  return {
    chainId: g.chainId,
    time: g.time,
    params: { ...g.params, minTxFee: BigInt(g.params.minTxFee) },
    accounts: g.accounts.map((a) => ({ id: a.id, balance: BigInt(a.balance), stake: BigInt(a.stake) })),
    validators: g.validators.map((v) => ({ id: v.id, power: v.power })),
    ...(g.race !== undefined ? { race: { ...g.race, noRevealPenalty: BigInt(g.race.noRevealPenalty) } } : {}),
    ...(g.inference !== undefined
      ? {
          inference: {
            unitPrice: BigInt(g.inference.unitPrice),
            models: g.inference.models.map((m): [string, number] => [m.id, m.unitsPerToken]),
          },
        }
      : {}),
    ...(g.verification !== undefined
      ? { verification: { ...g.verification, reportDeposit: BigInt(g.verification.reportDeposit) } }
      : {}),
    ...(g.governance !== undefined
      ? { governance: { ...g.governance, modelDeposit: BigInt(g.governance.modelDeposit) } }
      : {}),
    ...(g.economics !== undefined
      ? {
          economics: {
            ...g.economics,
            supplyCap: BigInt(g.economics.supplyCap),
            batchSize: BigInt(g.economics.batchSize),
          },
        }
      : {}),
  }
}
