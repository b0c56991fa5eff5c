"""Training: random prefill, then collect and learn, with evaluations and checkpoints.

    python -m dreamer_lite.train --preset cpu --logdir runs/NAME
    python -m dreamer_lite.train --logdir runs/NAME --resume       # continue after a kill
    python -m dreamer_lite.train --preset smoke --logdir /tmp/smoke --set total_steps=400

A run folder holds:
  config.json       the exact Config of the run
  episodes/         every finished training episode (replay.py), so a kill loses nothing collected
  checkpoint.npz    all weights and optimiser state (every ``checkpoint_every`` env steps)
  metrics.csv       one row per ``log_every`` env steps: losses, gradient norms, training returns
  eval.csv          one row per evaluation: return, crash rate, speed, car-pixel error
  tb/               the same numbers for TensorBoard (``tensorboard --logdir runs``)

Training episode i is seeded ``10_000_000 + 1000 * seed + i``; evaluation uses seeds below 10^7.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from .agent import Agent
from .config import ConfigError, load_config, make_config, parse_override
from .environment import NUM_ACTIONS, make_env
from .evaluate import AgentPolicy, FixedPolicy, evaluate
from .replay import EpisodeRecorder, Replay

TRAIN_SEED_BASE = 10_000_000
EVAL_SEED_BASE = 5_000_000


class CsvLog:
    """Append rows of numbers to a CSV file; the first row fixes the columns."""

    def __init__(self, path: Path):
        self.path = path
        self.columns = None
        if path.exists() and path.stat().st_size:
            with open(path) as f:
                self.columns = next(csv.reader(f))

    def write(self, row: dict) -> None:
        if self.columns is None:
            self.columns = list(row)
            with open(self.path, "w", newline="") as f:
                csv.writer(f).writerow(self.columns)
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([row.get(c, "") for c in self.columns])


class Progress:
    """Periodic progress lines: env steps, updates, steps/s, ETA, latest returns."""

    def __init__(self, start_step: int, total_steps: int):
        self.total, self.start_step, self.start_time = total_steps, start_step, time.time()

    def line(self, step: int, updates: int, extra: str) -> str:
        elapsed = time.time() - self.start_time
        rate = (step - self.start_step) / max(elapsed, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else math.inf
        eta_text = "?" if math.isinf(eta) else f"{eta / 60:.0f}m"
        return (f"step {step:,}/{self.total:,} | updates {updates:,} | {rate:.1f} steps/s | "
                f"ETA {eta_text} | {extra}")


def setup_run(logdir: Path, preset: str, overrides: dict, resume: bool):
    """Write (or, when resuming, read back) the run's config.json."""
    config_path = logdir / "config.json"
    if resume:
        if not config_path.exists():
            raise FileNotFoundError(f"--resume: {config_path} not found; start the run without --resume")
        config = load_config(config_path)
        if overrides:
            config = make_config("cpu", **{**config.to_dict(), **overrides})
    else:
        if (logdir / "checkpoint.npz").exists() or any((logdir / "episodes").glob("*.npz")):
            raise FileExistsError(f"{logdir} already holds a run: pass --resume to continue it, "
                                  "or choose a new --logdir")
        config = make_config(preset, **overrides)
    logdir.mkdir(parents=True, exist_ok=True)
    config_path.write_text(config.to_json() + "\n")
    return config


