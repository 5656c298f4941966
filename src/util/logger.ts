import { pino, type Logger as PinoLogger, type LevelWithSilent } from 'pino'

/** Structured logger: one JSON object per line. Each module takes a child with `{ module }`. */
export type Logger = PinoLogger

export type LogLevel = LevelWithSilent

export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

export interface LoggerOptions {
  level: LogLevel
  /** Where lines go; defaults to stdout. Synchronous so that lines written just before exit are kept. */
  destination?: number | string
}

export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    { level: opts.level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: opts.destination ?? 1, sync: true }),
  )
}

/** A logger that drops everything, for unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
