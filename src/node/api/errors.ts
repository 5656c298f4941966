import { CordexError } from '../../util/errors.js'

/** An error the control socket turns into a JSON response with this HTTP status. */
export class HttpError extends CordexError<string, { status: number; headers: Record<string, string> }> {
  /** `headers` go out with the error response (`retry-after`, `allow`, `www-authenticate`...). */
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(code, message, { status, headers })
  }

  get status(): number {
    return this.meta.status
  }

  get headers(): Record<string, string> {
    return this.meta.headers
  }
}

/**
 * The one error body of the control socket, shaped like OpenAI's so that its clients understand
 * it: `{"error": {"message", "type", "code"}}`.
 */
export function errorBody(status: number, code: string, message: string): string {
  const type = status >= 500 ? 'server_error' : 'invalid_request_error'
  return JSON.stringify({ error: { message, type, code } })
}
