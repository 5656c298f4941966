import type { ApiRoute } from '../server.js'
import type { ApiContext } from '../context.js'
import type { SyntheticEpoch } from '../../synthetic/service.js'

/** `GET /synthetic`: this daemon's synthetic traffic (operator only: it tells which tasks were synthetic). */
export interface SyntheticView {
  /** Whether this daemon plans synthetic tasks at all (config `synthetic.minTasksPerEpoch` > 0 and a gateway). */
  enabled: boolean
  minTasksPerEpoch: number
  maxPerEpoch: number
  /** Shapes of real requests kept to copy (0: synthetic requests come from the fixed mixture). */
  shapes: number
  /** The last epochs' plans, oldest first. */
  epochs: SyntheticEpoch[]
}

export function syntheticRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/synthetic',
    handler: async (): Promise<SyntheticView> => {
      const { minTasksPerEpoch, maxPerEpoch } = ctx.config.synthetic
      const s = ctx.synthetic
      return {
        enabled: s !== null && minTasksPerEpoch > 0,
        minTasksPerEpoch,
        maxPerEpoch,
        shapes: s?.shapes ?? 0,
        epochs: s?.history() ?? [],
      }
    },
  }
}
