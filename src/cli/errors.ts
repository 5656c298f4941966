import { CordexError } from '../util/errors.js'
import { ExitCode } from './exitCodes.js'

/** An error that ends a command with a message for people and a documented exit code. */
export class CliError extends CordexError<string, { exitCode: ExitCode }> {
  constructor(exitCode: ExitCode, code: string, message: string) {
    super(code, message, { exitCode })
  }
}

/** Exit code for an error thrown by the node's parts. */
export function exitCodeOf(err: unknown): ExitCode {
  if (err instanceof CliError) return err.meta.exitCode
  if (err instanceof CordexError) {
    if (err.code.startsWith('CONFIG_') || err.code === 'CHAIN_GENESIS') return ExitCode.CONFIG
    if (err.code === 'DATA_DIR_LOCKED') return ExitCode.LOCKED
  }
  return ExitCode.ERROR
}
