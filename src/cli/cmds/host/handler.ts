import type { HostView } from '../../../node/index.js'
import { callDaemon } from '../../client.js'
import { printJson, table } from '../../output.js'
import type { GlobalArgs } from '../../options.js'

export interface HostArgs extends GlobalArgs {
  peer: string
}

export async function hostHandler(args: HostArgs): Promise<void> {
  const h = await callDaemon<HostView>(args.dataDir, `/hosts/${encodeURIComponent(args.peer)}`)
  if (args.json) return printJson(h)
  const a = h.host
  const lines = [
    `host               ${h.id}`,
    ...(a === null
      ? ['announced          nothing (it serves no model)']
      : [
          `models             ${a.models.length > 0 ? a.models.join(', ') : 'none'}`,
          `price vote         ${a.priceVote} per unit of compute`,
          `fingerprint        ${a.fingerprint}`,
          `addresses          ${a.addrs.length > 0 ? a.addrs.join('\n                   ') : 'none'}`,
          `host since         block ${a.since}`,
        ]),
    `reputation         ${h.reputation}${h.reputationCap !== null ? ` of ${h.reputationCap}` : ''}`,
    `check rate         ${
      h.checkRate === null
        ? 'none (this chain checks no tasks)'
        : `${(h.checkRate.fraction * 100).toFixed(2)}% of its tasks (${h.checkRate.bps} bps)`
    }`,
    `held rewards       ${h.held}`,
    `jailed             ${h.jailed ? `yes: drawn for no task before epoch ${h.jailedUntilEpoch} (now ${h.epoch})` : 'no'}`,
    `frauds             ${h.frauds.length > 0 ? `in epochs ${h.frauds.join(', ')}` : 'none'}`,
    `false accusations  ${h.falseAccusations}`,
  ]
  console.log(lines.join('\n'))
  if (h.audits.length === 0) return
  const n = (v: number | null): string => (v === null ? '-' : String(v))
  console.log(
    `checking duty\n${table(
      ['EPOCH', 'AUDIT', 'WEIGHT', 'KEY', 'ASSIGNED', 'DONE', 'REWARDS'],
      h.audits.map((d) => [
        String(d.epoch),
        d.closed ? 'closed' : 'open',
        String(d.weight),
        d.revealed ? 'revealed' : '-',
        n(d.assigned),
        n(d.done),
        d.skipped === null ? '-' : d.skipped ? 'forfeited' : 'kept',
      ]),
    )}`,
  )
}
