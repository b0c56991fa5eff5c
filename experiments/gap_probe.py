"""Does the world model know the gap to the car ahead precisely enough to foresee a crash?

The trained agents crash in one way above all (the crash anatomy): at 20 m/s, the lowest target
speed, behind a car at about 19 m/s, the gap between the two centres closes by about a metre per
step until it reaches 5 m, a car's length. A dream that foresees that crash one step ahead must
know the gap to about a metre, and a metre is 1.6 pixels of the frame. This probe drives held-out
episodes with the run's greedy policy and, at every step with a car ahead in the ego's lane within
``--max_gap`` metres, takes:

* the posterior features s_t = (h_t, z_t), which have seen the frame x_t;
* the one-step prior features, from s_{t-1} and a_{t-1} before x_t is seen: the dream's first step;
* the gap between the centres, and the closing speed (the ego's speed minus the other car's).

A ridge regression from posterior features to the gap (and to the closing speed), fitted on the
even episodes and scored on the odd ones, says how precisely the model's state holds it; the same
weights on the prior's features say how precisely the first dreamed step predicts it.

    python experiments/gap_probe.py --run runs/cpu-n --episodes 100 --seed 9000 [--driver idle]

``--driver agent`` (the default) drives with the run's greedy policy, which keeps its distance, so
few steps come close to a car; ``--driver idle`` holds the starting speed and lane (always IDLE)
and runs up on slower cars, as the crashes do, while the run's world model watches.

Writes experiments/results/gap_probe/NAME.json (NAME defaults to the run's name).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from dreamer_lite.environment import make_env
from dreamer_lite.evaluate import AgentPolicy, FixedPolicy, load_agent
from dreamer_lite.rssm import features

from common import drive, write_result  # experiments/ is on the path when this script runs
from crash_anatomy import observe
from speed_probe import ridge_fit, with_bias


def one_step_priors(world_model, batch, post):
    """Prior states for rows 1..n: img_step(s_{t-1}, a_{t-1}), every row in one batch."""
    previous = tf.nest.map_structure(lambda x: x[0, :-1], post)  # (n, ...) states of rows 0..n-1
    return world_model.rssm.img_step(previous, batch.action[0, 1:])  # a_{t-1} sits on row t


def collect(agent, env, seeds, max_gap: float, policy) -> dict:
    """Per step with a car ahead closer than ``max_gap``: episode, gap, closing speed, features."""
    rows = {"episode": [], "gap": [], "closing": [], "post": [], "prior": []}
    for index, seed in enumerate(seeds):
        episode = drive(env, policy, seed)
        batch, post = observe(agent.world_model, episode)
        post_features = features(post)[0].numpy()  # (n + 1, F)
        prior_features = features(one_step_priors(agent.world_model, batch, post)).numpy()  # (n, F): rows 1..n
        for t, step in enumerate(episode["steps"]):  # step t was recorded while frame t was shown
            if t == 0 or step["lead"] is None or step["lead"][0] >= max_gap:
                continue
            gap, lead_speed = step["lead"]
            rows["episode"].append(index)
            rows["gap"].append(gap)
            rows["closing"].append(step["speed"] - lead_speed)
            rows["post"].append(post_features[t])
            rows["prior"].append(prior_features[t - 1])
    return {key: np.asarray(value) for key, value in rows.items()}


def probe(data: dict, target: str, penalties=(1.0, 10.0, 100.0)) -> dict:
    """Ridge from posterior features to ``target``: fit on even episodes, score posterior and
    one-step prior features on the odd ones (the penalty that scores best on the posterior)."""
    train, test = data["episode"] % 2 == 0, data["episode"] % 2 == 1
    y = data[target]

    def scores(weights, key, chosen):
        residual = y[chosen] - with_bias(data[key][chosen]) @ weights
        return {"rmse": float(np.sqrt(np.mean(residual ** 2))), "mae": float(np.abs(residual).mean()),
                "r2": float(1 - np.mean(residual ** 2) / y[chosen].var())}

    fits = {penalty: ridge_fit(data["post"][train], y[train], penalty) for penalty in penalties}
    penalty = min(fits, key=lambda p: scores(fits[p], "post", test)["rmse"])
    near = test & (data["gap"] < 10.0)  # the last metres before a rear-end crash
    return {"penalty": penalty, "test_steps": int(test.sum()), "std": float(y[test].std()),
            "posterior": scores(fits[penalty], "post", test), "prior": scores(fits[penalty], "prior", test),
            "near_steps": int(near.sum()),
            "posterior_near": scores(fits[penalty], "post", near) if near.sum() > 1 else None,
            "prior_near": scores(fits[penalty], "prior", near) if near.sum() > 1 else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="a run folder (config.json, checkpoint.npz)")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=9000)
    parser.add_argument("--max_gap", type=float, default=30.0)
    parser.add_argument("--driver", choices=("agent", "idle"), default="agent")
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    tf.random.set_seed(args.seed)  # posterior and prior latents are sampled
    agent, config = load_agent(args.run)
    policy = AgentPolicy(agent, greedy=True) if args.driver == "agent" else FixedPolicy(1)
    data = collect(agent, make_env(config), range(args.seed, args.seed + args.episodes), args.max_gap, policy)
    result = {"run": args.run, "driver": args.driver, "episodes": args.episodes, "seed": args.seed,
              "max_gap": args.max_gap,
              "scaling_px_per_m": config.scaling, "steps": len(data["gap"]),
              "gap": probe(data, "gap"), "closing": probe(data, "closing")}
    write_result("gap_probe", args.name or Path(args.run).name, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
