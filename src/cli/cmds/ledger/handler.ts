import { callDaemon } from '../../client.js'
import { printJson } from '../../output.js'
import type { GlobalArgs } from '../../options.js'
import { CliError } from '../../errors.js'
import { ExitCode } from '../../exitCodes.js'

interface HeadView {
  chainId: string
  height: number
  hash: string
  time: string
  stateRoot: string
  validators: Array<{ id: string; power: number }>
  mempool: { txs: number; bytes: number }
}

interface BlockView {
  height: number
  hash: string
  time: string
  proposer: string
  stateRoot: string
  txs: Array<{ hash: string; type: string; from: string; nonce: number; fee: string; body: unknown }>
  commit: { round: number; signers: string[] } | null
}

export async function headHandler(args: GlobalArgs): Promise<void> {
  const h = await callDaemon<HeadView>(args.dataDir, '/ledger/head')
  if (args.json) return printJson(h)
  console.log(
    [
      `chain        ${h.chainId}`,
      `height       ${h.height}`,
      `hash         ${h.hash}`,
      `time         ${h.time}`,
      `state root   ${h.stateRoot}`,
      `validators   ${h.validators.map((v) => `${v.id} (${v.power})`).join('\n             ')}`,
      `mempool      ${h.mempool.txs} transactions`,
    ].join('\n'),
  )
}

export async function blockHandler(args: GlobalArgs & { height: number }): Promise<void> {
  if (!Number.isSafeInteger(args.height) || args.height < 1) {
    throw new CliError(ExitCode.USAGE, 'BAD_HEIGHT', 'the height must be a positive integer')
  }
  const b = await callDaemon<BlockView>(args.dataDir, `/ledger/blocks/${args.height}`)
  if (args.json) return printJson(b)
  console.log(
    `block ${b.height}  ${b.hash}\ntime ${b.time}  proposer ${b.proposer}\nstate root ${b.stateRoot}`,
  )
  if (b.commit !== null)
    console.log(`final: round ${b.commit.round}, signed by ${b.commit.signers.length} validators`)
  for (const t of b.txs)
    console.log(
      `  ${t.hash}  ${t.type}  from ${t.from}  nonce ${t.nonce}  fee ${t.fee}  ${JSON.stringify(t.body)}`,
    )
  if (b.txs.length === 0) console.log('  (no transactions)')
}

export async function accountHandler(args: GlobalArgs & { id: string }): Promise<void> {
  const a = await callDaemon<{ id: string; balance: string; stake: string; nonce: number }>(
    args.dataDir,
    `/accounts/${encodeURIComponent(args.id)}`,
  )
  if (args.json) return printJson(a)
  console.log(`account  ${a.id}\nbalance  ${a.balance}\nstake    ${a.stake}\nnonce    ${a.nonce}`)
}
