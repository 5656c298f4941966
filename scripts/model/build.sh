#!/bin/sh
# Rebuilds the committed models from nothing: corpus, tokenizer, training of
# kjv-small (about 20-25 minutes on 2 cores) and kjv-tiny (about 5 minutes),
# the ONNX exports with their configs and manifests, the random-weight
# llama-tiny fixture, the reference greedy ids, and the checks in Node.
# A maintainer tool, not part of the install. Needs Debian (bookworm) packages:
#
#   apt-get install -y python3-torch python3-onnx python3-numpy python3-regex \
#       libopenblas0-pthread bible-kjv
#
#   scripts/model/build.sh          # everything
#   scripts/model/build.sh export   # reuse the corpus, tokenizer and checkpoints in the build dir
#
# Build dir (corpus, tokenizer, checkpoints, logs; not committed): $MODEL_BUILD, default build/model.
# Writes models/kjv-small, models/kjv-tiny, test/fixtures/models/llama-tiny, its rewrites into
# the forms other export tools produce (test/fixtures/models/llama-tiny-{external,fp16,q4,merged},
# by real-exports.mjs) and test/fixtures/models/expected-greedy.json.
set -eu
cd "$(dirname "$0")/../.."
PY="${PYTHON:-/usr/bin/python3}"   # Debian's Python: the one that sees python3-torch
B="${MODEL_BUILD:-build/model}"
S=scripts/model
export MODEL_BUILD="$B" PYTHONDONTWRITEBYTECODE=1
mkdir -p "$B"

dpkg -s libopenblas0-pthread >/dev/null 2>&1 ||
  echo "warning: libopenblas0-pthread is not installed; PyTorch will be about 20 times slower" >&2

if [ "${1:-all}" != export ]; then
  "$S/corpus.sh" "$B"
  "$PY" "$S/tokenizer.py" train --corpus "$B/kjv.txt" --vocab-size 2048 --out "$B/tokenizer.json"
  "$PY" "$S/train.py" --corpus "$B/kjv.txt" --tokenizer "$B/tokenizer.json" --out "$B/kjv-small.pt" \
    --n-layer 4 --n-embd 256 --n-head 4 --ctx 256 --batch 16 --steps 800 --lr 2e-3 --max-minutes 25 \
    2>&1 | tee "$B/kjv-small.log"
  "$PY" "$S/train.py" --corpus "$B/kjv.txt" --tokenizer "$B/tokenizer.json" --out "$B/kjv-tiny.pt" \
    --n-layer 2 --n-embd 64 --n-head 2 --ctx 256 --batch 16 --steps 700 --lr 5e-3 --max-minutes 5 \
    2>&1 | tee "$B/kjv-tiny.log"
fi

"$PY" "$S/export.py" --checkpoint "$B/kjv-small.pt" --tokenizer "$B/tokenizer.json" --name kjv-small --out-dir models/kjv-small
"$PY" "$S/export.py" --checkpoint "$B/kjv-tiny.pt" --tokenizer "$B/tokenizer.json" --name kjv-tiny --out-dir models/kjv-tiny
"$PY" "$S/llama_tiny.py" --tokenizer "$B/tokenizer.json" --out-dir test/fixtures/models/llama-tiny --checkpoint "$B/llama-tiny.pt"
node "$S/real-exports.mjs" test/fixtures/models/llama-tiny test/fixtures/models
"$PY" "$S/expected.py" --build "$B" --out test/fixtures/models/expected-greedy.json

node "$S/check-tokenizer.mjs" models/kjv-small/tokenizer.json "$B/kjv.txt"
node "$S/check-onnx.mjs" test/fixtures/models/expected-greedy.json
du -cb models test/fixtures/models | tail -1
