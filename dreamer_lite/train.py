"""Training: random prefill, world-model pretraining, then collect -> update -> log / evaluate /
checkpoint until ``total_steps`` env steps.

    python -m dreamer_lite.train --preset cpu --logdir runs/NAME
    python -m dreamer_lite.train --logdir runs/NAME --resume       # continue after a stop or a kill
    python -m dreamer_lite.train --preset smoke --logdir /tmp/smoke --set total_steps=400

A run folder holds:
  config.json       the exact Config of the run
  episodes/         every finished training episode (replay.py), so a kill loses nothing collected
  checkpoint.npz    all weights and optimiser state (every ``checkpoint_every`` env steps, every
                    PRETRAIN_CHECKPOINT_EVERY pretraining updates, and when the run is stopped)
  progress.json     env steps, updates and wall-clock seconds at the last checkpoint
  metrics.csv       one row per ``log_every`` env steps: losses, gradient norms, training returns
  eval.csv          one row per evaluation: return, crash rate, speed, car-pixel error
  starts.jsonl      one line per start: command, package version, git commit, config changes
  tb/               the same numbers for TensorBoard (``tensorboard --logdir runs``)

SIGINT (Ctrl-C) and SIGTERM stop a run at the next env step or update: it writes a checkpoint,
prints the command that resumes it and exits with 130 / 143. Every file is written atomically
(runs.py) and a lock keeps a second trainer out of the folder.

Training episode i is seeded ``10_000_000 + 1000 * seed + i``; evaluation uses seeds below 10^7.
"""

from __future__ import annotations

# TensorFlow is imported only once the arguments are checked (in train(), and in the Loop methods
# that write TensorBoard summaries), so that --help and usage errors answer at once.

import csv
import dataclasses
import json
import signal
import sys
import time
from pathlib import Path

import numpy as np

from .cli import EXPECTED_ERRORS, exit_with_error, parser
from .config import PRESETS, ConfigError, config_help, load_config, make_config, parse_override, resume_config
from .environment import NUM_ACTIONS, check_env_id, make_env
from .evaluate import AgentPolicy, FixedPolicy, evaluate
from .quiet import import_tensorflow
from .replay import EpisodeRecorder, Replay
from .runs import (RunFolderError, RunLock, load_checkpoint, read_json, record_start,
                   remove_temporaries, save_checkpoint, write_text_atomic)

TRAIN_SEED_BASE = 10_000_000
EVAL_SEED_BASE = 5_000_000
PRETRAIN_CHECKPOINT_EVERY = 200


