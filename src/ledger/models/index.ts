export * from './records.js'
export * from './access.js'
export { tallyModel, outcomeOf, settleProposal, expireProposals, type ModelTally } from './decide.js'
