"""Figures the book and the closing notes reuse: learning curves, curves against compute, image
grids, GIFs."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

CURVES = (("mean_return", "return (eval)"), ("crash_rate", "crash rate"),
          ("mean_speed", "speed (m/s)"), ("car_error_ratio", "car-pixel error ratio"))


def load_baselines(directory) -> dict[str, dict]:
    """{policy: evaluation dict} from the ``*.json`` files ``evaluate --json`` wrote."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(Path(directory).glob("*.json"))}


def run_colours(names) -> dict:
    """One distinct colour per run: matplotlib's ten-colour cycle, or tab20 for more runs."""
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


BASELINE_STYLES = (":", "--", "-.", (0, (1, 3)))  # black, one line style per baseline policy


def learning_curves(runs: dict[str, pd.DataFrame], baselines: dict[str, dict] | None = None):
    """Evaluation curves of one or more runs (name -> eval.csv as a DataFrame).

    Top row against env steps, bottom row against wall-clock hours; return, crash rate,
    speed and car-pixel error ratio, with the baselines as black horizontal lines. The legend
    sits to the right of the panels.
    """
    colours = run_colours(list(runs))
    fig, axes = plt.subplots(2, len(CURVES), figsize=(4 * len(CURVES), 6), sharey="col")
    for row, (x_key, x_label, x_scale) in enumerate((("env_step", "env steps", 1.0),
                                                     ("wall_s", "wall clock (h)", 1 / 3600))):
        for col, (key, label) in enumerate(CURVES):
            ax = axes[row, col]
            for name, frame in runs.items():
                y = frame[key]
                ax.plot(frame[x_key] * x_scale, y, marker=".", color=colours[name], label=name)
                if key == "mean_return" and "stderr_return" in frame:
                    ax.fill_between(frame[x_key] * x_scale, y - frame["stderr_return"],
                                    y + frame["stderr_return"], color=colours[name], alpha=0.15)
            for (policy, result), style in zip((baselines or {}).items(), BASELINE_STYLES):
                if key in result:
                    ax.axhline(result[key], color="black", ls=style, lw=1, label=f"{policy} policy")
            ax.set_xlabel(x_label)
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="center left",
               bbox_to_anchor=(1.0, 0.5), fontsize=8)
    return fig


def evaluations_by_length(results, names) -> pd.DataFrame:
    """One row per record in ``results``: where its run stood (env steps, updates, wall-clock
    hours, from progress.json) and its 200-episode evaluation on seeds 3000-3199."""
    rows = {}
    for name in names:
        evaluation = json.loads((Path(results) / name / "evaluation_200ep_seed3000.json").read_text())
        progress = json.loads((Path(results) / name / "progress.json").read_text())
        rows[name] = {"env_step": progress["env_steps"], "updates": progress["updates"],
                      "hours": progress["wall_s"] / 3600,
                      **{key: evaluation[key] for key in ("mean_return", "stderr_return", "crash_rate",
                                                          "mean_speed", "car_error_ratio")}}
    return pd.DataFrame(rows).T.sort_values("env_step")


def against_compute(curves: dict[str, pd.DataFrame], references: dict[str, dict], bar: dict[str, float],
                    bar_label: str = "the bar"):
    """Return, crash rate and speed of runs recorded at several lengths (name -> the rows of
    :func:`evaluations_by_length`) against env steps: return with its standard error, the
    reference evaluations as black horizontal lines, each line of ``bar`` (keyed like the
    evaluations) dotted in green and named ``bar_label``. The legend sits under the panels."""
    keys = [(key, label) for key, label in CURVES if key in bar]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.6 * len(keys), 3.4))
    colours = run_colours(list(curves))
    for ax, (key, label) in zip(axes, keys):
        for name, curve in curves.items():
            errors = curve["stderr_return"] if key == "mean_return" else None
            ax.errorbar(curve["env_step"], curve[key], yerr=errors, marker="o", capsize=3,
                        color=colours[name], label=name)
        for (policy, result), style in zip(references.items(), ("-", *BASELINE_STYLES)):
            ax.axhline(result[key], color="black", ls=style, lw=1, label=policy)
        ax.axhline(bar[key], color="tab:green", ls=":", lw=2, label=bar_label)
        ax.set_xlabel("env steps")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=3, fontsize=8)
    return fig


def image_grid(rows: dict[str, np.ndarray], title: str = ""):
    """Frames side by side: {row name: (T, H, W[, 1]) in [0, 1]} -> one row per entry."""
    names = list(rows)
    steps = min(len(frames) for frames in rows.values())
    height, width = np.asarray(rows[names[0]]).shape[1:3]
    fig, axes = plt.subplots(len(names), steps, squeeze=False,
                             figsize=(steps * width / 40, len(names) * height / 40 + 0.6))
    for r, name in enumerate(names):
        for t in range(steps):
            ax = axes[r, t]
            ax.imshow(np.asarray(rows[name][t]).squeeze(), cmap="gray", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if t == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def save_gif(frames: np.ndarray, path, scale: int = 3, fps: int = 4) -> Path:
    """Write frames (T, H, W[, 1]), uint8 or floats in [0, 1], as an upscaled looping GIF."""
    import imageio.v2 as imageio

    frames = np.asarray(frames).squeeze(-1) if np.asarray(frames).ndim == 4 else np.asarray(frames)
    if frames.dtype != np.uint8:
        frames = (np.clip(frames, 0, 1) * 255).astype(np.uint8)
    frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    imageio.mimsave(path, list(frames), duration=1 / fps, loop=0)
    return Path(path)
