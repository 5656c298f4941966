import type { PriceView } from '../../../node/api/routes/price.js'
import { callDaemon } from '../../client.js'
import { printJson, table, shortId } from '../../output.js'
import type { GlobalArgs } from '../../options.js'

export async function priceHandler(args: GlobalArgs): Promise<void> {
  const p = await callDaemon<PriceView>(args.dataDir, '/price')
  if (args.json) return printJson(p)
  const change = p.next === p.current ? 'unchanged' : `from ${p.current}`
  console.log(
    [
      `epoch              ${p.epoch}`,
      `price              ${p.current} base units per unit of compute`,
      `next price         ${p.next} (${change}), if the epoch ended now`,
      `this peer's vote   ${p.me.recorded ?? 'none'} on the ledger${p.me.configured === null ? ', none configured' : `, ${p.me.configured} configured`}`,
    ].join('\n'),
  )
  if (p.votes.length === 0) return console.log('no peer has weight: the price stays')
  console.log(
    table(
      ['PEER', 'WEIGHT', 'SHARE', 'PRICE', 'VOTE'],
      p.votes.map((v) => [
        shortId(v.peer),
        String(v.weight),
        `${((100 * v.weight) / Math.max(1, p.totalWeight)).toFixed(1)}%`,
        v.price,
        v.recorded ? `recorded at block ${v.height ?? '?'}` : 'none (counts as the price in force)',
      ]),
    ),
  )
}