class Stopped(Exception):
    """SIGINT or SIGTERM arrived; the run stopped at a safe point and wrote a checkpoint."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopSignals:
    """Turns SIGINT and SIGTERM into a request that the loop honours at its next safe point
    (:meth:`check`); a second signal stops at once."""

    def __init__(self):
        self.signum = None

    def __enter__(self):
        self.previous = {s: signal.signal(s, self._request) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def _request(self, signum, frame) -> None:
        if self.signum is not None:
            print(f"\n{signal.Signals(signum).name} again: stopping without a checkpoint", flush=True)
            sys.exit(128 + signum)
        self.signum = signum
        print(f"\n{signal.Signals(signum).name}: stopping at the next safe point ...", flush=True)

    def check(self) -> None:
        if self.signum is not None:
            raise Stopped(self.signum)


class NoStop:
    """Stands in for StopSignals when train() is called from Python (a notebook, a test)."""

    def check(self) -> None:
        pass


class CsvLog:
    """Append rows of numbers to a CSV file; the first row fixes the columns. A last line cut
    short by a kill is dropped when the file is opened again."""

    def __init__(self, path: Path):
        self.path = path
        self.columns = None
        if path.exists() and path.stat().st_size:
            text = path.read_text()
            if not text.endswith("\n"):
                path.write_text(text[:text.rfind("\n") + 1])
            with open(path) as f:
                self.columns = next(csv.reader(f), None)

    def write(self, row: dict) -> None:
        if self.columns is None:
            self.columns = list(row)
            with open(self.path, "w", newline="") as f:
                csv.writer(f).writerow(self.columns)
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([row.get(c, "") for c in self.columns])


class Collector:
    """Drives the training env one step at a time: random actions during prefill, then the
    agent's sampled actions (epsilon-greedy); hands every finished episode to replay."""

    def __init__(self, env, replay: Replay, explore: AgentPolicy, config):
        self.env, self.replay, self.explore, self.config = env, replay, explore, config
        self.random = FixedPolicy(None, seed=config.seed)
        self.episode, self.frame, self.policy = None, None, None
        self.recent = []  # (return, crashed, final speed) of the last 20 finished episodes

    def start_episode(self, step: int) -> None:
        seed = TRAIN_SEED_BASE + 1000 * self.config.seed + self.replay.num_episodes
        self.frame, _ = self.env.reset(seed=seed)
        self.episode = EpisodeRecorder(self.frame)
        self.policy = self.random if step < self.config.prefill else self.explore
        self.policy.reset()

    def step(self, step: int) -> None:
        """One env step (``step`` env steps were taken before it)."""
        if self.episode is None:
            self.start_episode(step)
        action = self.policy(self.frame)
        self.frame, reward, terminated, truncated, info = self.env.step(action)
        self.episode.add(action, self.frame, reward, terminated)
        if terminated or truncated:
            self.replay.add(self.episode.arrays())
            self.recent = (self.recent + [(sum(self.episode.rows["reward"]), terminated, info["speed"])])[-20:]
            self.episode = None


class Progress:
    """Progress lines with an honest ETA: none before the first training updates (prefill and
    pretraining run at other rates), then from the training phase's own rate."""

    def __init__(self, total_steps: int):
        self.total, self.phase_start = total_steps, None

    def start_training_phase(self, step: int) -> None:
        self.phase_start = (step, time.time())

    def line(self, step: int, updates: int, extra: str) -> str:
        if self.phase_start is None:
            return f"step {step:,}/{self.total:,} | updates {updates:,} | ETA after pretraining | {extra}"
        start_step, start_time = self.phase_start
        rate = (step - start_step) / max(time.time() - start_time, 1e-9)
        eta = f"{(self.total - step) / rate / 60:.0f}m" if rate > 0 else "?"
        return f"step {step:,}/{self.total:,} | updates {updates:,} | {rate:.1f} steps/s | ETA {eta} | {extra}"


def settle_precision(config, echo):
    """The config with ``precision="auto"`` replaced by what this machine runs fast, so that the
    run's config.json records the arithmetic it trained with."""
    if config.precision != "auto":
        return config
    from .networks import resolve_precision

    precision = resolve_precision("auto")
    reason = ("this machine computes bfloat16 in hardware" if precision == "mixed_bfloat16" else
              "no bfloat16 hardware here (AVX512-BF16, AMX, or a GPU of compute capability 8.0+), "
              "and emulated bfloat16 runs several times slower than float32")
    echo(f"precision auto -> {precision}: {reason}")
    return dataclasses.replace(config, precision=precision)


