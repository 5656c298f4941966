import path from 'node:path'
import type { ModelGovernanceView, ModelTxView } from '../../../node/index.js'
import { loadManifest } from '../../../engine/llm/manifest.js'
import { MODEL_ID, MAX_UNITS_PER_TOKEN } from '../../../ledger/models/records.js'
import { errorMessage } from '../../../util/errors.js'
import { callDaemon } from '../../client.js'
import { CliError } from '../../errors.js'
import { ExitCode } from '../../exitCodes.js'
import { printJson, shortId, table } from '../../output.js'
import type { GlobalArgs } from '../../options.js'
import { waitFinal } from '../tx/handler.js'

interface WaitArgs extends GlobalArgs {
  wait: boolean
  timeout: number
}

export interface ProposeArgs extends WaitArgs {
  dir: string
  unitsPerToken?: number
}

export interface VoteArgs extends WaitArgs {
  id: string
  choice: string
}

/**
 * `cordex model propose DIR`: read the model folder's manifest (checking every file against its
 * SHA-256, as the engine does), derive its id, and ask the daemon to propose it
 * (`POST /models/propose`), escrowing the chain's deposit; then, unless --no-wait, wait until the
 * ModelPropose is final. Units per token come from --units-per-token, else from the manifest.
 */
export async function proposeHandler(args: ProposeArgs): Promise<void> {
  const dir = path.resolve(args.dir)
  let pinned: Awaited<ReturnType<typeof loadManifest>>
  try {
    pinned = await loadManifest(dir)
  } catch (err) {
    throw new CliError(
      ExitCode.USAGE,
      'BAD_MODEL_DIR',
      `${dir} is not a usable model folder: ${errorMessage(err)}`,
    )
  }
  const units = args.unitsPerToken ?? pinned.manifest.unitsPerToken
  if (!Number.isSafeInteger(units) || units < 1 || units > MAX_UNITS_PER_TOKEN)
    throw new CliError(
      ExitCode.USAGE,
      'BAD_UNITS',
      '--units-per-token must be a whole number from 1 to 10^12',
    )
  if (!MODEL_ID.test(pinned.id))
    throw new CliError(ExitCode.USAGE, 'BAD_MODEL_ID', `${pinned.id} is not a model id the chain takes`)
  const sent = await callDaemon<ModelTxView>(args.dataDir, '/models/propose', {
    method: 'POST',
    body: { model: pinned.id, unitsPerToken: units },
  })
  const status = await waitFinal(args, sent.hash)
  if (args.json) return printJson({ ...sent, ...status })
  console.log(
    `proposed ${sent.model} at ${units} units of compute per token: transaction ${sent.hash} ${status.status}` +
      `${status.height !== undefined ? ` in block ${status.height}` : ''}, deposit ${sent.deposit} in escrow\n` +
      `follow the vote with: cordex model list`,
  )
}

/** `cordex model vote ID yes|no`: this daemon's weighted vote on a pending proposal. */
export async function voteHandler(args: VoteArgs): Promise<void> {
  if (!MODEL_ID.test(args.id))
    throw new CliError(
      ExitCode.USAGE,
      'BAD_MODEL_ID',
      'a model id is name@<16 hex digits> (see cordex model list)',
    )
  const choice = args.choice.toLowerCase()
  if (choice !== 'yes' && choice !== 'no') throw new CliError(ExitCode.USAGE, 'BAD_VOTE', 'vote yes or no')
  const sent = await callDaemon<ModelTxView>(args.dataDir, `/models/${encodeURIComponent(args.id)}/vote`, {
    method: 'POST',
    body: { approve: choice === 'yes' },
  })
  const status = await waitFinal(args, sent.hash)
  if (args.json) return printJson({ ...sent, ...status })
  console.log(
    `voted ${choice} on ${sent.model}: transaction ${sent.hash} ${status.status}` +
      `${status.height !== undefined ? ` in block ${status.height}` : ''}`,
  )
}

const pct = (fraction: number): string => `${(fraction * 100).toFixed(2)}%`

/** `cordex model list`: approved models, pending proposals with their votes, recent decisions. */
export async function listHandler(args: GlobalArgs): Promise<void> {
  const v = await callDaemon<ModelGovernanceView>(args.dataDir, '/models/governance')
  if (args.json) return printJson(v)
  const g = v.governance
  const lines = [
    `governance   ${
      g === null
        ? 'none (this chain adds no models by vote)'
        : `deposit ${g.modelDeposit}, voting window ${g.modelVotingEpochs} epochs, at most ${g.maxPendingModels} pending`
    }`,
    `epoch        ${v.epoch} (total weight ${v.totalWeight}; a model needs more than half of it)`,
    '',
    v.approved.length === 0
      ? 'approved     none'
      : `approved\n${table(
          ['MODEL', 'UNITS/TOKEN'],
          v.approved.map((m) => [m.id, String(m.unitsPerToken)]),
        )}`,
  ]
  if (v.pending.length > 0)
    lines.push(
      '',
      `pending\n${table(
        ['MODEL', 'UNITS/TOKEN', 'PROPOSER', 'DEPOSIT', 'PROPOSED', 'CLOSES', 'YES', 'NO', 'VOTES'],
        v.pending.map((p) => [
          p.id,
          String(p.unitsPerToken),
          shortId(p.proposer),
          p.deposit,
          `epoch ${p.epoch}`,
          `epoch ${p.closesAt}`,
          pct(p.yes.fraction),
          pct(p.no.fraction),
          String(p.votes.length),
        ]),
      )}`,
    )
  else if (g !== null) lines.push('', 'pending      none')
  if (v.recent.length > 0)
    lines.push(
      '',
      `decided\n${table(
        ['MODEL', 'OUTCOME', 'EPOCH', 'DEPOSIT'],
        v.recent.map((d) => [
          d.id,
          d.outcome,
          String(d.epoch),
          `${d.deposit} ${d.outcome === 'approved' ? 'returned' : 'burned'}`,
        ]),
      )}`,
    )
  console.log(lines.join('\n'))
}
