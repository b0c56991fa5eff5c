#!/usr/bin/env bash
# Screenshots of built book pages with MathJax typesetting from a local copy (for machines that
# cannot reach the CDN), to look at the equations:
#   npm install --prefix /tmp/mj mathjax@3      # once
#   jb build . -W -n --keep-going
#   MATHJAX=/tmp/mj/node_modules/mathjax bash tests/screenshot_pages.sh OUT_DIR book/04_rssm book/05_kl_balancing
# Writes OUT_DIR/<page>.png (1280 px wide, HEIGHT px tall, default 6000).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "$1"); shift
mathjax=$(realpath "${MATHJAX:?set MATHJAX to the mathjax package folder (with es5/)}")
copy=$(mktemp -d)
cp -r _build/html "$copy/html"
mkdir -p "$out"
for page in "$@"; do
  html="$copy/html/$page.html"
  sed -i "s#https://cdn.jsdelivr.net/npm/mathjax@3/es5/#file://$mathjax/es5/#g" "$html"
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d)" --allow-file-access-from-files --virtual-time-budget=15000 \
    --hide-scrollbars --window-size=1280,"${HEIGHT:-6000}" \
    --screenshot="$out/$(basename "$page").png" "file://$html" 2>/dev/null
  echo "$out/$(basename "$page").png"
done
rm -rf "$copy"