def train(config, logdir, resume: bool = False, echo=print, stop=None, config_changes=None) -> dict:
    """Run (or continue) training in ``logdir``; returns the final evaluation.

    Everything is checked (checkpoint, episodes, environment) before anything is written.
    ``stop`` (a StopSignals) ends the run at a safe point with a checkpoint and raises Stopped.
    """
    env, eval_env = make_env(config), make_env(config)  # an unknown env id fails here, at once
    import_tensorflow()
    from .agent import Agent, seed_everything  # TensorFlow: after the arguments were checked

    config = settle_precision(config, echo)
    logdir, stop = Path(logdir), stop or NoStop()
    seed_everything(config.seed)
    agent = Agent(config, NUM_ACTIONS)
    previous = resume_checks(agent, logdir, echo) if resume else {}
    replay = Replay(logdir / "episodes", config.seq_len, NUM_ACTIONS, seed=config.seed)
    collector = Collector(env, replay, AgentPolicy(agent, greedy=False, epsilon=config.explore_epsilon,
                                                   seed=config.seed), config)
    collector.start_episode(replay.env_steps)  # a blank-frame or env error shows here, before writing
    write_text_atomic(logdir / "config.json", config.to_json() + "\n")
    record_start(logdir, resume, config_changes or {})
    if resume:
        echo(f"resumed: {replay.num_episodes} episodes ({replay.env_steps:,} env steps) in replay, "
             f"{int(agent.updates.numpy()):,} updates")
        catch_up(agent, replay, config, echo)

    loop = Loop(config, logdir, agent, replay, eval_env, echo, previous)
    if loop.step < config.prefill:
        echo(f"prefill: {config.prefill - loop.step:,} env steps with random actions")
    try:
        while loop.step < config.total_steps:
            stop.check()
            collector.step(loop.step)
            loop.step += 1
            loop.pretrain_if_due(stop)
            loop.update_if_due()
            loop.log_if_due(collector.recent)
            loop.evaluate_if_due(stop)
            loop.checkpoint_if_due()
        return loop.finish(stop)
    except Stopped:
        loop.checkpoint()
        raise


