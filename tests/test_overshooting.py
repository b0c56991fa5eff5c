"""Latent overshooting: the open-loop prior against the observed one, and its KL against numpy."""

import numpy as np
import pytest
import tensorflow as tf

from dreamer_lite.config import ConfigError, make_config
from dreamer_lite.environment import NUM_ACTIONS
from dreamer_lite.world_model import WorldModel
from test_world_model_metrics import twin_losses


def test_one_step_open_loop_prior_is_the_observed_prior(random_batch):
    """Dreamed one step from the posterior s_t with a_t, the prior is the one observe() computed
    for step t + 1 (the same GRU input, so the same h and logits)."""
    config = make_config("smoke")
    batch = random_batch(config, steps=6)
    model = WorldModel(config, NUM_ACTIONS)
    post, prior = model.observe(batch.image, batch.action, batch.is_first)
    (guess,) = model.open_loop_priors(post, batch.action, 1)
    np.testing.assert_allclose(guess.deter.numpy(), prior.deter[:, 1:].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(guess.logits.numpy(), prior.logits[:, 1:].numpy(), rtol=1e-5, atol=1e-5)


def numpy_kl(q_logits, p_logits):
    """KL(q || p) of independent categoricals, summed over them: (..., S, K) -> (...)."""
    log_q = q_logits - np.log(np.exp(q_logits).sum(-1, keepdims=True))
    log_p = p_logits - np.log(np.exp(p_logits).sum(-1, keepdims=True))
    return (np.exp(log_q) * (log_q - log_p)).sum((-2, -1))


def dreamed_kls(model, batch, depth):
    """Per dream depth d = 2..depth, the unclipped KL (numpy) of the posterior at t+d against the
    prior dreamed from t, over the starts t whose steps t+1..t+d hold no episode start."""
    tf.random.set_seed(1)
    post, _ = model.observe(batch.image, batch.action, batch.is_first)
    guesses = model.open_loop_priors(post, batch.action, depth)
    batch_size, steps = batch.is_first.shape
    starts = steps - depth
    kls = []
    for d in range(2, depth + 1):
        target = post.logits.numpy()[:, d:d + starts]  # (B, starts, S, K): the posterior at t + d
        kl = numpy_kl(target, guesses[d - 1].logits.numpy())  # (B, starts)
        stays = np.array([[not batch.is_first[b, t + 1:t + d + 1].any() for t in range(starts)]
                          for b in range(batch_size)])
        kls.append(kl[stays])
    return kls


def test_overshoot_adds_the_kl_of_the_dreamed_steps_that_stay_in_one_episode(random_batch):
    """loss(overshoot=3) - loss(overshoot=1) = kl_scale * kl_alpha * mean_{d=2,3} KL_d, with KL_d
    the free-nats-clipped KL of the posterior at t+d against the prior dreamed from t, averaged
    over the starts t whose steps t+1..t+d hold no episode start (one sits inside row 1)."""
    batch = random_batch(make_config("smoke"), steps=7)
    is_first = batch.is_first.copy()
    is_first[1, 3] = 1.0  # row 1: starts 0, 1, 2 cross it at d = 3, 2 and 1
    batch = batch._replace(is_first=is_first)
    # free_nats at the median of the unclipped KLs, so that the floor clips some starts and not
    # all; a large kl_scale lifts the term far above the float32 rounding of a loss of about 4000
    models, *_ = twin_losses(batch, "overshoot", (1, 3), free_nats=0.0)
    free_nats = float(np.median(np.concatenate(dreamed_kls(models[1], batch, 3))))
    fixed = dict(free_nats=free_nats, kl_scale=50.0)
    models, losses, _, metrics = twin_losses(batch, "overshoot", (1, 3), **fixed)
    raw = dreamed_kls(models[1], batch, 3)
    # row 0 keeps all four starts; row 1 keeps t = 0 and 3 at d = 2, and t = 3 at d = 3
    assert [len(kl) for kl in raw] == [6, 5]
    clipped = np.concatenate(raw) <= free_nats
    assert 0 < clipped.sum() < len(clipped)  # the floor acts on some starts, not on all
    config = models[1].config
    expected = config.kl_scale * config.kl_alpha * np.mean([np.maximum(kl, free_nats).mean() for kl in raw])
    np.testing.assert_allclose(losses[1] - losses[0], expected, rtol=1e-3)
    deepest = np.maximum(raw[-1], free_nats).mean()
    np.testing.assert_allclose(float(metrics[1]["overshoot_kl"]), deepest, rtol=1e-4)
    assert "overshoot_kl" not in metrics[0]


@pytest.mark.parametrize("steps", [0, 50])
def test_overshoot_must_fit_in_a_sequence(steps):
    with pytest.raises(ConfigError, match="overshoot must be at least 1 and less than seq_len"):
        make_config("cpu", overshoot=steps)
