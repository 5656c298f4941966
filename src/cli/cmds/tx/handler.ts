import { callDaemon } from '../../client.js'
import { printJson } from '../../output.js'
import type { GlobalArgs } from '../../options.js'
import { CliError } from '../../errors.js'
import { ExitCode } from '../../exitCodes.js'

export interface SendArgs extends GlobalArgs {
  fee?: string
  wait: boolean
  timeout: number
}

export interface TxStatus {
  hash: string
  status: 'committed' | 'pending'
  height?: number
  ok?: boolean
  error?: { code: string; message: string } | null
}

/**
 * Ask the daemon to sign and send a transaction of `type`; then, unless --no-wait, poll until it
 * is final (or the timeout passes: exit code 1, the transaction may still land).
 */
export async function sendTx(args: SendArgs, type: string, body: unknown): Promise<void> {
  const sent = await callDaemon<{ hash: string; nonce: number; from: string }>(args.dataDir, '/tx', {
    method: 'POST',
    body: { type, body, ...(args.fee !== undefined ? { fee: args.fee } : {}) },
  })
  const status = await waitFinal(args, sent.hash)
  if (args.json) return printJson({ ...sent, ...status })
  console.log(
    `transaction ${sent.hash} ${status.status}${status.height !== undefined ? ` in block ${status.height}` : ''}`,
  )
}

/**
 * Unless --no-wait, poll the daemon until transaction `hash` is final (past the timeout: exit code
 * 1, it may still land); a final one that failed its own rules exits 6. Returns its last status.
 */
export async function waitFinal(
  args: { dataDir: string; wait: boolean; timeout: number },
  hash: string,
): Promise<TxStatus> {
  let status: TxStatus = { hash, status: 'pending' }
  if (args.wait) {
    const deadline = Date.now() + args.timeout * 1000
    while (status.status !== 'committed') {
      if (Date.now() > deadline) {
        throw new CliError(
          ExitCode.ERROR,
          'NOT_FINAL',
          `transaction ${hash} not final after ${args.timeout} s`,
        )
      }
      await new Promise((r) => setTimeout(r, 100))
      status = await callDaemon<TxStatus>(args.dataDir, `/ledger/tx/${hash}`)
    }
  }
  if (status.ok === false) {
    throw new CliError(
      ExitCode.DAEMON_ERROR,
      status.error?.code ?? 'TX_FAILED',
      `transaction ${hash} landed in block ${status.height} but failed (it paid its fee): ${status.error?.message ?? ''}`,
    )
  }
  return status
}

export function checkUnits(v: string, what: string): string {
  if (!/^\d{1,20}$/.test(v))
    throw new CliError(ExitCode.USAGE, 'BAD_AMOUNT', `${what} must be a whole number of base units`)
  return v
}