class Loop:
    """The counters and schedules of one training process, and what it does at each of them."""

    def __init__(self, config, logdir: Path, agent, replay: Replay, eval_env, echo, previous: dict):
        import tensorflow as tf

        self.config, self.logdir, self.agent, self.replay, self.eval_env, self.echo = (
            config, logdir, agent, replay, eval_env, echo)
        self.step = replay.env_steps
        # A resumed run may restart a few steps before its checkpoint (the unfinished episode is
        # not in replay); the logs and evaluations up to the checkpoint are not done again.
        done = max(self.step, previous.get("env_steps", 0))
        self.next_log, self.next_eval, self.next_ckpt = (
            _next_multiple(done, every) for every in (config.log_every, config.eval_every, config.checkpoint_every))
        self.start_wall = time.time() - previous.get("wall_s", 0.0)
        self.metrics_log, self.eval_log = CsvLog(logdir / "metrics.csv"), CsvLog(logdir / "eval.csv")
        self.writer = tf.summary.create_file_writer(str(logdir / "tb"))
        self.progress = Progress(config.total_steps)
        self.pretrained = int(agent.pretrain_updates.numpy()) >= config.pretrain
        self.sums, self.last_eval = {}, {}  # metric -> (weighted sum, sum of weights) since the last row

    def pretrain_if_due(self, stop) -> None:
        """At the end of prefill: pretrain the world model (unless done), then start the clock
        of the training phase."""
        if self.step < self.config.prefill or self.progress.phase_start is not None:
            return
        if not self.pretrained:
            pretrain_world_model(self.agent, self.replay, self.config, self.echo, stop, self.checkpoint)
            self.pretrained = True
            self.checkpoint()
        self.progress.start_training_phase(self.step)

    def update_if_due(self) -> None:
        if int(self.agent.updates.numpy()) < updates_due(self.step, self.config):
            batch = self.replay.sample(self.config.batch_size, self.config.crash_share)
            accumulate(self.sums, self.agent.train_step(batch))

    def log_if_due(self, recent: list) -> None:
        if self.step < self.next_log:
            return
        self.next_log += self.config.log_every
        row = _log_row(self.step, self.agent, self.start_wall, self.sums, recent)
        self.sums = {}
        if "wm/loss" in row:
            self.metrics_log.write(row)
            self._tensorboard(row)
        text = f"return {row['train/return']:.1f}" if recent else "return -"
        if self.last_eval:
            text += f" | eval {self.last_eval['mean_return']:.1f}"
        self.echo(self.progress.line(self.step, int(self.agent.updates.numpy()), text))

    def evaluate_if_due(self, stop) -> None:
        if self.step >= self.next_eval and self.step >= self.config.prefill:
            self.next_eval += self.config.eval_every
            self.evaluate(stop)

    def evaluate(self, stop) -> None:
        self.echo(f"evaluating: {self.config.eval_episodes} episodes on held-out seeds")
        self.last_eval = run_evaluation(self.agent, self.config, self.eval_env, self.step,
                                        self.start_wall, stop)
        self.eval_log.write(self.last_eval)
        self._tensorboard({f"eval/{k}": v for k, v in self.last_eval.items()})
        self.echo(f"eval at step {self.step:,}: {_describe_eval(self.last_eval)}")

    def checkpoint_if_due(self) -> None:
        if self.step >= self.next_ckpt or self.step >= self.config.total_steps:
            self.next_ckpt += self.config.checkpoint_every
            self.checkpoint()

    def checkpoint(self) -> None:
        """checkpoint.npz, then progress.json (env steps, updates, wall-clock seconds so far)."""
        save_checkpoint(self.agent, self.logdir / "checkpoint.npz")
        progress = {"env_steps": self.step, "updates": int(self.agent.updates.numpy()),
                    "pretrain_updates": int(self.agent.pretrain_updates.numpy()),
                    "wall_s": round(time.time() - self.start_wall, 1)}
        write_text_atomic(self.logdir / "progress.json", _json(progress))

    def finish(self, stop) -> dict:
        """Evaluate the final agent if the schedule did not just do so; print where it is."""
        if not self.last_eval or self.last_eval["env_step"] != self.step:
            self.evaluate(stop)
        self.checkpoint()
        self.writer.flush()
        hours = (time.time() - self.start_wall) / 3600
        self.echo(f"finished: {self.step:,} env steps, {int(self.agent.updates.numpy()):,} updates, "
                  f"{hours:.2f} h\nfinal evaluation ({self.config.eval_episodes} episodes): "
                  f"{_describe_eval(self.last_eval)}\ncheckpoint: {self.logdir / 'checkpoint.npz'}\n"
                  f"evaluate it on 200 held-out episodes:\n  python -m dreamer_lite.evaluate "
                  f"--logdir {self.logdir} --episodes 200 --seed 3000")
        return self.last_eval

    def _tensorboard(self, row: dict) -> None:
        import tensorflow as tf

        with self.writer.as_default():
            for key, value in row.items():
                if isinstance(value, (int, float)) and key != "env_step":
                    tf.summary.scalar(key, value, step=self.step)


def resume_checks(agent, logdir: Path, echo) -> dict:
    """Before a resumed run writes anything: clear leftover temporary files, load the checkpoint
    (an exported, weights-only one is refused) and read progress.json. Returns progress.json."""
    for path in remove_temporaries(logdir) + remove_temporaries(logdir / "episodes"):
        echo(f"removed {path.name}, a file left unfinished by a kill")
    if not (logdir / "checkpoint.npz").exists():
        echo("no checkpoint yet: the run restarts from fresh weights, with every episode kept")
        return {}
    if load_checkpoint(agent, logdir / "checkpoint.npz"):
        raise RunFolderError(
            f"{logdir} holds a weights-only checkpoint (an exported run, for evaluation): it cannot "
            "be resumed. Resume the training folder it was exported from, or start a new --logdir.")
    previous = read_json(logdir / "progress.json") if (logdir / "progress.json").exists() else {}
    pretrain = int(agent.pretrain_updates.numpy())
    if 0 < pretrain < agent.config.pretrain:
        echo(f"pretraining resumes at {pretrain:,}/{agent.config.pretrain:,} world-model updates")
    return previous


