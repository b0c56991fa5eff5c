"""Which settings let the world model draw the other cars? A world-model-only probe.

Collects random-policy episodes (with the simulator's car masks) once per observation setting,
trains only the world model on them, and reports the car-pixel error ratio on held-out episodes
(squared error on other-car pixels / error of painting them road-grey; 1 = draws no cars).

    python experiments/car_probe.py --name NAME --updates 1500 [--set key=value ...]

Writes experiments/results/car_probe/NAME.csv (one row per evaluation) and prints progress.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from dreamer_lite.config import make_config, parse_override
from dreamer_lite.environment import NUM_ACTIONS, make_env
from dreamer_lite.evaluate import FixedPolicy, car_pixel_errors, road_gray, run_episode
from dreamer_lite.replay import EpisodeRecorder, Replay
from dreamer_lite.world_model import WorldModel

from common import write_csv  # experiments/ is on the path when this script runs

HERE = Path(__file__).parent
ACTION_PROBS = [0.1, 0.3, 0.1, 0.2, 0.3]  # random, tilted toward IDLE/SLOWER so episodes last


class TiltedRandom(FixedPolicy):
    def __call__(self, frame):
        return int(self.rng.choice(NUM_ACTIONS, p=ACTION_PROBS))


def collect(config, steps: int, seed: int) -> list[dict]:
    env, policy, episodes, total = make_env(config), TiltedRandom(None, seed), [], 0
    while total < steps:
        episode = run_episode(env, policy, seed + len(episodes), record=True)
        episodes.append(episode)
        total += episode["length"]
    return episodes


def to_replay(episodes, directory, config) -> Replay:
    replay = Replay(directory, config.seq_len, NUM_ACTIONS, seed=config.seed)
    for episode in episodes:
        recorder = EpisodeRecorder(episode["frames"][0])
        for t, action in enumerate(episode["actions"]):
            recorder.add(int(action), episode["frames"][t + 1], 0.0, False)
        replay.add(recorder.arrays())
    return replay


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--updates", type=int, default=1500)
    parser.add_argument("--eval_every", type=int, default=250)
    parser.add_argument("--train_steps", type=int, default=4000)
    parser.add_argument("--set", nargs="*", default=[])
    args = parser.parse_args()
    config = make_config("cpu", **dict(parse_override(t) for t in args.set))
    tf.random.set_seed(config.seed)
    weights_tag = "_".join(f"{w:g}" for w in config.gray_weights)
    cache = HERE / "cache" / f"s{config.scaling:g}_w{weights_tag}_k{config.supersample}"
    t0 = time.time()
    train_eps, test_eps = collect(config, args.train_steps, 20_000_000), collect(config, 300, 30_000_000)
    replay = to_replay(train_eps, cache / f"{args.name}-{int(time.time())}", config)
    print(f"collected {replay.env_steps} train steps, {len(test_eps)} test episodes in "
          f"{time.time() - t0:.0f}s; car pixels {np.mean([e['masks'].mean() for e in test_eps]):.2%}", flush=True)

    model = WorldModel(config, NUM_ACTIONS)
    step = tf.function(model.train)  # the package's world-model update: (posterior, wm/ metrics)

    out = HERE / "results" / "car_probe"
    out.mkdir(parents=True, exist_ok=True)
    rows, start = [], time.time()
    for update in range(1, args.updates + 1):
        _, metrics = step(replay.sample(config.batch_size))
        if update % args.eval_every == 0:
            errors = car_pixel_errors(model, test_eps, road_gray(config))
            row = {"update": update, "wall_s": round(time.time() - start, 1),
                   "image_mse": float(metrics["wm/image_mse"]), "kl": float(metrics["wm/kl"]), **errors}
            rows.append(row)
            print(f"{args.name} update {update}: car ratio {errors['car_error_ratio']:.3f} "
                  f"image mse {row['image_mse']:.5f} kl {row['kl']:.2f} "
                  f"({(time.time() - start) / update:.2f} s/update)", flush=True)
    write_csv(out / f"{args.name}.csv", rows, " ".join(args.set))


if __name__ == "__main__":
    main()
