#!/usr/bin/env bash
# Record a finished training run for the book, the same way for every run:
#
#     bash experiments/record_run.sh runs/NAME [--weights] [--as RECORD]
#
# 1. exports its record (config, logs, progress, starts.jsonl) to book/results/NAME, with its
#    weights-only checkpoint only when --weights is given (the repository keeps one agent's
#    weights), and copies the training log runs/NAME.log, if there is one, as train.log;
# 2. evaluates it on 200 fresh episodes, seeds 3000-3199 (the seeds of chapter 9's table):
#    book/results/NAME/evaluation_200ep_seed3000.json;
# 3. runs the crash anatomy on the same 200 episodes:
#    experiments/results/crash_anatomy/NAME-seed3000.json.
#
# --as RECORD records the run under another name (book/results/RECORD, RECORD-seed3000.json): a
# run continued with --resume and --set total_steps=N is recorded at each length it reaches,
# for example as NAME-40k, while runs/NAME keeps its checkpoint for the next leg.
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: bash experiments/record_run.sh runs/NAME [--weights] [--as RECORD]"
run=${1:?$usage}
shift
name=$(basename "$run")
weights=no
while [ $# -gt 0 ]; do
    case "$1" in
        --weights) weights=yes; shift ;;
        --as) name=${2:?$usage}; shift 2 ;;
        *) echo "unknown option $1; $usage" >&2; exit 2 ;;
    esac
done
out=book/results/$name
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

python -m dreamer_lite.export --logdir "$run" --out "$out"
if [ "$weights" = no ]; then rm "$out/checkpoint.npz"; fi
if [ -f "$run.log" ]; then cp "$run.log" "$out/train.log"; fi
python -m dreamer_lite.evaluate --logdir "$run" --episodes 200 --seed 3000 \
    --json "$out/evaluation_200ep_seed3000.json"
python experiments/crash_anatomy.py --run "$run" --episodes 200 --seed 3000 --name "$name-seed3000"
