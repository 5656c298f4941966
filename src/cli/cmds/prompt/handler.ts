import { callDaemon, streamDaemon } from '../../client.js'
import { printJson, shortId } from '../../output.js'
import { CliError } from '../../errors.js'
import { ExitCode } from '../../exitCodes.js'
import type { GlobalArgs } from '../../options.js'
import { requestFields, type SamplingArgs } from './sampling.js'

export interface CordexField {
  task_id: string
  executor: string
  model_id: string
  cost: string
  /** The output stopped because one more token would have cost more than max_cost. */
  budget_exhausted?: boolean
  receipt: unknown
}

interface Final {
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number }
  cordex?: CordexField
  finish_reason?: string
}

/** The model to use: the one named, or the first the daemon lists. */
export async function pickModel(dataDir: string, model: string | undefined): Promise<string> {
  if (model !== undefined) return model
  const list = await callDaemon<{ data: Array<{ id: string }> }>(dataDir, '/v1/models')
  const first = list.data[0]
  if (first === undefined)
    throw new CliError(ExitCode.DAEMON_ERROR, 'NO_MODELS', 'the daemon serves no models')
  return first.id
}

/** Stream a request's events; `onText` gets each piece of text; returns the last event's extras. */
export async function streamCompletion(
  dataDir: string,
  path: string,
  body: Record<string, unknown>,
  onText: (text: string) => void,
): Promise<Final> {
  const final: Final = {}
  await streamDaemon(dataDir, path, { ...body, stream: true }, (e) => {
    const choice = (e.choices as Array<Record<string, unknown>> | undefined)?.[0]
    const text = (choice?.text ?? (choice?.delta as { content?: string } | undefined)?.content) as
      string | undefined
    if (typeof text === 'string' && text.length > 0) onText(text)
    if (choice?.finish_reason !== null && choice?.finish_reason !== undefined)
      final.finish_reason = String(choice.finish_reason)
    if (e.usage !== undefined) final.usage = e.usage as Final['usage']
    if (e.cordex !== undefined) final.cordex = e.cordex as CordexField
  })
  return final
}

export function summary(f: Final): string {
  const u = f.usage
  const c = f.cordex
  return `[executor ${c === undefined ? '?' : shortId(c.executor)} · ${u?.prompt_tokens ?? '?'} prompt + ${u?.completion_tokens ?? '?'} output tokens · cost ${c?.cost ?? '?'} base units${c?.budget_exhausted === true ? ' (max_cost reached)' : ''} · task ${c?.task_id.slice(0, 16) ?? '?'}]`
}

export async function promptHandler(args: GlobalArgs & SamplingArgs & { text: string }): Promise<void> {
  const model = await pickModel(args.dataDir, args.model)
  const body = { ...requestFields(args, model), prompt: args.text }
  let text = ''
  const final = await streamCompletion(args.dataDir, '/v1/completions', body, (t) => {
    text += t
    if (!args.json) process.stdout.write(t)
  })
  if (args.json) {
    printJson({
      text,
      taskId: final.cordex?.task_id,
      executor: final.cordex?.executor,
      model: final.cordex?.model_id,
      usage: final.usage,
      cost: final.cordex?.cost,
      finishReason: final.finish_reason,
      budgetExhausted: final.cordex?.budget_exhausted,
      receipt: final.cordex?.receipt,
    })
    return
  }
  process.stdout.write(`\n${summary(final)}\n`)
}
