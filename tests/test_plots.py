"""The book's learning curves: every run readable, baselines drawn."""

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba

from dreamer_lite.plots import learning_curves


def fake_eval(offset: float) -> pd.DataFrame:
    steps = np.arange(1, 5) * 2500
    return pd.DataFrame({"env_step": steps, "wall_s": steps / 5.0, "mean_return": 20 + offset + 0 * steps,
                         "stderr_return": 0.2 + 0 * steps, "crash_rate": 0.1 + 0 * steps,
                         "mean_speed": 21.0 + 0 * steps, "car_error_ratio": 0.1 + 0 * steps})


def test_twelve_runs_get_twelve_colours_and_the_baselines_are_drawn():
    runs = {f"run-{i}": fake_eval(i / 10) for i in range(12)}
    baselines = {"idle": {"mean_return": 12.4, "crash_rate": 0.9}, "slower": {"mean_return": 21.1}}
    fig = learning_curves(runs, baselines)
    for ax in fig.axes:
        run_lines = [line for line in ax.get_lines() if line.get_label().startswith("run-")]
        assert len(run_lines) == 12
        assert len({to_rgba(line.get_color()) for line in run_lines}) == 12  # no colour used twice
    return_panel = fig.axes[0]
    levels = sorted(line.get_ydata()[0] for line in return_panel.get_lines() if "policy" in line.get_label())
    assert levels == [12.4, 21.1]
    assert [text.get_text() for text in fig.legends[0].get_texts()][-2:] == ["idle policy", "slower policy"]


def test_evaluations_by_length_reads_each_record_and_sorts_by_env_steps(tmp_path):
    import json

    from dreamer_lite.plots import against_compute, evaluations_by_length

    for name, steps, wall_s, mean_return in (("run-40k", 40_000, 5400.0, 22.4), ("run-20k", 20_000, 2700.0, 21.5)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "progress.json").write_text(json.dumps(
            {"env_steps": steps, "updates": steps // 5 - 499, "pretrain_updates": 1000, "wall_s": wall_s}))
        (tmp_path / name / "evaluation_200ep_seed3000.json").write_text(json.dumps(
            {"mean_return": mean_return, "stderr_return": 0.2, "crash_rate": 0.05, "mean_speed": 21.0,
             "car_error_ratio": 0.08, "episodes": 200, "seed": 3000}))
    curve = evaluations_by_length(tmp_path, ["run-40k", "run-20k"])
    assert list(curve.index) == ["run-20k", "run-40k"]
    assert curve.loc["run-40k", "hours"] == 1.5 and curve.loc["run-20k", "updates"] == 3501
    assert curve.loc["run-20k", "mean_return"] == 21.5

    bar = {"mean_return": 24.0, "crash_rate": 0.03, "mean_speed": 23.0}
    fig = against_compute({"run": curve}, {"scripted": {"mean_return": 23.2, "crash_rate": 0.065, "mean_speed": 23.5}}, bar)
    assert len(fig.axes) == 3
    for ax, key in zip(fig.axes, bar):
        levels = sorted(line.get_ydata()[0] for line in ax.get_lines() if line.get_label() in ("the bar", "scripted"))
        assert levels == sorted([bar[key], {"mean_return": 23.2, "crash_rate": 0.065, "mean_speed": 23.5}[key]])