def updates_due(step: int, config) -> int:
    """Updates made by the end of env step ``step``: one at every multiple of ``train_every``
    from ``prefill`` on, that is  step // train_every - (prefill - 1) // train_every."""
    if step < config.prefill:
        return 0
    return step // config.train_every - (config.prefill - 1) // config.train_every


def catch_up(agent, replay, config, echo) -> None:
    """On resume, make the updates owed to the episodes collected after the last checkpoint
    (a kill keeps those episodes but loses the updates made on them)."""
    if agent.pretrain_updates.numpy() < config.pretrain:
        return  # pretraining first; the loop makes the updates once it is done
    owed = updates_due(replay.env_steps, config) - int(agent.updates.numpy())
    for _ in range(owed):
        agent.train_step(replay.sample(config.batch_size, config.crash_share))
    if owed > 0:
        echo(f"caught up {owed:,} updates lost with the kill: {int(agent.updates.numpy()):,} updates")


def pretrain_world_model(agent, replay, config, echo, stop, checkpoint) -> None:
    """World-model-only updates on the prefill data, up to ``config.pretrain`` in all, with a
    checkpoint every PRETRAIN_CHECKPOINT_EVERY updates."""
    done, start = int(agent.pretrain_updates.numpy()), time.time()
    echo(f"pretraining the world model: {config.pretrain - done:,} updates on the prefill data")
    for update in range(done + 1, config.pretrain + 1):
        stop.check()
        metrics = agent.pretrain_step(replay.sample(config.batch_size, config.crash_share))
        if update % PRETRAIN_CHECKPOINT_EVERY == 0:
            checkpoint()
        if update % 100 == 0 or update == config.pretrain:
            rate = (update - done) / (time.time() - start)
            echo(f"pretrain {update:,}/{config.pretrain:,} world-model updates | {rate:.2f} updates/s "
                 f"| ETA {(config.pretrain - update) / rate / 60:.0f}m | image mse "
                 f"{float(metrics['wm/image_mse']):.5f} | kl {float(metrics['wm/kl']):.2f}")


def run_evaluation(agent, config, eval_env, step, start_wall, stop=NoStop()) -> dict:
    """``eval_episodes`` greedy episodes on held-out seeds, plus car-pixel errors."""
    seeds = range(EVAL_SEED_BASE + step, EVAL_SEED_BASE + step + config.eval_episodes)
    result = evaluate(eval_env, AgentPolicy(agent, greedy=True), seeds, agent, config,
                      before_episode=stop.check)
    return {"env_step": step, "updates": int(agent.updates.numpy()),
            "wall_s": round(time.time() - start_wall, 1), **result}


def _describe_eval(result: dict) -> str:
    return (f"return {result['mean_return']:.2f} +- {result['stderr_return']:.2f}, crashes "
            f"{result['crash_rate']:.0%}, speed {result['mean_speed']:.1f} m/s, car-pixel error ratio "
            f"{result['car_error_ratio']:.2f}")


def accumulate(sums: dict, metrics: dict) -> None:
    """Add one update's metrics to ``sums`` (metric -> (weighted sum, sum of weights)).

    A ``*_crash`` metric is a mean over the batch's crash steps, so it is weighted by their
    number: the log row holds its mean over every crash step of the window, not an average that
    counts the batches without a crash as 0. Every other metric has weight 1 per update."""
    crash_steps = float(metrics["wm/crash_steps"])
    for key, value in metrics.items():
        weight = crash_steps if key.endswith("_crash") else 1.0
        total, weights = sums.get(key, (0.0, 0.0))
        sums[key] = (total + weight * float(value), weights + weight)


