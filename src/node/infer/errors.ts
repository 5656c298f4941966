import { HttpError } from '../api/errors.js'

/**
 * A task refused or failed at the gateway, with the HTTP status and OpenAI-style code the client
 * sees: model_not_found (404), context_length_exceeded / invalid_value (400), insufficient_funds
 * (402), gateway_busy (503, with Retry-After), executor_failed (502), no_executor (503).
 */
export class InferenceError extends HttpError {}
