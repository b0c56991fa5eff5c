"""How does a trained agent crash, and does its dream see the crash coming?

Drives held-out episodes with the policy's mode and records, per step, the action, the ego's
lane and speed, and the nearest car ahead in the ego's lane (gap between centres in metres; a
car is 5 m long, so a gap of 5 m is bumper to bumper) and its speed. For every crash it reports:

* its kind, from where the other crashed car is: ``rear-end`` (ahead, same lane), ``from behind``
  (behind, same lane) or ``side`` (another lane: a lane change);
* the last steps before it;
* the open-loop dream from k = 1, 2, 3, 5 steps before the crash, fed the actions the agent took:
  P(alive at the crash step) = prod_t P(continue_t), the continue head on dreamed states, averaged
  over 64 dreams. A world model that sees the crash coming says about 0;
* the critic's value v(s) of the real (posterior) state k steps before the crash, against the
  mean value of every state the agent drove through: a critic that knows the crash is coming
  values the states before it low, whether or not the dream draws the crash.

    python experiments/crash_anatomy.py --run book/results/cpu-d --episodes 50 --seed 1000

Writes experiments/results/crash_anatomy/NAME.json (NAME defaults to the run's name).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np
import tensorflow as tf

from dreamer_lite.environment import make_env
from dreamer_lite.evaluate import AgentPolicy, episode_batch, load_agent
from dreamer_lite.rssm import features

from common import drive, write_result  # experiments/ is on the path when this script runs

DREAM_LEADS = (1, 2, 3, 5)  # dream from this many steps before the crash


def observe(world_model, episode: dict):
    """The episode as a batch of one, and its posterior states (1, rows, ...)."""
    batch = episode_batch(episode)
    post, _ = world_model.observe(batch.image, batch.action, batch.is_first)
    return batch, post


def dream_alive_at_crash(world_model, batch, post, samples: int = 64) -> dict:
    """For k in DREAM_LEADS: observe the frames up to k steps before the crash, dream the rest
    with the recorded actions, return mean over dreams of prod_t P(continue_t)."""
    rows = batch.image.shape[1]  # the crash is the last row
    alive_by_lead = {}
    for lead in DREAM_LEADS:
        last_seen = rows - 1 - lead
        if last_seen < 1:
            continue
        state = tf.nest.map_structure(lambda x: tf.repeat(x[:, last_seen], samples, 0), post)
        alive = np.ones(samples)
        for t in range(last_seen + 1, rows):
            state = world_model.rssm.img_step(state, tf.repeat(batch.action[:, t], samples, 0))
            alive *= world_model.continue_dist(features(state)).mean().numpy()
        alive_by_lead[lead] = float(alive.mean())
    return alive_by_lead


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", required=True)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    tf.random.set_seed(args.seed)  # posterior latents and dreams are sampled
    agent, config = load_agent(args.run)
    env, policy = make_env(config), AgentPolicy(agent, greedy=True)
    episodes = [drive(env, policy, seed) for seed in range(args.seed, args.seed + args.episodes)]
    all_steps = [step for episode in episodes for step in episode["steps"]]
    crashes, values = [], []
    for episode in episodes:
        batch, post = observe(agent.world_model, episode)
        value = agent.actor_critic.value(features(post))[0].numpy()  # v(s_t) per row
        values.append(value[:-1] if episode["crashed"] else value)  # a crashed state is worth 0
        if not episode["crashed"]:
            continue
        rows = len(value)
        crashes.append({"seed": episode["seed"], "length": len(episode["steps"]),
                        "kind": episode["kind"],
                        "last_steps": [{k: v for k, v in s.items() if k != "action_index"}
                                       for s in episode["steps"][-6:]],
                        "dream_alive": dream_alive_at_crash(agent.world_model, batch, post),
                        "critic_before": {lead: float(value[rows - 1 - lead]) for lead in DREAM_LEADS
                                          if rows - 1 - lead >= 1}})
        print(crashes[-1]["seed"], crashes[-1]["kind"], crashes[-1]["dream_alive"],
              crashes[-1]["critic_before"], flush=True)
    result = {
        "run": args.run, "episodes": args.episodes, "seed": args.seed,
        "crash_rate": len(crashes) / args.episodes,
        "crash_kinds": dict(Counter(c["kind"] for c in crashes)),
        "lane_share": {lane: n / len(all_steps) for lane, n in
                       sorted(Counter(s["lane"] for s in all_steps).items())},
        "action_share": {name: n / len(all_steps) for name, n in
                         sorted(Counter(s["action"] for s in all_steps).items())},
        "dream_alive_mean": {lead: float(np.mean([c["dream_alive"][lead] for c in crashes
                                                  if lead in c["dream_alive"]]))
                             for lead in DREAM_LEADS} if crashes else {},
        "critic_value_mean": float(np.mean(np.concatenate(values))),
        "critic_before_crash_mean": {lead: float(np.mean([c["critic_before"][lead] for c in crashes
                                                          if lead in c["critic_before"]]))
                                     for lead in DREAM_LEADS} if crashes else {},
        "crashes": crashes,
    }
    write_result("crash_anatomy", args.name or Path(args.run).name, result)
    print(json.dumps({k: v for k, v in result.items() if k != "crashes"}, indent=2))


if __name__ == "__main__":
    main()
