import { createInterface } from 'node:readline/promises'
import type { CommandModule } from 'yargs'
import type { GlobalArgs } from '../../options.js'
import { samplingOptions, requestFields, type SamplingArgs } from '../prompt/sampling.js'
import { errorMessage } from '../../../util/errors.js'

/** `cordex chat`: an interactive session over /v1/chat/completions; the history is sent each turn. */
async function chatHandler(args: GlobalArgs & SamplingArgs): Promise<void> {
  const { pickModel, streamCompletion, summary } = await import('../prompt/handler.js')
  const model = await pickModel(args.dataDir, args.model)
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY })
  const messages: Array<{ role: string; content: string }> = []
  console.log(`chatting with ${model} (empty line or Ctrl-D ends)`)
  try {
    for (;;) {
      const line = await rl.question('> ').catch(() => '')
      if (line.trim() === '') return
      messages.push({ role: 'user', content: line })
      let reply = ''
      try {
        const final = await streamCompletion(
          args.dataDir,
          '/v1/chat/completions',
          { ...requestFields(args, model), messages },
          (t) => {
            reply += t
            process.stdout.write(t)
          },
        )
        messages.push({ role: 'assistant', content: reply })
        process.stdout.write(`\n${summary(final)}\n`)
      } catch (err) {
        messages.pop()
        console.error(`error: ${errorMessage(err)}`)
      }
    }
  } finally {
    rl.close()
  }
}

export const chatCommand: CommandModule<object, GlobalArgs & SamplingArgs> = {
  command: 'chat',
  describe: 'An interactive chat with a model on the network, through this daemon',
  builder: (y) => y.options(samplingOptions) as never,
  handler: chatHandler,
}
