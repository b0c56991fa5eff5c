"""Evaluation: drive whole episodes and report return, crash rate and speed.

    python -m dreamer_lite.evaluate --logdir RUN --episodes 50 --seed 1000 [--json OUT]
    python -m dreamer_lite.evaluate --policy slower --episodes 30 --seed 1000

The agent drives with its policy's mode (no sampling of actions; its posterior latents are still
sampled, so TensorFlow is seeded with ``--seed`` and the same command gives the same numbers).
``--policy random|idle|slower|scripted`` runs the baselines through the same code (``scripted``
is the privileged driver of scripted.py, which reads the simulator's state instead of pixels). Episode i uses env seed
``seed + i``; training episodes use seeds from 10^7 up (see train.py), so any seed below that is
held out.

Returns per run: mean_return, stderr_return (standard error of the mean), crash_rate,
mean_speed (m/s, averaged over every step of every episode), mean_length, episodes; for the
agent also ``car_error_ratio``: the world model's squared error on the other cars' pixels
divided by the error of painting those pixels road-grey (lower is better; 1 = draws no cars).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from .cli import EXPECTED_ERRORS, exit_with_error, parser
from .config import load_config, make_config
from .environment import NUM_ACTIONS, make_env, other_car_mask
from .replay import Batch
from .quiet import import_tensorflow
from .runs import load_checkpoint, read_json
from .scripted import ScriptedPolicy

BASELINES = {"random": None, "idle": 1, "slower": 4, "scripted": "reads the simulator"}


class AgentPolicy:
    """The agent as a policy for one environment: keeps the RSSM state between steps."""

    def __init__(self, agent, greedy: bool, epsilon: float = 0.0, seed: int = 0):
        self.agent, self.greedy, self.epsilon = agent, np.array(greedy), epsilon
        self.rng = np.random.default_rng(seed)

    def reset(self) -> None:
        self.state, self.prev_action = self.agent.initial_policy_state()
        self.prev_frame, self.is_first = None, True

    def __call__(self, frame: np.ndarray) -> int:
        prev_frame = frame if self.is_first else self.prev_frame
        action, self.state = self.agent.act(self.state, self.prev_action, prev_frame[None], frame[None],
                                            np.array([self.is_first], np.float32), self.greedy)
        self.prev_frame = frame
        index = int(np.argmax(action[0]))
        if self.epsilon and self.rng.random() < self.epsilon:
            index = int(self.rng.integers(NUM_ACTIONS))
        self.prev_action = np.eye(NUM_ACTIONS, dtype=np.float32)[[index]]  # (1, A) one-hot
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


def baseline_policy(name: str, env, seed: int):
    """A baseline by name: ``scripted`` (the privileged driver of scripted.py, which reads the
    simulator's state) or one of the fixed policies."""
    return ScriptedPolicy(env) if name == "scripted" else FixedPolicy(BASELINES[name], seed)


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


def evaluate(env, policy, seeds, agent=None, config=None, before_episode=None, report=None) -> dict:
    """Run one episode per seed; add car-pixel errors when an ``agent`` is given.

    ``before_episode()`` runs before each episode (the trainer's stop check); ``report(episodes,
    total)`` after each one (progress lines)."""
    episodes = []
    for seed in seeds:
        if before_episode:
            before_episode()
        episodes.append(run_episode(env, policy, int(seed), record=agent is not None))
        if report:
            report(episodes, len(seeds))
    result = summarize(episodes)
    if agent is not None:
        result.update(car_pixel_errors(agent.world_model, episodes, road_gray(config)))
    return result


def write_media(world_model, episode: dict, directory, context: int = 5) -> list[Path]:
    """For one recorded episode write ``rollout.gif`` (what the agent saw), ``dream.gif``
    (real frames above the world model's open-loop dream after ``context`` observed frames) and
    ``grid.png`` (rows: real | reconstruction | dream)."""
    import matplotlib.pyplot as plt

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
    plt.close(figure)  # saved, not shown: a notebook would otherwise draw it a second time
    return [directory / name for name in ("rollout.gif", "dream.gif", "grid.png")]


def load_agent(logdir):
    """The agent of a run folder (its config.json and checkpoint.npz)."""
    from .agent import Agent  # TensorFlow: loaded only when an agent is needed

    logdir = Path(logdir)
    read_json(logdir / "config.json")  # a clear error for a missing, empty or broken file
    config = load_config(logdir / "config.json")
    agent = Agent(config, NUM_ACTIONS)
    load_checkpoint(agent, logdir / "checkpoint.npz")
    return agent, config


class ProgressLines:
    """A line on stderr every ``every`` seconds: episodes done, mean return so far, rate."""

    def __init__(self, every: float = 10.0):
        self.every, self.start, self.last = every, time.time(), time.time()

    def __call__(self, episodes: list, total: int) -> None:
        now = time.time()
        if now - self.last < self.every and len(episodes) < total:
            return
        self.last = now
        rate = len(episodes) / max(now - self.start, 1e-9)
        print(f"episode {len(episodes)}/{total} | mean return {np.mean([e['return'] for e in episodes]):.2f} "
              f"| {rate:.2f} episodes/s | ETA {(total - len(episodes)) / rate:.0f}s", file=sys.stderr, flush=True)


def build_parser():
    result = parser("python -m dreamer_lite.evaluate", __doc__.split("\n")[0], epilog="\n".join(__doc__.split("\n")[1:]))
    result.add_argument("--logdir", help="run folder with config.json and checkpoint.npz")
    result.add_argument("--policy", default="agent", choices=["agent", *BASELINES],
                        help="the trained agent of --logdir, or a baseline")
    result.add_argument("--episodes", type=int, default=50, help="episodes to drive (>= 1)")
    result.add_argument("--seed", type=int, default=1000, help="env seed of the first episode")
    result.add_argument("--json", help="write the result to this file")
    result.add_argument("--media", help="agent only: write rollout.gif, dream.gif and grid.png "
                                        "of the first episode to this folder")
    result.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up messages")
    return result


def check_arguments(cli, args) -> None:
    """Usage errors, found before any episode runs."""
    if args.episodes < 1:
        cli.error(f"--episodes must be at least 1, got {args.episodes}")
    if args.policy == "agent" and not args.logdir:
        cli.error("--policy agent needs --logdir RUN (or pick a baseline with --policy)")
    if args.media and args.policy != "agent":
        cli.error("--media draws the agent's dream: it needs --policy agent and --logdir")
    for name, path in (("--json", args.json and Path(args.json).parent),
                       ("--media", args.media and Path(args.media).parent)):
        if path and not (path.is_dir() and os.access(path, os.W_OK)):
            cli.error(f"{name}: the folder {path} does not exist or is not writable")


def evaluate_command(argv=None) -> dict:
    """Parse the arguments, drive the episodes, print (and write) the result; returns it."""
    cli = build_parser()
    args = cli.parse_args(argv)
    check_arguments(cli, args)
    seeds = range(args.seed, args.seed + args.episodes)
    if args.policy == "agent":
        import_tensorflow(args.verbose)
        from .agent import seed_everything

        agent, config = load_agent(args.logdir)
        seed_everything(args.seed)  # the posterior's latent samples
        env, policy = make_env(config), AgentPolicy(agent, greedy=True)
        result = evaluate(env, policy, seeds, agent, config, report=ProgressLines())
        if args.media:
            write_media(agent.world_model, run_episode(env, policy, args.seed, record=True), args.media)
    else:
        config = load_config(Path(args.logdir) / "config.json") if args.logdir else make_config("cpu")
        env = make_env(config)
        result = evaluate(env, baseline_policy(args.policy, env, args.seed), seeds, report=ProgressLines())
    result.update(policy=args.policy, seed=args.seed, logdir=args.logdir)
    text = json.dumps(result, indent=2, allow_nan=False)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return result


def main(argv=None) -> None:
    try:
        evaluate_command(argv)
    except EXPECTED_ERRORS as error:
        exit_with_error(error)


if __name__ == "__main__":
    main()
