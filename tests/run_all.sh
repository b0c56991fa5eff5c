#!/usr/bin/env bash
# The whole test suite, as CI runs it: unit tests, every chapter twice (as a reader's Colab "Run
# all": tags ignored, no solutions; then nbval with the solutions), the strict book build, then
# the checks on the built HTML.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=3
export CI=true            # chapter 9 trains the smoke preset, not a short cpu run
unset SDL_VIDEODRIVER     # =dummy blanks every highway-env frame
start=$(date +%s)
lap() { echo "[run_all] $1 done at $(( $(date +%s) - start )) s"; }
# Two pytest workers (pytest-xdist) keep both cores busy: one process alone leaves a core idle
# while it waits on Python, the environment or a kernel. On a 2-core machine the suite took 19 min
# on two workers, where it had taken 33 min on one.
# The unit tests and the Colab run (every chapter in a fresh kernel, tags ignored, no solutions)
# share the workers test by test (a worker that runs out takes pending tests from the other).
env -u DREAMER_LITE_SOLUTIONS COLAB_RUN_ALL=1 python3 -m pytest -q -n 2 --dist worksteal --durations=15 \
    tests --ignore=tests/test_book_html.py
lap "unit tests and Colab run-all"
# nbval runs every cell (no chapter carries a tag that changes execution; tests/test_notebooks.py
# checks that) with the solutions in place of the stubs, so every exercise check runs for real.
# --dist loadscope gives each worker whole chapters: a chapter's cells share one kernel, in order.
DREAMER_LITE_SOLUTIONS=1 python3 -m pytest -q -n 2 --dist loadscope --durations=5 --nbval-lax --nbval-current-env book/
lap "nbval"
rm -rf _build
jb build . -W -n --keep-going
REQUIRE_BOOK_BUILD=1 python3 -m pytest -q tests/test_book_html.py
lap "book build and HTML checks"
echo "test suite finished in $(( $(date +%s) - start )) s"
