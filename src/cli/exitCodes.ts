/** Exit codes of every `cordex` command (documented in docs/cli.md). */
export const ExitCode = {
  OK: 0,
  /** Unexpected failure. */
  ERROR: 1,
  /** Bad command-line usage. */
  USAGE: 2,
  /** No daemon answers on the data directory's socket. */
  NO_DAEMON: 3,
  /** The configuration is invalid. */
  CONFIG: 4,
  /** Another daemon holds the data directory. */
  LOCKED: 5,
  /** The daemon answered with an error. */
  DAEMON_ERROR: 6,
} as const

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]
