import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { callDaemon } from '../../client.js'
import { printJson } from '../../output.js'
import type { GlobalArgs } from '../../options.js'
import { CliError } from '../../errors.js'
import { ExitCode } from '../../exitCodes.js'
import { formData } from './form.js'

/** What `GET /v1/batches/:id` answers (OpenAI's Batch object with `cordex`). */
export interface BatchView {
  id: string
  status: string
  endpoint: string
  input_file_id: string
  output_file_id: string | null
  error_file_id: string | null
  created_at: number
  completed_at: number | null
  request_counts: { total: number; completed: number; failed: number }
  errors: { data: Array<{ code: string; message: string; line: number | null }> } | null
  metadata: Record<string, string> | null
  cordex: {
    tasks: number
    verification: Record<string, number>
    chain: Record<string, number>
  }
}

export interface SubmitArgs extends GlobalArgs {
  file: string
  endpoint?: string
  metadata?: string[]
}

export interface BatchIdArgs extends GlobalArgs {
  id: string
}

export interface ResultsArgs extends BatchIdArgs {
  errors: boolean
}

/** Statuses a batch never leaves. */
const FINAL = new Set(['completed', 'failed', 'expired', 'cancelled'])

/** Check a batch id before asking the daemon. */
export function checkBatchId(id: string): string {
  if (!/^batch_[A-Za-z0-9_-]{1,64}$/.test(id))
    throw new CliError(ExitCode.USAGE, 'BAD_BATCH_ID', 'a batch id looks like batch_<letters and digits>')
  return id
}

/** The endpoint of a batch: the one asked for, else the first request's `url`. */
function endpointOf(text: string, asked: string | undefined): string {
  if (asked !== undefined) return asked
  const first = text.split('\n').find((l) => l.trim() !== '')
  try {
    const url = (JSON.parse(first ?? '') as { url?: unknown }).url
    if (typeof url === 'string') return url
  } catch {
    // the daemon names the bad line
  }
  return '/v1/chat/completions'
}

function metadataOf(pairs: string[] | undefined): Record<string, string> | undefined {
  if (pairs === undefined || pairs.length === 0) return undefined
  const out: Record<string, string> = {}
  for (const p of pairs) {
    const eq = p.indexOf('=')
    if (eq < 1) throw new CliError(ExitCode.USAGE, 'BAD_METADATA', `--metadata takes key=value, not ${p}`)
    out[p.slice(0, eq)] = p.slice(eq + 1)
  }
  return out
}

/** `cordex batch submit FILE`: upload the JSONL (`POST /v1/files`), create the batch, print its id. */
export async function submitHandler(args: SubmitArgs): Promise<void> {
  let data: Buffer
  try {
    data = await readFile(args.file)
  } catch (err) {
    throw new CliError(ExitCode.USAGE, 'BAD_FILE', `cannot read ${args.file}: ${(err as Error).message}`)
  }
  const metadata = metadataOf(args.metadata)
  const form = formData(
    { purpose: 'batch' },
    { name: 'file', filename: basename(args.file), contentType: 'application/jsonl', data },
  )
  const file = await callDaemon<{ id: string }>(args.dataDir, '/v1/files', { method: 'POST', raw: form })
  const batch = await callDaemon<BatchView>(args.dataDir, '/v1/batches', {
    method: 'POST',
    body: {
      input_file_id: file.id,
      endpoint: endpointOf(data.toString('utf8'), args.endpoint),
      completion_window: '24h',
      ...(metadata !== undefined ? { metadata } : {}),
    },
  })
  if (args.json) return printJson(batch)
  if (batch.status === 'failed') {
    console.log(describe(batch))
    throw new CliError(ExitCode.DAEMON_ERROR, 'BATCH_FAILED', `batch ${batch.id} failed validation`)
  }
  console.log(batch.id)
}

export async function statusHandler(args: BatchIdArgs): Promise<void> {
  const b = await callDaemon<BatchView>(args.dataDir, `/v1/batches/${checkBatchId(args.id)}`)
  if (args.json) return printJson(b)
  console.log(describe(b))
}

/** The batch for people: status, counts, files, the audit of its tasks, validation errors. */
function describe(b: BatchView): string {
  const c = b.request_counts
  const v = b.cordex.verification
  const ch = b.cordex.chain
  const lines = [
    `batch     ${b.id}`,
    `status    ${b.status}`,
    `endpoint  ${b.endpoint}`,
    `requests  ${c.total}: ${c.completed} completed, ${c.failed} failed, ${c.total - c.completed - c.failed} to go`,
    `input     ${b.input_file_id}`,
    `output    ${b.output_file_id ?? '-'}`,
    `errors    ${b.error_file_id ?? '-'}`,
    `created   ${new Date(b.created_at * 1000).toISOString()}`,
    `audit     ${b.cordex.tasks} tasks: ${v.verified ?? 0} verified, ${v.pending ?? 0} pending, ` +
      `${v.fraud ?? 0} fraud, ${v.unchecked ?? 0} unchecked, ${v.unknown ?? 0} unknown` +
      ` (on the chain: ${ch.open ?? 0} open, ${ch.disputed ?? 0} disputed, ${ch.fraud ?? 0} convicted)`,
  ]
  for (const e of b.errors?.data ?? []) lines.push(`problem   ${e.code}: ${e.message}`)
  return lines.join('\n')
}

/** `cordex batch results ID`: the output file (or with --errors the error file) as JSONL. */
export async function resultsHandler(args: ResultsArgs): Promise<void> {
  const b = await callDaemon<BatchView>(args.dataDir, `/v1/batches/${checkBatchId(args.id)}`)
  if (!FINAL.has(b.status))
    throw new CliError(
      ExitCode.DAEMON_ERROR,
      'NOT_FINISHED',
      `batch ${b.id} is ${b.status}: its results come when it ends (cordex batch status ${b.id})`,
    )
  const fileId = args.errors ? b.error_file_id : b.output_file_id
  const text =
    fileId === null
      ? ''
      : await callDaemon<string>(args.dataDir, `/v1/files/${encodeURIComponent(fileId)}/content`, {
          text: true,
        })
  if (args.json)
    return printJson(
      text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as unknown),
    )
  process.stdout.write(text)
}

export async function cancelHandler(args: BatchIdArgs): Promise<void> {
  const b = await callDaemon<BatchView>(args.dataDir, `/v1/batches/${checkBatchId(args.id)}/cancel`, {
    method: 'POST',
  })
  if (args.json) return printJson(b)
  console.log(`${b.id} ${b.status}`)
}
