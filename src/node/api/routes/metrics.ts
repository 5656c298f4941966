import { RawResponse, type ApiRoute } from '../server.js'
import type { ApiContext } from '../context.js'

/**
 * `GET /metrics`: every metric of the daemon in Prometheus' text format (version 0.0.4), for a
 * Prometheus server to scrape. On the TCP listener it takes the bearer token like every other
 * route (Prometheus sends it with `authorization.credentials_file`; deploy/prometheus.yml).
 */
export function metricsRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/metrics',
    handler: async () => {
      const { registry } = ctx.metrics
      return new RawResponse(registry.contentType, Buffer.from(await registry.metrics(), 'utf8'))
    },
  }
}
