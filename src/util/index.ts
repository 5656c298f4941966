export { CordexError, errorMessage } from './errors.js'
export { createLogger, silentLogger, LOG_LEVELS, type Logger, type LogLevel } from './logger.js'
export { systemClock, type Clock } from './clock.js'
