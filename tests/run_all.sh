#!/usr/bin/env bash
# The whole test suite, as CI runs it: unit tests, every chapter twice (nbval with the solutions;
# then as a reader's Colab "Run all": tags ignored, no solutions), the strict book build, then the
# checks on the built HTML.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=3
export CI=true            # chapter 9 trains the smoke preset, not a short cpu run
unset SDL_VIDEODRIVER     # =dummy blanks every highway-env frame
start=$(date +%s)
lap() { echo "[run_all] $1 done at $(( $(date +%s) - start )) s"; }
python3 -m pytest -q tests --ignore=tests/test_book_html.py
lap "unit tests"
# nbval runs every cell (no chapter carries a tag that changes execution; tests/test_notebooks.py
# checks that) with the solutions in place of the stubs, so every exercise check runs for real
DREAMER_LITE_SOLUTIONS=1 python3 -m pytest -q --nbval-lax --nbval-current-env book/
lap "nbval"
env -u DREAMER_LITE_SOLUTIONS COLAB_RUN_ALL=1 python3 -m pytest -q tests/test_notebooks.py -k run_all_as_in_colab
lap "Colab run-all"
rm -rf _build
jb build . -W -n --keep-going
REQUIRE_BOOK_BUILD=1 python3 -m pytest -q tests/test_book_html.py
lap "book build and HTML checks"
echo "test suite finished in $(( $(date +%s) - start )) s"
