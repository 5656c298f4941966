// `npm run econ:verify`: the expected profit of each way to cheat verification, per epoch, against
// honest play, as markdown tables (mainnet-like and devnet-like params, reputation 0 and the cap).
// Pure arithmetic from src/verify/economics.ts; the simulation that checks its probabilities is
// test/sim/verifyEconomics.test.ts. Amounts are in fees of one typical task.
import {
  DEVNET_VERIFY_PARAMS,
  MAINNET_VERIFY_PARAMS,
  TYPICAL_HOST,
  breakEvenTasks,
  coveredByRules,
  economicsTable,
  type HostProfile,
  type VerifyParams,
} from '../src/verify/economics.js'
import { print } from './lib/report.js'

const STAKE_EPOCHS = TYPICAL_HOST.stake / (TYPICAL_HOST.tasksPerEpoch * TYPICAL_HOST.fee)

function fmt(x: number): string {
  if (x === 0) return '0'
  const a = Math.abs(x)
  return a >= 100 ? x.toFixed(0) : a >= 1 ? x.toFixed(2) : x.toPrecision(2)
}

function pct(x: number): string {
  return x >= 0.9999 && x < 1 ? '>99.99%' : `${(100 * x).toFixed(2)}%`
}

function section(net: string, params: VerifyParams, reputation: number): void {
  const profile: HostProfile = { ...TYPICAL_HOST, reputation }
  print(`### ${net}, reputation ${reputation}`)
  print()
  print('| strategy | saves per epoch | P(caught per epoch) | loss if caught | net per epoch |')
  print('|---|---:|---:|---:|---:|')
  for (const o of economicsTable(params, profile)) {
    const mark = coveredByRules(o.strategy) ? '' : ' †'
    print(
      `| ${o.strategy.name}${mark} | ${fmt(o.savesPerEpoch)} | ${pct(o.caughtPerEpoch)} | ${fmt(o.lossIfCaught)} | ${fmt(o.netPerEpoch)} |`,
    )
  }
  print()
}

function binding(params: VerifyParams, reputation: number): string {
  const n = breakEvenTasks(params, { ...TYPICAL_HOST, reputation }, STAKE_EPOCHS)
  if (n === null) return 'never'
  if (n <= 1) return 'at 1 task per epoch already'
  const below = { ...TYPICAL_HOST, reputation, tasksPerEpoch: n - 1, stake: STAKE_EPOCHS * (n - 1) }
  const rows = economicsTable(params, below)
    .filter((o) => coveredByRules(o.strategy) && o.netPerEpoch >= 0)
    .map((o) => `"${o.strategy.name}"`)
  return `from ${n} tasks per epoch (below that: ${rows.join(', ')})`
}

print('## Verification economics')
print()
print(
  `Host: ${TYPICAL_HOST.tasksPerEpoch} tasks per epoch, fee 1, compute ${TYPICAL_HOST.costShare * 100}% of the fee, ` +
    `a check ${Math.round(TYPICAL_HOST.checkCostShare * 100)}% of an answer's compute, stake ${STAKE_EPOCHS} epochs of fees, ` +
    `${TYPICAL_HOST.tokensPerAnswer} tokens per answer. Amounts in fees. † no rule penalises it.`,
)
print()
for (const [net, params] of [
  ['mainnet', MAINNET_VERIFY_PARAMS],
  ['devnet', DEVNET_VERIFY_PARAMS],
] as const) {
  print(`Params (${net}): ${JSON.stringify(params)}`)
  print()
  for (const reputation of [0, params.reputationCap]) section(net, params, reputation)
}
print('### Smallest host that every penalised strategy loses money on (stake scaled with fees)')
print()
for (const [net, params] of [
  ['mainnet', MAINNET_VERIFY_PARAMS],
  ['devnet', DEVNET_VERIFY_PARAMS],
] as const)
  for (const reputation of [0, params.reputationCap])
    print(`- ${net}, reputation ${reputation}: ${binding(params, reputation)}`)
print()
const checkCost = TYPICAL_HOST.costShare * TYPICAL_HOST.checkCostShare
print(
  `Report deposit: an escalation re-checks until more than half of the weight has voted; with equal ` +
    `weights that is about peers/2 checks of ${fmt(checkCost)} fees each, so a deposit of ` +
    `${MAINNET_VERIFY_PARAMS.reportDepositFees} fees covers it up to about ` +
    `${Math.floor((2 * MAINNET_VERIFY_PARAMS.reportDepositFees) / checkCost)} peers.`,
)
