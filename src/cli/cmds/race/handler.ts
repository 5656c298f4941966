import type { RaceProgress } from '../../../node/race/service.js'
import type { NextRaceView } from '../../../node/api/routes/race.js'
import { callDaemon } from '../../client.js'
import { printJson, table, shortId, duration } from '../../output.js'
import type { GlobalArgs } from '../../options.js'

interface RaceView {
  epoch: number
  phase: string
  timeLeftMs: number | null
  nextRace: NextRaceView
  weights: Record<string, number>
  validators: Array<{ id: string; power: number }>
  me: (RaceProgress & { peerId: string }) | null
}

export async function raceHandler(args: GlobalArgs & { watch: boolean }): Promise<void> {
  for (;;) {
    const r = await callDaemon<RaceView>(args.dataDir, '/race')
    if (args.json) printJson(r)
    else print(r)
    if (!args.watch) return
    await new Promise((res) => setTimeout(res, 1000))
  }
}

function print(r: RaceView): void {
  const left = r.timeLeftMs === null ? '' : `, ${duration(r.timeLeftMs)} left`
  console.log(`epoch ${r.epoch}: ${r.phase} phase${left}`)
  const n = r.nextRace
  const eta = n.etaMs === null ? '' : ` (about ${duration(n.etaMs)})`
  console.log(`next Race: block ${n.height}, in ${n.inBlocks} blocks${eta}`)
  if (r.me !== null) {
    const m = r.me
    console.log(
      `this peer: ${m.racing ? 'racing' : 'idle'} (epoch ${m.epoch}), ${m.done} nonces at ${m.ratePerSec.toFixed(0)}/s, ` +
        `${m.valid} valid${m.submitted !== null ? `, ${m.submitted} submitted` : ''}${m.backend !== null ? ` [${m.backend}]` : ''}`,
    )
  }
  console.log(
    table(
      ['VALIDATOR', 'POWER'],
      r.validators.map((v) => [shortId(v.id), String(v.power)]),
    ),
  )
}
