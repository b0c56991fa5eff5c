"""Which behaviour settings make the agent drive, given a world model that sees the cars?

Takes a trained run's world model (frozen) and replay, trains a fresh actor and critic in
imagination only (``Agent.behaviour_step``), and evaluates the greedy policy on held-out seeds:

    python experiments/actor_probe.py --run runs/cpu-b --name NAME --updates 1500 [--set key=value ...]

Only behaviour keys may be changed (the world model must fit the checkpoint). Writes
experiments/results/actor_probe/NAME.csv (rewritten after every evaluation) and prints progress.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from dreamer_lite.agent import Agent
from dreamer_lite.config import ConfigError, load_config, parse_override
from dreamer_lite.environment import NUM_ACTIONS, make_env
from dreamer_lite.evaluate import AgentPolicy, evaluate
from dreamer_lite.replay import Replay
from dreamer_lite.runs import load_checkpoint

from common import write_csv  # experiments/ is on the path when this script runs

HERE = Path(__file__).parent
BEHAVIOUR_KEYS = {"horizon", "gamma", "lambda_", "actor_entropy", "actor_grad_rho", "actor_unimix",
                  "return_norm", "slow_critic_every", "actor_lr", "critic_lr", "batch_size", "seq_len"}
EVAL_SEED_BASE = 4_000_000  # held out: training uses seeds from 10^7, train.py's evaluations 5 * 10^6 up


def probe_agent(run: Path, overrides: dict) -> Agent:
    """A fresh agent whose world model is the run's trained one."""
    unknown = sorted(set(overrides) - BEHAVIOUR_KEYS)
    if unknown:
        raise ConfigError(f"{unknown} are not behaviour keys; allowed: {sorted(BEHAVIOUR_KEYS)}")
    config = dataclasses.replace(load_config(run / "config.json"), **overrides)
    trained = Agent(config, NUM_ACTIONS)
    load_checkpoint(trained, run / "checkpoint.npz")
    agent = Agent(config, NUM_ACTIONS)
    for fresh, learned in zip(agent.world_model.weights, trained.world_model.weights):
        fresh.assign(learned)
    return agent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", required=True, help="a training run folder (config, checkpoint, episodes)")
    parser.add_argument("--name", required=True)
    parser.add_argument("--updates", type=int, default=1500)
    parser.add_argument("--eval_every", type=int, default=250)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--set", nargs="*", default=[])
    args = parser.parse_args()
    run = Path(args.run)
    agent = probe_agent(run, dict(parse_override(t) for t in args.set))
    config = agent.config
    tf.random.set_seed(config.seed)
    replay = Replay(run / "episodes", config.seq_len, NUM_ACTIONS, seed=config.seed)
    env, seeds = make_env(config), range(EVAL_SEED_BASE, EVAL_SEED_BASE + args.episodes)
    print(f"{args.name}: world model of {run}, {replay.env_steps:,} replayed env steps", flush=True)
    out = HERE / "results" / "actor_probe"
    out.mkdir(parents=True, exist_ok=True)
    rows, start = [], time.time()
    for update in range(1, args.updates + 1):
        metrics = agent.behaviour_step(replay.sample(config.batch_size))
        if update % args.eval_every == 0:
            result = evaluate(env, AgentPolicy(agent, greedy=True), seeds)
            row = {"update": update, "wall_s": round(time.time() - start, 1),
                   "actor_entropy": float(metrics["actor/actor_entropy"]),
                   "imagine_return": float(metrics["imagine/return"]), **result}
            rows.append(row)
            write_csv(out / f"{args.name}.csv", rows, " ".join(args.set))  # after every evaluation
            print(f"{args.name} update {update}: return {result['mean_return']:.2f} +- "
                  f"{result['stderr_return']:.2f}, crashes {result['crash_rate']:.0%}, speed "
                  f"{result['mean_speed']:.1f} m/s, entropy {row['actor_entropy']:.2f} "
                  f"({(time.time() - start) / update:.2f} s/update)", flush=True)
    print(f"wrote {out / (args.name + '.csv')} (mean of the last row: {np.round(rows[-1]['mean_return'], 2)})")


if __name__ == "__main__":
    main()
