"""Does a trained world model know how fast the ego drives?

The reward pays 0.4 * (speed - 20) / 10 (mapped to [0, 1]: 0.267 per unit of speed fraction), so
a world model that cannot tell 25 m/s from 20 m/s cannot tell IDLE from SLOWER. Speed is hard to
see in one frame: only the lane marks and the other cars move, and at one frame per second the
dashed marks alias. This probe drives uniformly random episodes (speeds 20-30 m/s) through a
trained run's world model and reports, per step:

* a ridge regression from the posterior features s_t = (h_t, z_t) to the ego's speed, fitted on
  half of the episodes and scored (R^2, mean absolute error) on the other half;
* the reward head's prediction from the posterior and from the one-step prior, against the true
  reward, binned by the ego's speed;
* the open-loop dream against the real road: after 3 IDLE steps, 15 steps of IDLE (or SLOWER),
  the reward head's prediction at each dreamed step next to the real reward and speed.

    python experiments/speed_probe.py --run runs/cpu-b --episodes 60 --seed 8000
    python experiments/speed_probe.py --run runs/cpu-b --name NAME --finetune 500 --set reward_scale=30

``--finetune U`` first continues the run's world model alone for U updates on the run's replay
(needs the full checkpoint and episodes/ of a training run), with world-model loss keys changed
by ``--set``. Writes experiments/results/speed_probe/NAME.json (NAME defaults to the run's name).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from dreamer_lite.agent import Agent
from dreamer_lite.config import ConfigError, load_config, parse_override
from dreamer_lite.environment import NUM_ACTIONS, make_env
from dreamer_lite.evaluate import load_agent
from dreamer_lite.replay import Replay
from dreamer_lite.runs import load_checkpoint
from dreamer_lite.rssm import features

from common import write_result  # experiments/ is on the path when this script runs

MODEL_LOSS_KEYS = {"reward_scale", "continue_scale", "kl_scale", "free_nats", "model_lr"}


def finetuned_agent(run: Path, updates: int, overrides: dict):
    """The run's agent after ``updates`` more world-model-only updates on its replay."""
    unknown = sorted(set(overrides) - MODEL_LOSS_KEYS)
    if unknown:
        raise ConfigError(f"{unknown} are not world-model loss keys; allowed: {sorted(MODEL_LOSS_KEYS)}")
    config = dataclasses.replace(load_config(run / "config.json"), **overrides)
    agent = Agent(config, NUM_ACTIONS)
    load_checkpoint(agent, run / "checkpoint.npz")
    replay = Replay(run / "episodes", config.seq_len, NUM_ACTIONS, seed=config.seed)
    tf.random.set_seed(config.seed)
    start = time.time()
    for update in range(1, updates + 1):
        metrics = agent.pretrain_step(replay.sample(config.batch_size))
        if update % 100 == 0:
            print(f"finetune {update}/{updates}: reward mae {float(metrics['wm/reward_mae']):.4f}, "
                  f"image mse {float(metrics['wm/image_mse']):.5f} "
                  f"({(time.time() - start) / update:.2f} s/update)", flush=True)
    return agent, config


def drive_and_watch(agent, env, seeds, rng) -> dict:
    """Random actions; per step the speed, true reward, posterior features and reward predictions."""
    wm, rows = agent.world_model, {"episode": [], "speed": [], "reward": [], "post_reward": [],
                                   "prior_reward": [], "features": []}
    for episode, seed in enumerate(seeds):
        frame, _ = env.reset(seed=seed)
        state, prev_action = agent.initial_policy_state()
        state = wm.observe_step(state, prev_action, frame[None], frame[None], tf.constant([1.0]))
        done = False
        while not done:
            action = tf.one_hot([int(rng.integers(NUM_ACTIONS))], NUM_ACTIONS)
            prev_frame = frame
            frame, reward, terminated, truncated, info = env.step(int(np.argmax(action[0])))
            prior = wm.rssm.img_step(state, action)
            state = wm.observe_step(state, action, prev_frame[None], frame[None], tf.constant([0.0]))
            rows["episode"].append(episode)
            rows["speed"].append(float(info["speed"]))
            rows["reward"].append(float(reward))
            rows["post_reward"].append(float(wm.reward_dist(features(state)).mean()[0]))
            rows["prior_reward"].append(float(wm.reward_dist(features(prior)).mean()[0]))
            rows["features"].append(features(state)[0].numpy())
            done = terminated or truncated
    return {key: np.asarray(value) for key, value in rows.items()}


def with_bias(x: np.ndarray) -> np.ndarray:
    return np.hstack([x, np.ones((len(x), 1))])


def ridge_fit(x: np.ndarray, y: np.ndarray, penalty: float) -> np.ndarray:
    """Weights w of min |[x, 1] w - y|^2 + penalty |w|^2 (the bias is penalised too)."""
    x1 = with_bias(x)
    return np.linalg.solve(x1.T @ x1 + penalty * np.eye(x1.shape[1]), x1.T @ y)


