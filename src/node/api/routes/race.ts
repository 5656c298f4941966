import type { ApiRoute } from '../server.js'
import type { ApiContext } from '../context.js'
import { HttpError } from '../errors.js'
import { toHex } from '../../../ledger/index.js'
import { getParams } from '../../../ledger/state/access.js'
import { getEpoch, getRaceParams, proofDeadline } from '../../../ledger/epoch/access.js'
import type { EpochState } from '../../../ledger/epoch/records.js'

/** The next Race not yet begun: its first block, how many blocks away, and when at the recent pace. */
export interface NextRaceView {
  height: number
  inBlocks: number
  /** inBlocks × the mean interval of the last blocks; null before that is known. */
  etaMs: number | null
}

function nextRace(e: EpochState, epochBlocks: number, head: number, intervalMs: number | null): NextRaceView {
  const height = e.phase === 'serve' ? e.raceStart : Math.max(e.raceStart + epochBlocks, head + 1)
  const inBlocks = Math.max(0, height - head)
  return { height, inBlocks, etaMs: intervalMs === null ? null : Math.round(inBlocks * intervalMs) }
}

/**
 * `GET /epoch`: the ledger's epoch record (phase, seed, commits, reveals, proofs, verdicts) and
 * the next Race.
 */
export function epochRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/epoch',
    handler: async () => {
      const state = ctx.chain.replica.state
      const e = getEpoch(state)
      const p = getRaceParams(state)
      if (e === undefined || p === undefined) throw new HttpError(404, 'NO_RACE', 'this chain runs no Races')
      const now = ctx.clock.now()
      const end =
        e.phase === 'race'
          ? e.gunTime + p.raceMs
          : e.phase === 'validate'
            ? proofDeadline(e, p) + p.validateMs
            : null
      return {
        epoch: e.number,
        phase: e.phase,
        phaseStart: e.phaseStart,
        raceStart: e.raceStart,
        nextRace: nextRace(
          e,
          getParams(state).epochBlocks,
          ctx.chain.head.height,
          ctx.chain.blockIntervalMs(),
        ),
        timeLeftMs: end === null ? null : Math.max(0, end - now),
        seed: e.seed === null ? null : toHex(e.seed),
        fallbackSeed: e.fallback,
        gunTime: e.gunTime === 0 ? null : new Date(e.gunTime).toISOString(),
        commits: e.commits.map(([id]) => id),
        reveals: e.reveals.map(([id]) => id),
        proofs: e.proofs.map(([id, count]) => ({ prover: id, nonces: count })),
        verdicts: e.verdicts.map(([prover, validator, accepted]) => ({ prover, validator, accepted })),
        weights: Object.fromEntries(e.weights),
      }
    },
  }
}

/** `GET /race`: the epoch in brief, this peer's Race progress, and the weights in force. */
export function raceRoute(ctx: ApiContext): ApiRoute {
  const epoch = epochRoute(ctx)
  return {
    method: 'GET',
    path: '/race',
    handler: async (req) => {
      const e = (await epoch.handler(req)) as {
        epoch: number
        phase: string
        timeLeftMs: number | null
        nextRace: NextRaceView
        weights: unknown
      }
      return {
        epoch: e.epoch,
        phase: e.phase,
        timeLeftMs: e.timeLeftMs,
        nextRace: e.nextRace,
        weights: e.weights,
        validators: ctx.chain.replica.validators().members,
        me: ctx.race === null ? null : { peerId: ctx.signer.peerId, ...ctx.race.progress },
      }
    },
  }
}
