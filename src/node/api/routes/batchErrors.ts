import { BatchError } from '../../batch/index.js'
import { HttpError } from '../errors.js'

/** HTTP status and OpenAI-style code of each batch refusal. */
const STATUS: Record<BatchError['code'], [number, string]> = {
  INVALID_FILE: [400, 'invalid_file'],
  FILE_TOO_LARGE: [413, 'file_too_large'],
  TOO_MANY_LINES: [400, 'too_many_lines'],
  NOT_FOUND: [404, 'not_found'],
  BAD_STATE: [409, 'invalid_state'],
  LIMIT: [429, 'limit_reached'],
  INVALID_VALUE: [400, 'invalid_value'],
}

/** Run a batch operation; its BatchError becomes the HttpError a client sees. */
export async function batchCall<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (!(err instanceof BatchError)) throw err
    const [status, code] = STATUS[err.code]
    throw new HttpError(status, code, err.message)
  }
}
