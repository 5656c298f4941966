import { test } from 'node:test'
import assert from 'node:assert/strict'
import { EngineError, decoderIo, type DecoderSpec, type IoMetadata } from '../../../src/engine/index.js'

// What the engine accepts of an export's inputs and outputs, and the refusals that say what is
// unsupported, on metadata shaped as onnxruntime reports it.

const spec: DecoderSpec = {
  family: 'llama',
  layers: 2,
  kvHeads: 2,
  headDim: 16,
  vocab: 2048,
  contextLength: 256,
  eos: [2044],
}

const t = (name: string, type: string, shape: Array<number | string> = []): IoMetadata => ({
  name,
  isTensor: true,
  type,
  shape,
})

function io(kv = 'float32', opts: { extraIn?: IoMetadata[]; ids?: string; logits?: string } = {}) {
  const inputs = [
    t('input_ids', opts.ids ?? 'int64', ['batch', 'seq']),
    t('attention_mask', opts.ids ?? 'int64', ['batch', 'total']),
    ...[0, 1].flatMap((l) =>
      ['key', 'value'].map((k) => t(`past_key_values.${l}.${k}`, kv, ['batch', 2, 'past', 16])),
    ),
    ...(opts.extraIn ?? []),
  ]
  const outputs = [
    t('logits', opts.logits ?? kv, ['batch', 'seq', 2048]),
    ...[0, 1].flatMap((l) => ['key', 'value'].map((k) => t(`present.${l}.${k}`, kv))),
  ]
  return { inputs, outputs }
}

const refused = (pattern: RegExp) => (e: unknown) =>
  e instanceof EngineError && e.code === 'MODEL_INVALID' && pattern.test(e.message)

test('the standard layout, float16 caches, int32 ids and a merged decoder are accepted', () => {
  const plain = io()
  const a = decoderIo(plain.inputs, plain.outputs, spec)
  assert.deepEqual(
    { ...a, pastNames: a.pastNames.length, presentNames: a.presentNames.length },
    {
      ids: 'int64',
      mask: 'int64',
      positions: null,
      cacheBranch: false,
      kv: 'float32',
      logits: 'float32',
      pastNames: 4,
      presentNames: 4,
      auditNames: [],
    },
  )
  const half = io('float16', { ids: 'int32', extraIn: [t('use_cache_branch', 'bool', [1])] })
  const b = decoderIo(half.inputs, half.outputs, spec)
  assert.equal(b.kv, 'float16')
  assert.equal(b.logits, 'float16')
  assert.equal(b.ids, 'int32')
  assert.equal(b.cacheBranch, true)
  // fp16 weights with float32 logits (keep_io_types on the logits only) is fine too.
  const mixed = io('float16', { logits: 'float32' })
  assert.equal(decoderIo(mixed.inputs, mixed.outputs, spec).logits, 'float32')
})

test('what the engine cannot drive is refused, naming it', () => {
  const bf16 = io('bfloat16')
  assert.throws(
    () => decoderIo(bf16.inputs, bf16.outputs, spec, 'm.onnx'),
    refused(
      /^m\.onnx: cache input past_key_values\.0\.key is bfloat16; the engine supports float32 or float16$/,
    ),
  )
  const extra = io('float32', { extraIn: [t('num_logits_to_keep', 'int64', [])] })
  assert.throws(
    () => decoderIo(extra.inputs, extra.outputs, spec),
    refused(/inputs the engine does not feed: num_logits_to_keep/),
  )
  // A cache for more layers than config.json declares.
  const deeper = io('float32', { extraIn: [t('past_key_values.2.key', 'float32')] })
  assert.throws(
    () => decoderIo(deeper.inputs, deeper.outputs, spec),
    refused(/does not feed: past_key_values\.2\.key/),
  )
  const shallow = io()
  assert.throws(
    () => decoderIo(shallow.inputs.slice(0, 4), shallow.outputs, spec),
    refused(/no past_key_values\.1\.key input/),
  )
  const wrongHeads = io()
  wrongHeads.inputs[2] = t('past_key_values.0.key', 'float32', ['batch', 4, 'past', 16])
  assert.throws(
    () => decoderIo(wrongHeads.inputs, wrongHeads.outputs, spec),
    refused(/past_key_values\.0\.key has shape \[batch, 4, past, 16\]; the engine feeds \[batch, 2 kv heads/),
  )
  const noPresent = io()
  assert.throws(
    () => decoderIo(noPresent.inputs, noPresent.outputs.slice(0, 2), spec),
    refused(/no present\.0\.value output/),
  )
  const flag = io('float32', { extraIn: [t('use_cache_branch', 'int64', [1])] })
  assert.throws(() => decoderIo(flag.inputs, flag.outputs, spec), refused(/use_cache_branch is int64/))
  const floatIds = io('float32', { ids: 'float32' })
  assert.throws(
    () => decoderIo(floatIds.inputs, floatIds.outputs, spec),
    refused(/input input_ids is float32/),
  )
  const noLogits = io()
  assert.throws(
    () => decoderIo(noLogits.inputs, noLogits.outputs.slice(1), spec),
    refused(/no logits output/),
  )
})
