import type { Options } from 'yargs'
import type { GlobalArgs } from '../../options.js'
import { p2pOptions, type P2pArgs } from '../../p2pOptions.js'
import { LOG_LEVELS, type LogLevel } from '../../../util/logger.js'

export type DaemonArgs = GlobalArgs & P2pArgs & { logLevel?: LogLevel; model?: string[] }

export const daemonOptions: Record<string, Options> = {
  ...p2pOptions,
  model: {
    type: 'string',
    array: true,
    description:
      "Model folder(s) to host instead of the config's engine.models (a standard ONNX decoder export with a manifest)",
  },
  'log-level': {
    type: 'string',
    choices: LOG_LEVELS as string[],
    description: "Log level (default: the config's)",
  },
}
