"""Evaluation: drive whole episodes and report return, crash rate and speed.

    python -m dreamer_lite.evaluate --logdir RUN --episodes 50 --seed 1000 [--json OUT]
    python -m dreamer_lite.evaluate --policy slower --episodes 30 --seed 1000

The agent drives with its policy's mode (no sampling of actions; its posterior latents are still
sampled, so TensorFlow is seeded with ``--seed`` and the same command gives the same numbers).
``--policy random|idle|slower`` runs the baselines through the same code. Episode i uses env seed
``seed + i``; training episodes use seeds from 10^7 up (see train.py), so any seed below that is
held out.

Returns per run: mean_return, stderr_return (standard error of the mean), crash_rate,
mean_speed (m/s, averaged over every step of every episode), mean_length, episodes; for the
agent also ``car_error_ratio``: the world model's squared error on the other cars' pixels
divided by the error of painting those pixels road-grey (lower is better; 1 = draws no cars).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

from .config import load_config, make_config
from .environment import NUM_ACTIONS, make_env, other_car_mask
from .replay import Batch

BASELINES = {"random": None, "idle": 1, "slower": 4}


class AgentPolicy:
    """The agent as a policy for one environment: keeps the RSSM state between steps."""

    def __init__(self, agent, greedy: bool, epsilon: float = 0.0, seed: int = 0):
        self.agent, self.greedy, self.epsilon = agent, tf.constant(greedy), epsilon
        self.rng = np.random.default_rng(seed)

    def reset(self) -> None:
        self.state, self.prev_action = self.agent.initial_policy_state()
        self.is_first = True

    def __call__(self, frame: np.ndarray) -> int:
        action, self.state = self.agent.act(self.state, self.prev_action, frame[None],
                                            tf.constant([self.is_first], tf.float32), self.greedy)
        index = int(np.argmax(action[0]))
        if self.epsilon and self.rng.random() < self.epsilon:
            index = int(self.rng.integers(NUM_ACTIONS))
        self.prev_action = tf.one_hot([index], NUM_ACTIONS)
        self.is_first = False
        return index


class FixedPolicy:
    """A baseline: always the same action, or uniform random when ``action`` is None."""

    def __init__(self, action: int | None, seed: int = 0):
        self.action, self.rng = action, np.random.default_rng(seed)

    def reset(self) -> None:
        pass

    def __call__(self, frame: np.ndarray) -> int:
        return int(self.rng.integers(NUM_ACTIONS)) if self.action is None else self.action


def run_episode(env, policy, seed: int, record: bool = False) -> dict:
    """Drive one episode; with ``record`` keep frames, actions and other-car masks."""
    frame, info = env.reset(seed=seed)
    policy.reset()
    total, speeds, crashed = 0.0, [], False
    frames, actions, masks = [frame], [], [other_car_mask(env)] if record else None
    done = False
    while not done:
        action = policy(frame)
        frame, reward, terminated, truncated, info = env.step(action)
        total += reward
        speeds.append(float(info["speed"]))
        crashed = crashed or bool(info["crashed"])
        done = terminated or truncated
        if record:
            frames.append(frame)
            actions.append(action)
            masks.append(other_car_mask(env))
    episode = {"return": total, "length": len(speeds), "crashed": crashed,
               "speed": float(np.mean(speeds))}
    if record:
        episode.update(frames=np.stack(frames), actions=np.asarray(actions), masks=np.stack(masks))
    return episode


def summarize(episodes: list[dict]) -> dict:
    returns = np.array([e["return"] for e in episodes])
    return {"mean_return": float(returns.mean()),
            "stderr_return": float(returns.std(ddof=1) / np.sqrt(len(returns))) if len(returns) > 1 else 0.0,
            "crash_rate": float(np.mean([e["crashed"] for e in episodes])),
            "mean_speed": float(np.sum([e["speed"] * e["length"] for e in episodes])
                                / np.sum([e["length"] for e in episodes])),
            "mean_length": float(np.mean([e["length"] for e in episodes])),
            "episodes": len(episodes)}


def episode_batch(episode: dict):
    """A recorded episode as a replay-style batch of one sequence (step convention of replay.py)."""
    steps = len(episode["actions"])
    action = np.zeros((1, steps + 1, NUM_ACTIONS), np.float32)
    action[0, np.arange(1, steps + 1), episode["actions"]] = 1.0  # a_{t-1} on row t
    is_first = np.zeros((1, steps + 1), np.float32)
    is_first[0, 0] = 1.0
    zeros = np.zeros((1, steps + 1), np.float32)
    return Batch(episode["frames"][None], action, zeros, zeros, is_first)


def car_pixel_errors(world_model, episodes: list[dict], road_gray: float) -> dict:
    """Squared error on other-car pixels: world model vs painting them road-grey.

    Pixels on the [0, 1] scale; means over all car pixels of all frames.
    """
    model_sq, paint_sq, count = 0.0, 0.0, 0
    for episode in episodes:
        batch = episode_batch(episode)
        recon = world_model.reconstruct(batch.image, batch.action, batch.is_first).numpy()[0, ..., 0]
        real = episode["frames"][..., 0] / 255.0
        mask = episode["masks"]
        model_sq += float(np.sum(np.square(recon - real)[mask]))
        paint_sq += float(np.sum(np.square(road_gray / 255.0 - real)[mask]))
        count += int(mask.sum())
    count = max(count, 1)
    return {"car_mse": model_sq / count, "paint_mse": paint_sq / count,
            "car_error_ratio": model_sq / max(paint_sq, 1e-12)}


def road_gray(config) -> float:
    """The grey value of an empty road (RGB 100, 100, 100) under the config's weights."""
    return float(np.clip(np.dot([100.0, 100.0, 100.0], config.gray_weights), 0, 255).astype(np.uint8))


