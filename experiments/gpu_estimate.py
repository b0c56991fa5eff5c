"""How long would a preset train on a GPU? An estimate on paper, from the CPU benchmark.

The benchmark (``python -m dreamer_lite.bench --preset P --json FILE``) counts the GFLOP and the
kernels of one update from its traced graph and times an env step. A run of ``total_steps`` env
steps makes ``pretrain`` world-model updates and ``updates_due(total_steps)`` full updates, and
steps the env ``total_steps`` times on the CPU, one step after another with the updates:

    hours = (pretrain * t(pretrain_step) + updates * t(train_step) + total_steps * t(env)) / 3600
    t(update) = max(GFLOP / (peak * efficiency), kernels * launch)

``peak`` is the GPU's published dense peak for the precision (NVIDIA's data sheets), ``efficiency``
the share of it an update reaches (two values bracket it: 0.5, about what the gpu preset's
update reached of this CPU's bfloat16 peak, 57%, and 0.25), ``launch`` the host's cost per kernel (8 us, a typical figure for
TensorFlow graphs on a GPU), ``t(env)`` the wrapped env step measured on the CPU (highway-env
simulates and draws on the CPU whatever the accelerator), plus ``agent.act`` taken as 5 ms.

    python experiments/gpu_estimate.py experiments/results/bench/gpu_preset_on_cpu.json \
        experiments/results/bench/cpu_vs_e4eda8a.json

Prints one table per benchmark file and writes experiments/results/bench/gpu_estimate.txt.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dreamer_lite.config import make_config
from dreamer_lite.train import updates_due

# Dense peaks in TFLOP/s from NVIDIA's data sheets; None: the precision has no tensor-core path.
GPUS = {
    "Colab T4 (Turing)": {"float32": 8.1, "mixed_bfloat16": None},
    "Colab L4 (Ada)": {"float32": 30.3, "mixed_bfloat16": 121.0},
    "Colab A100 40 GB": {"float32": 19.5, "mixed_bfloat16": 312.0},
    "H100 SXM": {"float32": 67.0, "mixed_bfloat16": 989.0},
}
EFFICIENCIES = (0.5, 0.25)
LAUNCH_S = 8e-6  # host time per kernel
ACT_S = 5e-3  # agent.act on a GPU, per env step
HERE = Path(__file__).parent


def update_seconds(gflop: float, kernels: int, tflops: float, efficiency: float) -> float:
    """max(compute time at ``efficiency`` of the peak, kernel-launch time)."""
    return max(gflop / (tflops * 1e3 * efficiency), kernels * LAUNCH_S)


def estimate(bench: dict) -> list[str]:
    """Lines of a table: hours of a full run of the benchmark's preset on each GPU."""
    config = make_config(bench["preset"])
    run = bench["runs"][-1]  # "this tree" (a --compare file lists the other revision first)
    env_s = run["median_s"]["wrapped_env_step"] + ACT_S
    updates = updates_due(config.total_steps, config)
    collect_h = config.total_steps * env_s / 3600
    lines = [f"preset {bench['preset']}: {config.total_steps:,} env steps, {config.pretrain:,} "
             f"pretraining + {updates:,} full updates; {run['gflop']['train_step']:.0f} GFLOP and "
             f"{run['kernels']['train_step']:,} kernels per full update; env step "
             f"{1e3 * run['median_s']['wrapped_env_step']:.0f} ms + act {1e3 * ACT_S:.0f} ms "
             f"= {collect_h:.2f} h of collection",
             f"{'GPU':<20} {'precision':<16} {'peak TFLOP/s':>12} "
             + " ".join(f"{f'hours at {e:.0%}':>14}" for e in EFFICIENCIES)]
    for gpu, peaks in GPUS.items():
        for precision, tflops in peaks.items():
            if tflops is None:
                continue
            hours = []
            for efficiency in EFFICIENCIES:
                update_h = (config.pretrain * update_seconds(run["gflop"]["pretrain_step"],
                                                             run["kernels"]["pretrain_step"], tflops, efficiency)
                            + updates * update_seconds(run["gflop"]["train_step"],
                                                       run["kernels"]["train_step"], tflops, efficiency)) / 3600
                hours.append(update_h + collect_h)
            lines.append(f"{gpu:<20} {precision:<16} {tflops:>12.1f} "
                         + " ".join(f"{h:>14.1f}" for h in hours))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bench_json", nargs="+", help="files written by dreamer_lite.bench --json")
    parser.add_argument("--out", default=str(HERE / "results/bench/gpu_estimate.txt"))
    args = parser.parse_args()
    text = "\n\n".join("\n".join(estimate(json.loads(Path(p).read_text()))) for p in args.bench_json)
    print(text)
    Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
