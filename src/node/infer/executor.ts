import type { Logger } from '../../util/logger.js'
import type { Engine } from '../../engine/index.js'
import { outputHash, signReceipt, type Receipt, type Signer } from '../../ledger/index.js'
import { InferRefusal, type InferHandler } from '../../protocols/index.js'
import { samplingSeed } from './seed.js'

/**
 * The executor's side of a task (SPEC 5.3 step 4): run the request on the local engine, streaming
 * chunks as they come, and sign a receipt over the request's hash and the output tokens. The
 * sampling seed comes from the task id, so the output is a pure function of the request.
 */
export function executorHandler(components: {
  engine: Engine
  signer: Signer
  chainId: string
  log: Logger
}): InferHandler {
  const { engine, signer, chainId, log } = components
  return async (req, ctx) => {
    const model = engine.model(req.model)
    if (model === undefined || model.id !== req.model) {
      throw new InferRefusal('UNKNOWN_MODEL', `this host does not serve ${req.model}`)
    }
    const promptIds = model.encode(req.prompt)
    // Chunks go out in order, one write at a time; the receipt goes after the last.
    let sending = Promise.resolve()
    const result = await engine.generate(
      model.id,
      {
        promptIds,
        sampling: req.sampling,
        seed: samplingSeed(req.taskId),
        maxTokens: req.maxTokens,
        stop: req.stop,
      },
      (chunk) => {
        sending = sending.then(() => ctx.send(chunk))
        sending.catch(() => {}) // seen again below; a broken stream also aborts ctx.signal
      },
      ctx.signal,
    )
    await sending
    const receipt: Receipt = {
      taskId: req.taskId,
      modelId: model.id,
      inputHash: ctx.inputHash,
      outputHash: outputHash(result.tokens),
      promptTokens: result.promptTokens,
      completionTokens: result.completionTokens,
    }
    log.debug({ peer: ctx.from.toString(), tokens: result.completionTokens }, 'task executed')
    return { receipt, sig: signReceipt(chainId, signer, receipt), finishReason: result.finishReason }
  }
}