def train(config, logdir, resume: bool = False, echo=print) -> dict:
    """Run (or continue) training in ``logdir``; returns the last evaluation."""
    logdir = Path(logdir)
    tf.random.set_seed(config.seed)
    replay = Replay(logdir / "episodes", config.seq_len, NUM_ACTIONS, seed=config.seed)
    agent = Agent(config, NUM_ACTIONS)
    if resume and (logdir / "checkpoint.npz").exists():
        agent.load(logdir / "checkpoint.npz")
        echo(f"resumed: {replay.num_episodes} episodes ({replay.env_steps:,} env steps) in replay, "
             f"{int(agent.updates.numpy()):,} updates")
        if agent.pretrain_updates.numpy() >= config.pretrain:
            catch_up(agent, replay, config, echo)
    env, eval_env = make_env(config), make_env(config)
    metrics_log, eval_log = CsvLog(logdir / "metrics.csv"), CsvLog(logdir / "eval.csv")
    writer = tf.summary.create_file_writer(str(logdir / "tb"))
    explore = AgentPolicy(agent, greedy=False, epsilon=config.explore_epsilon, seed=config.seed)
    random_policy = FixedPolicy(None, seed=config.seed)
    progress = Progress(replay.env_steps, config.total_steps)
    previous = _previous_progress(logdir)  # {} for a new run
    start_wall = time.time() - previous.get("wall_s", 0.0)

    step = replay.env_steps
    # A resumed run may restart a few steps before its checkpoint (the unfinished episode is
    # not in replay); the updates, logs and evaluations up to the checkpoint are not done again.
    updates = int(agent.updates.numpy())
    checkpointed = previous.get("env_steps", 0)
    next_log, next_eval, next_ckpt = (_next_multiple(max(step, checkpointed), every) for every in
                                      (config.log_every, config.eval_every, config.checkpoint_every))
    sums, count, recent, last_eval = {}, 0, [], {}
    episode, frame, policy = None, None, None
    pretrained = int(agent.pretrain_updates.numpy()) >= config.pretrain  # read once, not every step
    while step < config.total_steps:
        if episode is None:  # start an episode
            seed = TRAIN_SEED_BASE + 1000 * config.seed + replay.num_episodes
            frame, _ = env.reset(seed=seed)
            episode = EpisodeRecorder(frame)
            policy = random_policy if step < config.prefill else explore
            policy.reset()
        action = policy(frame)
        frame, reward, terminated, truncated, info = env.step(action)
        episode.add(action, frame, reward, terminated)
        step += 1
        if terminated or truncated:
            replay.add(episode.arrays())
            recent = (recent + [(sum(episode.rows["reward"]), terminated, info["speed"])])[-20:]
            episode = None

        if step >= config.prefill and not pretrained:
            pretrain_world_model(agent, replay, config, echo)
            pretrained = True
            save_checkpoint(agent, logdir, step, start_wall)
        if updates < updates_due(step, config):
            metrics = agent.train_step(replay.sample(config.batch_size))
            updates += 1
            for key, value in metrics.items():
                sums[key] = sums.get(key, 0.0) + float(value)
            count += 1

        if step >= next_log:
            next_log += config.log_every
            row = _log_row(step, agent, start_wall, sums, count, recent)
            sums, count = {}, 0
            if "wm/loss" in row:
                metrics_log.write(row)
                _write_tensorboard(writer, row, step)
            ret = f"return {row['train/return']:.1f}" if recent else "return -"
            evaluated = f" | eval {last_eval['mean_return']:.1f}" if last_eval else ""
            echo(progress.line(step, int(agent.updates.numpy()), ret + evaluated))

        if step >= next_eval and step >= config.prefill:
            next_eval += config.eval_every
            last_eval = run_evaluation(agent, config, eval_env, step, start_wall)
            eval_log.write(last_eval)
            _write_tensorboard(writer, {f"eval/{k}": v for k, v in last_eval.items()}, step)
            echo(f"eval at step {step:,}: return {last_eval['mean_return']:.2f} "
                 f"+- {last_eval['stderr_return']:.2f}, crashes {last_eval['crash_rate']:.0%}, "
                 f"speed {last_eval['mean_speed']:.1f} m/s, car-pixel error ratio "
                 f"{last_eval['car_error_ratio']:.2f}")

        if step >= next_ckpt or step >= config.total_steps:
            next_ckpt += config.checkpoint_every
            save_checkpoint(agent, logdir, step, start_wall)
    writer.flush()
    return last_eval


def updates_due(step: int, config) -> int:
    """Updates made by the end of env step ``step``: one at every multiple of ``train_every``
    from ``prefill`` on, that is  step // train_every - (prefill - 1) // train_every."""
    if step < config.prefill:
        return 0
    return step // config.train_every - (config.prefill - 1) // config.train_every


