import type { Options } from 'yargs'
import type { GlobalArgs } from '../../options.js'
import { p2pOptions, type P2pArgs } from '../../p2pOptions.js'

export type InitArgs = GlobalArgs & P2pArgs

export const initOptions: Record<string, Options> = { ...p2pOptions }
