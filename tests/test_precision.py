"""Mixed precision (``precision = "mixed_bfloat16"``): the same float32 variables, so the
committed checkpoints load, float32 outputs, and the same answers as float32 up to bfloat16
rounding."""

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf

from dreamer_lite.agent import Agent
from dreamer_lite.environment import NUM_ACTIONS, make_env
from dreamer_lite.evaluate import episode_batch, load_agent
from dreamer_lite.rssm import features
from dreamer_lite.runs import load_checkpoint

RUN = Path(__file__).parents[1] / "book/results/cpu-l"


def real_frames(config, steps=12):
    env = make_env(config)
    frame, _ = env.reset(seed=123)
    frames, actions = [frame], []
    for _ in range(steps):
        frame, *_ = env.step(1)
        frames.append(frame), actions.append(1)
    return episode_batch({"frames": np.stack(frames), "actions": np.array(actions)})


def test_committed_checkpoint_runs_in_bfloat16_like_float32():
    reference, config = load_agent(RUN)  # float32, as the run trained
    mixed = Agent(dataclasses.replace(config, precision="mixed_bfloat16"), NUM_ACTIONS)
    load_checkpoint(mixed, RUN / "checkpoint.npz")
    assert {v.dtype for v in mixed.world_model.weights + mixed.actor_critic.weights} == {"float32"}
    batch = real_frames(config)
    outputs = []
    for agent in (reference, mixed):
        tf.random.set_seed(0)
        wm = agent.world_model
        recon = wm.reconstruct(batch.image, batch.action, batch.is_first)  # (1, T, H, W, 1)
        post, _ = wm.observe(batch.image, batch.action, batch.is_first)
        probs = tf.nn.softmax(agent.actor_critic.policy(features(post)).logits)  # (1, T, A)
        assert recon.dtype == probs.dtype == post.deter.dtype == tf.float32
        outputs.append((recon.numpy(), probs.numpy()))
    (recon32, probs32), (recon16, probs16) = outputs
    # The latents are samples: with the same seed they agree where the probabilities barely
    # differ, so compare means over the frames and steps.
    assert np.abs(recon16 - recon32).mean() < 0.01  # pixels in [0, 1]
    assert np.abs(probs16 - probs32).mean() < 0.05
