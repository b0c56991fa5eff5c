"""KL balancing: value, gradient split and free nats, against numpy references."""

import numpy as np
import tensorflow as tf

from dreamer_lite.kl import categorical_kl, kl_balance


def numpy_kl(post_logits, prior_logits):
    def log_softmax(x):
        x = x - x.max(-1, keepdims=True)
        return x - np.log(np.exp(x).sum(-1, keepdims=True))
    q, p = log_softmax(post_logits), log_softmax(prior_logits)
    return (np.exp(q) * (q - p)).sum((-2, -1))


def test_categorical_kl_matches_numpy_and_sums_over_latents():
    rng = np.random.default_rng(1)
    post, prior = rng.normal(size=(3, 5, 32, 8)), rng.normal(size=(3, 5, 32, 8))
    got = categorical_kl(tf.constant(post), tf.constant(prior)).numpy()
    np.testing.assert_allclose(got, numpy_kl(post, prior), rtol=1e-8)
    # 32 independent categoricals: the sum of per-latent KLs, not one 256-way categorical
    one_big = numpy_kl(post.reshape(3, 5, 1, 256), prior.reshape(3, 5, 1, 256))
    assert not np.allclose(got, one_big)


def test_per_latent_kl_by_hand():
    """Two latents of two classes: q = (1/2, 1/2) vs p = (1/4, 3/4), and q = p."""
    post = np.log([[[0.5, 0.5], [0.3, 0.7]]])
    prior = np.log([[[0.25, 0.75], [0.3, 0.7]]])
    first = 0.5 * np.log(0.5 / 0.25) + 0.5 * np.log(0.5 / 0.75)  # 0.1438 nats
    got = categorical_kl(tf.constant(post), tf.constant(prior), per_latent=True).numpy()
    np.testing.assert_allclose(got, [[first, 0.0]], atol=1e-12)


def test_balanced_value_equals_kl():
    rng = np.random.default_rng(2)
    post, prior = rng.normal(size=(4, 6, 5)), rng.normal(size=(4, 6, 5))
    loss, kl = kl_balance(tf.constant(post), tf.constant(prior), alpha=0.8)
    np.testing.assert_allclose(float(loss), numpy_kl(post, prior).mean(), rtol=1e-8)
    np.testing.assert_allclose(kl.numpy(), numpy_kl(post, prior), rtol=1e-8)


def finite_difference(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += eps
        down[index] -= eps
        grad[index] = (f(up) - f(down)) / (2 * eps)
    return grad


def test_gradient_split_alpha_to_prior_and_one_minus_alpha_to_posterior():
    rng = np.random.default_rng(3)
    post, prior = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4))
    alpha = 0.8
    post_v, prior_v = tf.Variable(post), tf.Variable(prior)
    with tf.GradientTape() as tape:
        loss, _ = kl_balance(post_v, prior_v, alpha=alpha)
    grad_post, grad_prior = tape.gradient(loss, [post_v, prior_v])
    dkl_dprior = finite_difference(lambda x: numpy_kl(post, x).mean(), prior)
    dkl_dpost = finite_difference(lambda x: numpy_kl(x, prior).mean(), post)
    np.testing.assert_allclose(grad_prior.numpy(), alpha * dkl_dprior, atol=1e-7)
    np.testing.assert_allclose(grad_post.numpy(), (1 - alpha) * dkl_dpost, atol=1e-7)


def test_free_nats_remove_gradient_below_threshold():
    post, prior = tf.Variable(np.zeros((2, 4, 3))), tf.Variable(np.full((2, 4, 3), 0.1))
    with tf.GradientTape() as tape:
        loss, kl = kl_balance(post, prior, alpha=0.8, free_nats=1.0)
    np.testing.assert_allclose(kl.numpy(), 0.0, atol=1e-12)  # logits shifted by a constant: one distribution
    np.testing.assert_allclose(float(loss), 1.0)
    assert all(np.all(g.numpy() == 0) for g in tape.gradient(loss, [post, prior]))
