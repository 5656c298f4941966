#!/bin/sh
# Writes the training corpus: the King James Bible (public domain) as plain
# ASCII, one verse per line (verse numbers dropped), chapters separated by an
# empty line. Deterministic: the text comes from Debian's `bible-kjv` package.
#
#   apt-get install -y bible-kjv
#   scripts/model/corpus.sh [OUT_DIR]     # default: build/model
#
# Output: OUT_DIR/kjv.txt (about 4.2 MB, 1,189 chapters, 31,102 verses).
set -eu
out="${1:-${MODEL_BUILD:-build/model}}"
mkdir -p "$out"
command -v bible >/dev/null || { echo "corpus.sh: install Debian's bible-kjv" >&2; exit 1; }

# -l100000: no line wrapping, so each verse is one line "  N text".
# Any other non-empty line is a chapter heading ("Genesis 1").
bible -l100000 'gen1:1-rev22:21' | awk '
  /^ +[0-9]+ / { sub(/^ +[0-9]+ /, ""); print; n++; next }
  /^$/ { next }
  { if (n) print "" }
' > "$out/kjv.txt.tmp"
mv "$out/kjv.txt.tmp" "$out/kjv.txt"

verses=$(grep -c . "$out/kjv.txt")
[ "$verses" -eq 31102 ] || { echo "corpus.sh: expected 31102 verses, got $verses" >&2; exit 1; }
echo "corpus: $out/kjv.txt $(wc -c < "$out/kjv.txt") bytes, $verses verses, sha256 $(sha256sum "$out/kjv.txt" | cut -d' ' -f1)"
