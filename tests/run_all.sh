#!/usr/bin/env bash
# The whole test suite, as CI runs it: unit tests, every notebook (nbval), the strict book
# build, then the checks on the built HTML.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=3
unset SDL_VIDEODRIVER  # =dummy blanks every highway-env frame
start=$(date +%s)
python3 -m pytest -q tests --ignore=tests/test_book_html.py
python3 -m pytest -q --nbval-lax --nbval-current-env book/
rm -rf _build
jb build . -W -n --keep-going
REQUIRE_BOOK_BUILD=1 python3 -m pytest -q tests/test_book_html.py
echo "test suite finished in $(( $(date +%s) - start )) s"
