export * from './records.js'
export * from './access.js'
export * from './receipt.js'
export * from './route.js'
