export * from './records.js'
export * from './access.js'
export * from './median.js'
export * from './tally.js'
