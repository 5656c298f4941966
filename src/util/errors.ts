/**
 * Base of every error Cordex throws on purpose. `code` is stable and machine-readable (it reaches
 * JSON error bodies and exit codes); `meta` carries typed details for logs.
 */
export class CordexError<
  C extends string = string,
  M extends object = Record<string, unknown>,
> extends Error {
  readonly code: C
  readonly meta: M

  constructor(code: C, message: string, meta: M = {} as M, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'CordexError'
    this.code = code
    this.meta = meta
  }
}

/** Narrow an unknown thrown value to a message that can be shown to a person. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