def evaluate(env, policy, seeds, agent=None, config=None) -> dict:
    """Run one episode per seed; add car-pixel errors when an ``agent`` is given."""
    episodes = [run_episode(env, policy, int(seed), record=agent is not None) for seed in seeds]
    result = summarize(episodes)
    if agent is not None:
        result.update(car_pixel_errors(agent.world_model, episodes, road_gray(config)))
    return result


def write_media(world_model, episode: dict, directory, context: int = 5) -> list[Path]:
    """For one recorded episode write ``rollout.gif`` (what the agent saw), ``dream.gif``
    (real frames above the world model's open-loop dream after ``context`` observed frames) and
    ``grid.png`` (rows: real | reconstruction | dream)."""
    from .plots import image_grid, save_gif

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    batch = episode_batch(episode)
    real = episode["frames"] / 255.0  # (T+1, H, W, 1)
    recon = world_model.reconstruct(batch.image, batch.action, batch.is_first).numpy()[0]
    context = min(context, len(real) - 1)
    dream = world_model.dream(batch.image, batch.action, batch.is_first, context).numpy()[0]
    dream = np.concatenate([recon[:context], dream])  # observed frames, then dreamed ones
    save_gif(episode["frames"], directory / "rollout.gif")
    save_gif(np.concatenate([real, dream], axis=1), directory / "dream.gif")
    steps = slice(0, min(len(real), 12))
    figure = image_grid({"real": real[steps], "reconstruction": recon[steps], "dream": dream[steps]},
                        title=f"open-loop dream after {context} observed frames")
    figure.savefig(directory / "grid.png", dpi=100)
    return [directory / name for name in ("rollout.gif", "dream.gif", "grid.png")]


def load_agent(logdir):
    """The agent of a run folder (its config.json and checkpoint.npz)."""
    from .agent import Agent
    logdir = Path(logdir)
    for name in ("config.json", "checkpoint.npz"):
        if not (logdir / name).exists():
            raise FileNotFoundError(f"{logdir / name} not found: is {logdir} a dreamer_lite run folder?")
    config = load_config(logdir / "config.json")
    agent = Agent(config, NUM_ACTIONS)
    agent.load(logdir / "checkpoint.npz")
    return agent, config


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logdir", help="run folder with config.json and checkpoint.npz")
    parser.add_argument("--policy", default="agent", choices=["agent", *BASELINES])
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1000, help="env seed of the first episode")
    parser.add_argument("--json", help="write the result to this file")
    parser.add_argument("--media", help="agent only: write rollout.gif, dream.gif and grid.png "
                                        "of the first episode to this folder")
    args = parser.parse_args(argv)
    seeds = range(args.seed, args.seed + args.episodes)
    tf.random.set_seed(args.seed)  # the posterior's latent samples
    if args.policy == "agent":
        if not args.logdir:
            parser.error("--policy agent needs --logdir RUN (or pick a baseline with --policy)")
        agent, config = load_agent(args.logdir)
        env, policy = make_env(config), AgentPolicy(agent, greedy=True)
        result = evaluate(env, policy, seeds, agent, config)
        if args.media:
            write_media(agent.world_model, run_episode(env, policy, args.seed, record=True), args.media)
    else:
        config = load_config(Path(args.logdir) / "config.json") if args.logdir else make_config("cpu")
        result = evaluate(make_env(config), FixedPolicy(BASELINES[args.policy], args.seed), seeds)
    result.update(policy=args.policy, seed=args.seed, logdir=args.logdir)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return result


if __name__ == "__main__":
    sys.exit(main() and 0)
