"""The world model's crash metrics: masked means checked against numpy on a hand-made batch."""

import numpy as np
import tensorflow as tf

from dreamer_lite.config import make_config
from dreamer_lite.environment import NUM_ACTIONS
from dreamer_lite.rssm import features
from dreamer_lite.world_model import WorldModel


def test_crash_metrics_average_only_the_crash_steps(random_batch):
    terminal = np.zeros((2, 5), np.float32)
    terminal[0, 4], terminal[1, 2] = 1.0, 1.0  # two crash steps
    config = make_config("smoke")
    batch = random_batch(config, steps=5, terminal=terminal)
    tf.random.set_seed(0)
    model = WorldModel(config, NUM_ACTIONS)
    _, post, metrics = model.loss(batch)
    feat = features(post)
    reward = model.reward_dist(feat).mean().numpy()
    keep = model.continue_dist(feat).mean().numpy()
    crashes = terminal.astype(bool)
    np.testing.assert_allclose(float(metrics["reward_mae_crash"]),
                               np.abs(reward - batch.reward)[crashes].mean(), rtol=1e-5)
    np.testing.assert_allclose(float(metrics["continue_prob_crash"]), keep[crashes].mean(), rtol=1e-5)
    assert 0 <= float(metrics["kl_active_latents"]) <= config.stoch


def test_crash_metrics_are_zero_without_crashes(random_batch):
    config = make_config("smoke")
    _, _, metrics = WorldModel(config, NUM_ACTIONS).loss(random_batch(config, steps=5))
    assert float(metrics["reward_mae_crash"]) == 0.0 and float(metrics["continue_prob_crash"]) == 0.0
