#!/usr/bin/env bash
# Extracts the World English Bible (public domain; Debian package sword-text-web) to plain
# UTF-8 text at data/corpus/web.txt: SWORD markup, notes and headings removed. Idempotent.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir="${SPARSESCALE_DATA_DIR:-$repo/data}/corpus"
out="$out_dir/web.txt"
if [ -s "$out" ]; then
  echo "corpus: $out already present ($(wc -c <"$out") bytes)"
  exit 0
fi
mkdir -p "$out_dir"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
mod2imp engWEB2015eb >"$tmp" 2>/dev/null
grep -v '^\$\$\$' "$tmp" \
  | sed -e 's/<note[^>]*>[^<]*<\/note>//g' -e 's/<[^>]*>//g' -e 's/  */ /g' -e 's/^ //' \
  | grep -v '^$' >"$out.partial"
mv "$out.partial" "$out"
echo "corpus: wrote $out ($(wc -c <"$out") bytes)"
