import { callDaemon } from '../../client.js'
import { printJson, table } from '../../output.js'
import type { GlobalArgs } from '../../options.js'
import type { SupplyView } from '../../../node/api/routes/supply.js'

const pct = (bps: number): string => `${(bps / 100).toFixed(2)}%`

/** `cordex ledger supply [--json]`. */
export async function supplyHandler(args: GlobalArgs): Promise<void> {
  const s = await callDaemon<SupplyView>(args.dataDir, '/ledger/supply')
  if (args.json) return printJson(s)
  console.log(`supply       ${s.total}\nminted       ${s.minted}\nburned       ${s.burned}`)
  const e = s.economics
  if (e === null) return console.log('this chain mints nothing (no genesis economics)')
  console.log(
    [
      `cap          ${e.cap}`,
      `batch        ${e.batch + 1} (${e.batchMinted} of ${e.batchSize} minted), subsidy ratio ${pct(e.ratioBps)}`,
      `minimum      ${e.minIssuanceThisYear} this year (year ${e.year + 1})`,
    ].join('\n'),
  )
  if (e.lastPayout !== null) {
    const l = e.lastPayout
    console.log(
      `last payout  epoch ${l.epoch}: fees ${l.eligibleFees} earned ${l.feeSubsidy}, minimum ${l.minimum}, minted ${l.minted}`,
    )
  }
  console.log(
    table(
      ['BATCH', 'MINTED', 'RATIO', 'FEES PAID', 'TOTAL PAID TO HOSTS'],
      e.schedule.map((r) => [String(r.batch + 1), r.minted, pct(r.ratioBps), r.fees, r.paid]),
    ),
  )
}