def _log_row(step, agent, start_wall, sums, recent) -> dict:
    row = {"env_step": step, "updates": int(agent.updates.numpy()),
           "wall_s": round(time.time() - start_wall, 1)}
    if recent:
        row.update({"train/return": float(np.mean([r for r, _, _ in recent])),
                    "train/crash_rate": float(np.mean([c for _, c, _ in recent])),
                    "train/final_speed": float(np.mean([s for _, _, s in recent]))})
    row.update({key: total / weights if weights else float("nan") for key, (total, weights) in sums.items()})
    return row


def _json(values: dict) -> str:
    return json.dumps(values, allow_nan=False) + "\n"


def _next_multiple(step: int, every: int) -> int:
    return (step // every + 1) * every


def setup_config(logdir: Path, preset: str | None, overrides: dict, resume: bool):
    """The run's config: a preset with overrides for a new run; config.json with the allowed
    overrides for a resumed one (nothing is written here). Returns (config, changes)."""
    if resume:
        if preset is not None:
            raise ConfigError("--preset has no effect with --resume: the run's config.json decides. "
                              "Drop --preset (change single keys with --set).")
        return resume_config(load_config_checked(logdir / "config.json"), overrides)
    if (logdir / "checkpoint.npz").exists() or any((logdir / "episodes").glob("*.npz")):
        raise RunFolderError(f"{logdir} already holds a run: pass --resume to continue it, "
                             "or choose a new --logdir")
    config = make_config(preset or "cpu", **overrides)
    check_env_id(config.env_id)
    return config, {}


def load_config_checked(path: Path):
    """load_config with the run folder's errors: missing, empty or broken config.json."""
    if not path.exists():
        raise RunFolderError(f"--resume: {path} not found; start the run without --resume")
    read_json(path)  # a clear error for an empty or broken file
    return load_config(path)


def build_parser():
    result = parser("python -m dreamer_lite.train", "Train a DreamerV2 agent on highway-fast-v0 from pixels.",
                    epilog="config keys for --set (values of the cpu preset):\n" + config_help())
    result.add_argument("--preset", choices=sorted(PRESETS), default=None,
                        help="smoke: seconds, for tests; cpu: a 2-core laptop (default for a new run); "
                             "gpu: the paper's sizes")
    result.add_argument("--logdir", required=True, help="run folder (created if missing)")
    result.add_argument("--resume", action="store_true", help="continue the run in --logdir")
    result.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="override config keys (listed below), e.g. --set batch_size=8 total_steps=5000")
    result.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up messages")
    return result


def main(argv=None) -> None:
    cli = build_parser()
    args = cli.parse_args(argv)
    if not args.logdir.strip():
        cli.error("--logdir must name a folder, e.g. --logdir runs/cpu")
    logdir = Path(args.logdir)
    try:
        overrides = dict(parse_override(text) for text in args.set)
        config, changes = setup_config(logdir, args.preset, overrides, args.resume)
    except ConfigError as error:
        cli.error(str(error))
    except EXPECTED_ERRORS as error:
        exit_with_error(error)
    try:
        logdir.mkdir(parents=True, exist_ok=True)
        lock = RunLock(logdir)
    except EXPECTED_ERRORS as error:
        exit_with_error(error)
    if args.verbose:
        import_tensorflow(verbose=True)
    preset = "from config.json" if args.resume else (args.preset or "cpu")
    print(f"training {config.env_id} | preset {preset} | logdir {logdir}"
          + (f" | changed on resume: {changes}" if changes else ""), flush=True)
    try:
        with StopSignals() as stop:
            train(config, logdir, resume=args.resume, echo=lambda text: print(text, flush=True),
                  stop=stop, config_changes=changes)
    except Stopped as stopped:
        print(f"stopped by {stopped}: checkpoint written to {logdir / 'checkpoint.npz'}\n"
              f"resume with:\n  python -m dreamer_lite.train --logdir {logdir} --resume", flush=True)
        sys.exit(128 + stopped.signum)
    except EXPECTED_ERRORS as error:
        exit_with_error(error)
    finally:
        lock.release()


if __name__ == "__main__":
    main()
