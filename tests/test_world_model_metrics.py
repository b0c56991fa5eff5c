"""The world model's crash metrics: masked means checked against numpy on a hand-made batch."""

import numpy as np
import tensorflow as tf

from dreamer_lite.agent import seed_everything
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
    # kl_active_latents: latents whose KL, averaged over the batch, exceeds 0.01 nats. The same
    # seed draws the same posterior samples, so observe() repeats the loss's posteriors and priors.
    tf.random.set_seed(0)
    _, _, metrics = model.loss(batch)
    tf.random.set_seed(0)
    post, prior = model.observe(batch.image, batch.action, batch.is_first)
    p, q = tf.nn.softmax(post.logits).numpy(), tf.nn.softmax(prior.logits).numpy()
    kl = (p * (np.log(p) - np.log(q))).sum(-1).mean((0, 1))  # (stoch,)
    assert float(metrics["kl_active_latents"]) == float(np.sum(kl > 0.01))


def test_crash_metrics_are_zero_without_crashes(random_batch):
    config = make_config("smoke")
    _, _, metrics = WorldModel(config, NUM_ACTIONS).loss(random_batch(config, steps=5))
    assert float(metrics["reward_mae_crash"]) == 0.0 and float(metrics["continue_prob_crash"]) == 0.0


def twin_losses(batch, key, values, **fixed):
    """Two smoke world models (with the ``fixed`` config keys) that differ only in config ``key``,
    with the same weights and the same latent draws: (models, losses, posteriors, metrics), one
    entry per value."""
    seed_everything(0)  # the same initial weights in every process, whatever ran before
    models = [WorldModel(make_config("smoke", **fixed, **{key: value}), NUM_ACTIONS) for value in values]
    for model in models:
        model.loss(batch)  # build the weights
    for target, source in zip(models[1].weights, models[0].weights):
        target.assign(source)
    losses, posts, metrics = [], [], []
    for model in models:
        tf.random.set_seed(1)
        loss, post, metric = model.loss(batch)
        losses.append(float(loss)), posts.append(post), metrics.append(metric)
    return models, losses, posts, metrics


def test_reward_scale_weights_the_gaussian_reward_nll(random_batch):
    """loss(reward_scale=3) - loss(reward_scale=1) = 2 * mean(0.5 (r - mu)^2 + 0.5 ln 2 pi),
    with mu from the reward head (same weights, same latent samples)."""
    config = make_config("smoke")
    batch = random_batch(config, steps=5)
    models, losses, posts, _ = twin_losses(batch, "reward_scale", (1.0, 3.0))
    mu = models[0].reward_dist(features(posts[0])).mean().numpy()
    reward_nll = np.mean(0.5 * (batch.reward - mu) ** 2 + 0.5 * np.log(2 * np.pi))
    np.testing.assert_allclose(losses[1] - losses[0], 2 * reward_nll, rtol=1e-3)


def test_prior_heads_adds_the_heads_nll_on_prior_features(random_batch):
    """loss(prior_heads=2) - loss(prior_heads=0) = 2 * (reward_scale * mean(0.5 (r - mu)^2 + 0.5 ln 2 pi)
    + continue_scale * mean(-[c log p + (1 - c) log(1 - p)])), with mu and p read off the
    prior's features of the same steps, and c = 1 - terminal."""
    terminal = np.zeros((2, 5), np.float32)
    terminal[1, 3] = 1.0
    config = make_config("smoke")
    batch = random_batch(config, steps=5, terminal=terminal)
    models, losses, _, metrics = twin_losses(batch, "prior_heads", (0.0, 2.0))
    model = models[0]
    tf.random.set_seed(1)
    _, prior = model.observe(batch.image, batch.action, batch.is_first)
    prior_feat = features(prior)
    mu = model.reward_dist(prior_feat).mean().numpy()
    logit = model.continue_head(prior_feat).numpy()[..., 0].astype(np.float64)
    p = 1.0 / (1.0 + np.exp(-logit))
    keep = 1.0 - terminal
    reward_nll = np.mean(0.5 * (batch.reward - mu) ** 2 + 0.5 * np.log(2 * np.pi))
    continue_nll = np.mean(-(keep * np.log(p) + (1 - keep) * np.log(1 - p)))
    expected = 2.0 * (config.reward_scale * reward_nll + config.continue_scale * continue_nll)
    np.testing.assert_allclose(losses[1] - losses[0], expected, rtol=1e-3)
    np.testing.assert_allclose(float(metrics[0]["prior_continue_nll"]), continue_nll, rtol=1e-4)
    np.testing.assert_allclose(float(metrics[0]["prior_continue_prob_crash"]), p[1, 3], rtol=1e-4)
