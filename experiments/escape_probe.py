"""Does the agent's dream value the way out of a slow rear-end crash?

The crash anatomy (``crash_anatomy.py``) finds the agents' crashes to be mostly slow rear-end ones:
braked to 20 m/s, the lowest target speed, behind a car slower still, in the right lane, and no
LANE_LEFT. This probe asks what the actor is taught in those states. For each such crash in the
anatomy's record, it re-drives the episode to k steps before the crash, and from the posterior
state s there it estimates, per first action a, the return the actor's training would see:

    Q(s, a) = r(s_1) + gamma * c(s_1) * R^lambda_0(s_1),   s_1 ~ prior(s, a),

with R^lambda from a dream of ``horizon`` steps under the policy (chapter 7), averaged over
``--samples`` dreams, and the advantage Q(s, a) - v(s) that REINFORCE multiplies into
log pi(a | s). It also drives the real road from the same state with the same first action, then
the agent's greedy policy, to say whether the action would have saved it (the episode is
deterministic given its seed and actions).

    python experiments/escape_probe.py --run book/results/cpu-i --anatomy cpu-i

Writes experiments/results/escape_probe/NAME.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import tensorflow as tf
from common import drive, write_result

from dreamer_lite.environment import ACTION_NAMES, NUM_ACTIONS, make_env
from dreamer_lite.evaluate import AgentPolicy, load_agent
from dreamer_lite.rssm import features

HERE = Path(__file__).parent
LEADS = (2, 3, 5)  # probe this many steps before the crash


def posterior_after(agent, env, seed: int, actions: list[int]):
    """Reset with ``seed``, take ``actions`` while observing; the posterior state (1, ...)."""
    frame, _ = env.reset(seed=seed)
    state, prev_action = agent.initial_policy_state()
    is_first, prev_frame = 1.0, frame
    for action in [*actions, None]:
        state = agent.world_model.observe_step(state, prev_action, prev_frame[None], frame[None],
                                               tf.constant([is_first]))
        if action is None:
            return state
        prev_frame = frame
        frame, _, _, _, _ = env.step(action)
        prev_action, is_first = tf.one_hot([action], NUM_ACTIONS), 0.0


def dreamed_action_values(agent, state, samples: int) -> tuple[np.ndarray, float, np.ndarray]:
    """Q(s, a) for every action (A,), v(s), and the policy pi(. | s) (A,), from ``samples`` dreams per action."""
    cfg, model, actor_critic = agent.config, agent.world_model, agent.actor_critic
    start = tf.nest.map_structure(lambda x: tf.repeat(x, samples, 0), state)  # (S, ...)
    q_values = []
    for action in range(NUM_ACTIONS):
        first = model.rssm.img_step(start, tf.one_hot([action] * samples, NUM_ACTIONS))
        feat = features(first)  # (S, F)
        reward = model.reward_dist(feat).mean()  # (S,)
        cont = model.continue_dist(feat).mean()  # (S,)
        returns = actor_critic.imagine_returns(model, first, tf.zeros(samples)).returns
        q_values.append(float(tf.reduce_mean(reward + cfg.gamma * cont * returns[0])))
    feat = features(state)  # (1, F)
    probs = tf.nn.softmax(actor_critic.policy(feat).logits)[0].numpy()
    return np.array(q_values), float(actor_critic.value(feat)[0]), probs


def survives(env, policy, seed: int, actions: list[int], first_action: int) -> bool:
    """Drive ``actions``, then ``first_action``, then the greedy policy: no crash by the end?"""
    frame, _ = env.reset(seed=seed)
    policy.reset()
    forced, done = [*actions, first_action], False
    while not done:
        action = policy(frame)  # the policy observes every frame and updates its state
        if forced:
            action = forced.pop(0)
            policy.prev_action = tf.one_hot([action], NUM_ACTIONS)  # what was really done
        frame, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    return not info["crashed"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", required=True)
    parser.add_argument("--anatomy", required=True, help="name of a crash_anatomy result")
    parser.add_argument("--samples", type=int, default=64)
    args = parser.parse_args()
    tf.random.set_seed(0)
    anatomy = json.loads((HERE / "results" / "crash_anatomy" / f"{args.anatomy}.json").read_text())
    agent, config = load_agent(args.run)
    env, policy = make_env(config), AgentPolicy(agent, greedy=True)
    probes = []
    for crash in anatomy["crashes"]:
        if crash["kind"] != "rear-end":
            continue
        episode = drive(env, policy, crash["seed"])
        if not episode["crashed"]:  # sampled latents can change a greedy episode; probe only crashes
            continue
        actions = episode["actions"].tolist()
        for lead in LEADS:
            if len(actions) - lead < 1:
                continue
            before = actions[: len(actions) - lead]
            q_values, value, probs = dreamed_action_values(agent, posterior_after(agent, env, crash["seed"], before),
                                                    args.samples)
            saved = {ACTION_NAMES[a]: survives(env, policy, crash["seed"], before, a) for a in range(NUM_ACTIONS)}
            probes.append({"seed": crash["seed"], "lead": lead, "value": value,
                           "advantage": dict(zip(ACTION_NAMES, (q_values - value).tolist())),
                           "policy": dict(zip(ACTION_NAMES, probs.tolist())), "survives": saved})
            print(probes[-1], flush=True)
    write_result("escape_probe", args.anatomy, {"run": args.run, "anatomy": args.anatomy, "probes": probes})


if __name__ == "__main__":
    main()

