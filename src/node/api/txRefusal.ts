import { HttpError } from './errors.js'
import { TxRejectedError } from '../../ledger/index.js'
import { OwnTxError } from '../chain/ownTxs.js'

/**
 * A transaction a route queued and the chain or the queue refused, as an HTTP error: the ledger's
 * codes through `refusals` (others 400 with the ledger's code); a full queue or a timeout 503
 * `busy` with Retry-After; a stopping daemon 503 `STOPPING`. `what` names the transaction in
 * the busy message. Anything else is returned as it is.
 */
export function txRefusal(err: unknown, refusals: Record<string, [number, string]>, what: string): unknown {
  if (err instanceof TxRejectedError) {
    const [status, code] = refusals[err.code] ?? [400, err.code]
    return new HttpError(status, code, err.message)
  }
  if (err instanceof OwnTxError) {
    if (err.code === 'QUEUE_FULL' || err.code === 'TIMEOUT')
      return new HttpError(503, 'busy', `${what} was not sent: ${err.message}`, { 'retry-after': '1' })
    if (err.code === 'STOPPED') return new HttpError(503, 'STOPPING', 'the daemon is stopping')
    return new HttpError(400, 'aborted', err.message)
  }
  return err
}
