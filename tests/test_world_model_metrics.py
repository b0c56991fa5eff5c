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


def test_reward_scale_weights_the_gaussian_reward_nll(random_batch):
    """loss(reward_scale=3) - loss(reward_scale=1) = 2 * mean(0.5 (r - mu)^2 + 0.5 ln 2 pi),
    with mu from the reward head (same weights, same latent samples)."""
    config = make_config("smoke")
    batch = random_batch(config, steps=5)
    models = [WorldModel(make_config("smoke", reward_scale=scale), NUM_ACTIONS) for scale in (1.0, 3.0)]
    models[0].loss(batch), models[1].loss(batch)  # build the weights
    for target, source in zip(models[1].weights, models[0].weights):
        target.assign(source)
    losses, posts = [], []
    for model in models:
        tf.random.set_seed(1)
        loss, post, _ = model.loss(batch)
        losses.append(float(loss)), posts.append(post)
    mu = models[0].reward_dist(features(posts[0])).mean().numpy()
    reward_nll = np.mean(0.5 * (batch.reward - mu) ** 2 + 0.5 * np.log(2 * np.pi))
    np.testing.assert_allclose(losses[1] - losses[0], 2 * reward_nll, rtol=1e-3)
