import { GREEDY } from '../../src/engine/llm/sampler.js'
import { outputHash, signReceipt, taskIdOf, type Receipt, type Signer } from '../../src/ledger/index.js'
import { encodeRequest, inputHash, type InferRequest } from '../../src/protocols/infer/codec.js'
import type { TaskRecordData } from '../../src/protocols/task/codec.js'

export const RECORD_CHAIN = 'cordex-test'

/** An infer request for task `nonce` of client `client`. */
export function testRequest(client: string, nonce: number, over: Partial<InferRequest> = {}): InferRequest {
  return {
    taskId: taskIdOf(client, nonce),
    model: 'kjv-small@1',
    prompt: 'And God said,',
    maxTokens: 8,
    tokenPrice: 10n,
    sampling: GREEDY,
    stop: [],
    open: new Uint8Array(200).fill(7),
    ...over,
  }
}

/**
 * A record as an honest executor would sign it: the receipt hashes `request`'s frame and
 * `tokens`, names the request's task and model, and is signed by `executor` on RECORD_CHAIN.
 */
export function testRecord(
  executor: Signer,
  request: InferRequest,
  tokens: number[] = [5, 6, 7, 8],
  over: Partial<Receipt> = {},
): TaskRecordData {
  const frame = encodeRequest(request)
  const receipt: Receipt = {
    taskId: request.taskId,
    modelId: request.model,
    inputHash: inputHash(frame),
    outputHash: outputHash(tokens),
    promptTokens: 4,
    completionTokens: tokens.length,
    ...over,
  }
  return {
    request: frame,
    tokens,
    receipt,
    sig: signReceipt(RECORD_CHAIN, executor, receipt),
    executor: executor.peerId,
  }
}