def speed_probe(data: dict, penalties=(1.0, 10.0, 100.0, 1e3)) -> tuple[dict, np.ndarray]:
    """Fit speed from features on even episodes, score on odd ones, for every ridge penalty.
    Returns the scores and the weights refitted on all steps with the best penalty."""
    x, y = data["features"], data["speed"]  # features: h in [-1, 1], z one-hot; not rescaled
    train, test = data["episode"] % 2 == 0, data["episode"] % 2 == 1
    scores = []
    for penalty in penalties:
        weights = ridge_fit(x[train], y[train], penalty)
        residual = y[test] - with_bias(x[test]) @ weights
        scores.append({"penalty": penalty, "r2": float(1 - np.mean(residual ** 2) / y[test].var()),
                       "mae": float(np.abs(residual).mean())})
    best = max(scores, key=lambda score: score["r2"])["penalty"]
    return ({"speed_std": float(y[test].std()), "test_steps": int(test.sum()), "by_penalty": scores},
            ridge_fit(x, y, best))


def reward_by_speed(data: dict) -> list[dict]:
    """Mean true reward and reward-head predictions per speed bin (steps that did not crash)."""
    rows, alive = [], data["reward"] > 0.1  # a crash step pays about 0
    for low, high in [(19, 22), (22, 24), (24, 26), (26, 28), (28, 31)]:
        chosen = alive & (data["speed"] >= low) & (data["speed"] < high)
        if chosen.any():
            rows.append({"speed": f"{low}-{high}", "steps": int(chosen.sum()),
                         "true": float(data["reward"][chosen].mean()),
                         "posterior": float(data["post_reward"][chosen].mean()),
                         "prior": float(data["prior_reward"][chosen].mean())})
    return rows


def dream_vs_road(agent, env, seeds, action: int, speed_weights, lead: int = 3,
                  horizon: int = 15) -> list[dict]:
    """After ``lead`` IDLE steps, ``horizon`` steps of ``action``: per step k, the reward head's
    prediction in the open-loop dream next to the real reward and speed (cars still alive), and
    the speed that the ridge probe reads from the dreamed features."""
    wm, one_hot = agent.world_model, tf.one_hot([action], NUM_ACTIONS)
    dream, real, speed, dream_speed = np.full((4, len(seeds), horizon), np.nan)  # (episode, step)
    for row, seed in enumerate(seeds):
        frame, _ = env.reset(seed=seed)
        state, prev_action = agent.initial_policy_state()
        state = wm.observe_step(state, prev_action, frame[None], frame[None], tf.constant([1.0]))
        for _ in range(lead):
            prev_frame = frame
            frame, _, crashed, _, _ = env.step(1)
            state = wm.observe_step(state, tf.one_hot([1], NUM_ACTIONS), prev_frame[None], frame[None],
                                     tf.constant([0.0]))
        if crashed:
            continue
        imagined, alive = state, True
        for k in range(horizon):
            imagined = wm.rssm.img_step(imagined, one_hot)
            dream[row, k] = float(wm.reward_dist(features(imagined)).mean()[0])
            dream_speed[row, k] = float((with_bias(features(imagined).numpy()) @ speed_weights)[0])
            if alive:
                _, reward, terminated, truncated, info = env.step(action)
                real[row, k], speed[row, k] = reward, info["speed"]
                alive = not (terminated or truncated)
    return [{"step": k + 1, "dream reward": float(np.nanmean(dream[:, k])),
             "real reward": float(np.nanmean(real[:, k])), "real speed": float(np.nanmean(speed[:, k])),
             "dream speed (probe)": float(np.nanmean(dream_speed[:, k])),
             "real alive": int(np.sum(~np.isnan(real[:, k])))} for k in range(horizon)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", required=True)
    parser.add_argument("--episodes", type=int, default=60)
    parser.add_argument("--seed", type=int, default=8000)
    parser.add_argument("--name", default=None)
    parser.add_argument("--finetune", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[])
    args = parser.parse_args()
    if args.finetune:
        agent, config = finetuned_agent(Path(args.run), args.finetune, dict(parse_override(t) for t in args.set))
    else:
        agent, config = load_agent(args.run)
    data = drive_and_watch(agent, make_env(config), range(args.seed, args.seed + args.episodes),
                           np.random.default_rng(args.seed))
    result = {"run": args.run, "finetune": args.finetune, "set": args.set, "episodes": args.episodes, "steps": len(data["speed"]),
              "reward_by_speed": reward_by_speed(data)}
    result["speed_probe"], speed_weights = speed_probe(data)
    dream_seeds = range(args.seed + args.episodes, args.seed + args.episodes + 40)
    for action, name in [(1, "IDLE"), (4, "SLOWER")]:
        result[f"dream_vs_road_{name}"] = dream_vs_road(agent, make_env(config), dream_seeds, action,
                                                       speed_weights)
    write_result("speed_probe", args.name or Path(args.run).name, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
