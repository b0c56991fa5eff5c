"""What does a trained agent's policy do near a car, and what does its dream say about one action?

Two measurements on a run's committed checkpoint (chapter 9, "Why an agent that sees the cars
still brakes"):

* ``policy_while_idling``: drive always IDLE (which runs up on slower cars) on seeds 6000-6029
  while the agent watches; per step, the gap to the car ahead in the ego's lane (from the
  simulator) and the agent's action probabilities pi(a | s_t) from its posterior state, averaged
  by gap bins.
* ``dream_vs_road``: from the posterior states after 3 IDLE steps on seeds 7000-7039, 15 steps of
  one action (IDLE, FASTER, SLOWER), dreamed by the world model (reward per step, P(alive) from the
  continue head) and driven for real (reward per step, share alive), and the critic's value of
  the start states.

    python experiments/policy_probe.py --run book/results/cpu-b

Writes experiments/results/policy_probe/NAME.json (NAME defaults to the run's name), so that the
book can show these numbers without the run's weights.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from dreamer_lite.environment import ACTION_NAMES, NUM_ACTIONS, gap_ahead, make_env
from dreamer_lite.evaluate import FixedPolicy, episode_batch, load_agent, run_episode
from dreamer_lite.rssm import features

from common import write_result  # experiments/ is on the path when this script runs

GAP_BINS = [0, 10, 20, 30, 40, 60]


def policy_while_idling(agent, env, seeds):
    """Drive always-IDLE (which runs up on slower cars) while the agent watches: per step, the
    gap ahead and the agent's action probabilities pi(a | s_t) from its posterior state."""
    rows = []
    for seed in seeds:
        frame, _ = env.reset(seed=seed)
        state, prev_action, is_first, done = *agent.initial_policy_state(), 1.0, False
        prev_frame = frame
        while not done:
            state = agent.world_model.observe_step(state, prev_action, prev_frame[None], frame[None],
                                                   tf.constant([is_first]))
            probs = tf.nn.softmax(agent.actor_critic.policy(features(state)).logits)[0].numpy()
            gap = gap_ahead(env, max_ahead=60.0)
            rows.append({"gap": np.nan if gap is None else gap, **dict(zip(ACTION_NAMES, probs))})
            prev_action, is_first, prev_frame = tf.one_hot([1], NUM_ACTIONS), 0.0, frame
            frame, _, terminated, truncated, _ = env.step(1)
            done = terminated or truncated
    return pd.DataFrame(rows)


def probabilities_by_gap(watched: pd.DataFrame) -> pd.DataFrame:
    """Mean action probabilities per bin of the gap to the car ahead ("no car" beyond 60 m)."""
    watched = watched.copy()
    watched["gap ahead (m)"] = pd.cut(watched["gap"], GAP_BINS).astype(str).where(watched["gap"].notna(), "no car")
    return watched.groupby("gap ahead (m)")[list(ACTION_NAMES)].mean()


def posterior_after(agent, env, action, seeds, steps=3):
    """The agent's posterior state after `steps` steps of a fixed action, one per episode (N, ...)."""
    wm, starts = agent.world_model, []
    for seed in seeds:
        episode = run_episode(env, FixedPolicy(action), seed, record=True)
        if episode["length"] > steps:
            batch = episode_batch({"frames": episode["frames"][:steps + 1], "actions": episode["actions"][:steps]})
            post, _ = wm.observe(batch.image, batch.action, batch.is_first)
            starts.append(tf.nest.map_structure(lambda x: x[:, -1], post))
    return tf.nest.map_structure(lambda *xs: tf.concat(xs, 0), *starts)


def dream_fixed_action(agent, start, action, horizon=15):
    """Imagine `horizon` steps of one action from `start`: reward per step and P(still alive)."""
    wm, state, rewards, alive = agent.world_model, start, [], 1.0
    for _ in range(horizon):
        state = wm.rssm.img_step(state, tf.one_hot([action] * start.deter.shape[0], NUM_ACTIONS))
        rewards.append(wm.reward_dist(features(state)).mean().numpy())
        alive = alive * wm.continue_dist(features(state)).mean().numpy()
    return float(np.mean(rewards)), float(np.mean(alive))


def drive_fixed_action(env, seeds, action, lead_action=1, lead_steps=3, horizon=15):
    """The same on the real road: after `lead_steps` of `lead_action`, `horizon` steps of `action`
    (episodes that crash during the lead are skipped, as above). Reward per step, share alive."""
    rewards, survived = [], []
    for seed in seeds:
        env.reset(seed=seed)
        if any(env.step(lead_action)[2] for _ in range(lead_steps)):
            continue
        for t in range(horizon):
            _, reward, terminated, _, _ = env.step(action)
            rewards.append(reward)
            if terminated:
                break
        survived.append(not terminated)
    return float(np.mean(rewards)), float(np.mean(survived))


def dream_vs_road(agent, config, seeds=range(7000, 7040)):
    tf.random.set_seed(0)  # the dream samples its latents
    env = make_env(config)
    start = posterior_after(agent, env, action=1, seeds=seeds)  # 3 IDLE steps: still at ~25 m/s
    rows = {}
    for action in (1, 3, 4):
        reward, alive = dream_fixed_action(agent, start, action)
        real_reward, real_alive = drive_fixed_action(env, seeds, action)
        rows[f"always {ACTION_NAMES[action]}"] = {"dream: reward per step": reward, "real: reward per step": real_reward,
                                                  "dream: P(alive after 15)": alive, "real: share alive after 15": real_alive}
    value = float(agent.actor_critic.value(features(start)).numpy().mean())
    return int(start.deter.shape[0]), rows, value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", required=True)
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    tf.random.set_seed(0)  # posterior latents are sampled
    agent, config = load_agent(args.run)
    watched = policy_while_idling(agent, make_env(config), range(6000, 6030))
    by_gap = probabilities_by_gap(watched)
    starts, rows, value = dream_vs_road(agent, config)
    result = {"run": args.run, "gamma": config.gamma,
              "policy_while_idling": {"seeds": [6000, 6029], "steps": len(watched),
                                      "by_gap": {gap: row.to_dict() for gap, row in by_gap.iterrows()}},
              "dream_vs_road": {"seeds": [7000, 7039], "start_states": starts, "rows": rows,
                                "critic_value": value}}
    write_result("policy_probe", args.name or Path(args.run).name, result)
    print(by_gap.round(3).to_string())
    print(pd.DataFrame(rows).T.round(3).to_string())
    print(f"critic's value of the start states: {value:.1f}")


if __name__ == "__main__":
    main()
