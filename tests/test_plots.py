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
