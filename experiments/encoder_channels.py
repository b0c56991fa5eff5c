"""How much does a two-frame encoder (``encoder_frames=2``) read the frame before the current one?

The first convolution's kernel, (4, 4, 2, depth), has one slice per input channel: channel 0 sees
x_{t-1}, channel 1 sees x_t. This prints and writes, for each channel, the rms of its slice after
training and in a fresh agent of the same config (the initialisation), and per filter the cosine
between the two slices, trained and initial: near -1 the filter reads x_t - x_{t-1}, what moved.

    python experiments/encoder_channels.py --run runs/cpu-p

Writes experiments/results/encoder_channels/NAME.json (NAME: the run's name).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from dreamer_lite.agent import Agent, seed_everything
from dreamer_lite.environment import NUM_ACTIONS
from dreamer_lite.evaluate import load_agent

from common import write_result  # experiments/ is on the path when this script runs


def first_kernel(agent) -> np.ndarray:
    """The first convolution's kernel, (4, 4, channels, depth)."""
    return agent.world_model.encoder.convs[0].kernel.numpy()


def channel_rms(kernel: np.ndarray) -> list[float]:
    return np.sqrt(np.mean(kernel.astype(float) ** 2, axis=(0, 1, 3))).tolist()


def cosines(kernel: np.ndarray) -> np.ndarray:
    """Per filter, the cosine between its x_(t-1) slice and its x_t slice: (depth,)."""
    before, now = (kernel[:, :, c].reshape(-1, kernel.shape[-1]).astype(float) for c in (0, 1))
    return (before * now).sum(0) / np.linalg.norm(before, axis=0) / np.linalg.norm(now, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="a run folder with encoder_frames=2")
    args = parser.parse_args()
    agent, config = load_agent(args.run)
    if config.encoder_frames != 2:
        raise SystemExit(f"{args.run} has encoder_frames={config.encoder_frames}: nothing to compare")
    seed_everything(config.seed)
    trained, initial = first_kernel(agent), first_kernel(Agent(config, NUM_ACTIONS))
    result = {"run": args.run, "channels": ["x_(t-1)", "x_t"],
              "rms_trained": channel_rms(trained), "rms_initial": channel_rms(initial),
              "cosine_trained": np.round(cosines(trained), 3).tolist(),
              "cosine_initial": np.round(cosines(initial), 3).tolist()}
    write_result("encoder_channels", Path(args.run).name, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
