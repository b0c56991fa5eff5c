"""Figures the book and the closing notes reuse: learning curves, image grids, GIFs."""

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
