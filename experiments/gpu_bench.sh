#!/usr/bin/env bash
# The gpu preset on a GPU, in under 8 minutes (issue 19): the benchmark of dreamer_lite/bench.py
# at --quick size, in float32 and in mixed bfloat16, against the same-run matmul peak.
#
#     bash experiments/gpu_bench.sh [OUTDIR]     # default experiments/results/gpu_bench
#
# Needs the package's requirements with a CUDA build of TensorFlow. Each run traces the gpu
# preset's updates (about a minute of CPU), then times them; each is capped at 210 s.
# bfloat16 needs an Ampere or newer GPU (A100, H100, L4); on a T4 the float32 run is the one.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-experiments/results/gpu_bench}
mkdir -p "$out"
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
unset SDL_VIDEODRIVER  # "dummy" blanks every highway-env frame

nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv | tee "$out/gpu.csv"
python -c "import tensorflow as tf; assert tf.config.list_physical_devices('GPU'), 'TensorFlow sees no GPU'"
for precision in float32 mixed_bfloat16; do
    echo "== precision $precision"
    timeout 210 python -m dreamer_lite.bench --preset gpu --quick --set precision=$precision \
        --json "$out/$precision.json" | tee "$out/$precision.txt" || echo "precision $precision: failed or timed out"
done