def catch_up(agent, replay, config, echo) -> None:
    """On resume, make the updates owed to the episodes collected after the last checkpoint
    (a kill keeps those episodes but loses the updates made on them)."""
    owed = updates_due(replay.env_steps, config) - int(agent.updates.numpy())
    for _ in range(owed):
        agent.train_step(replay.sample(config.batch_size))
    if owed > 0:
        echo(f"caught up {owed:,} updates lost with the kill: {int(agent.updates.numpy()):,} updates")


def save_checkpoint(agent, logdir: Path, step: int, start_wall: float) -> None:
    """checkpoint.npz, then progress.json (env steps, updates, wall-clock seconds so far)."""
    agent.save(logdir / "checkpoint.npz")
    (logdir / "progress.json").write_text(json.dumps(
        {"env_steps": step, "updates": int(agent.updates.numpy()),
         "wall_s": time.time() - start_wall}) + "\n")


def pretrain_world_model(agent, replay, config, echo) -> None:
    """World-model-only updates on the prefill data, up to ``config.pretrain`` in all."""
    done, start = int(agent.pretrain_updates.numpy()), time.time()
    for update in range(done + 1, config.pretrain + 1):
        metrics = agent.pretrain_step(replay.sample(config.batch_size))
        if update % 100 == 0 or update == config.pretrain:
            rate = (update - done) / (time.time() - start)
            echo(f"pretrain {update:,}/{config.pretrain:,} world-model updates | {rate:.2f} updates/s "
                 f"| ETA {(config.pretrain - update) / rate / 60:.0f}m | image mse "
                 f"{float(metrics['wm/image_mse']):.5f} | kl {float(metrics['wm/kl']):.2f}")


def run_evaluation(agent, config, eval_env, step, start_wall) -> dict:
    """``eval_episodes`` greedy episodes on held-out seeds, plus car-pixel errors."""
    seeds = range(EVAL_SEED_BASE + step, EVAL_SEED_BASE + step + config.eval_episodes)
    result = evaluate(eval_env, AgentPolicy(agent, greedy=True), seeds, agent, config)
    return {"env_step": step, "updates": int(agent.updates.numpy()),
            "wall_s": round(time.time() - start_wall, 1), **result}


def _log_row(step, agent, start_wall, sums, count, recent) -> dict:
    row = {"env_step": step, "updates": int(agent.updates.numpy()),
           "wall_s": round(time.time() - start_wall, 1)}
    if recent:
        row.update({"train/return": float(np.mean([r for r, _, _ in recent])),
                    "train/crash_rate": float(np.mean([c for _, c, _ in recent])),
                    "train/final_speed": float(np.mean([s for _, _, s in recent]))})
    row.update({key: value / count for key, value in sums.items()} if count else {})
    return row


def _write_tensorboard(writer, row: dict, step: int) -> None:
    with writer.as_default():
        for key, value in row.items():
            if isinstance(value, (int, float)) and key not in ("env_step",):
                tf.summary.scalar(key, value, step=step)


def _next_multiple(step: int, every: int) -> int:
    return (step // every + 1) * every


def _previous_progress(logdir: Path) -> dict:
    """progress.json of a resumed run (env steps, updates, wall-clock seconds), {} for a new one."""
    path = logdir / "progress.json"
    return json.loads(path.read_text()) if path.exists() else {}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Train a DreamerV2 agent on highway-fast-v0 from pixels.")
    parser.add_argument("--preset", default="cpu", help="smoke | cpu (default) | gpu")
    parser.add_argument("--logdir", required=True, help="run folder (created if missing)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --logdir")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="override config fields, e.g. --set batch_size=8 total_steps=5000")
    args = parser.parse_args(argv)
    try:
        overrides = dict(parse_override(text) for text in args.set)
        config = setup_run(Path(args.logdir), args.preset, overrides, args.resume)
    except (ConfigError, FileNotFoundError, FileExistsError) as error:
        parser.error(str(error))
    print(f"training {config.env_id} | preset {args.preset} | logdir {args.logdir}", flush=True)
    train(config, args.logdir, resume=args.resume, echo=lambda text: print(text, flush=True))


if __name__ == "__main__":
    main()
