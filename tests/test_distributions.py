"""Straight-through one-hot samples: value, gradient, frequencies, and no warnings."""

import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from dreamer_lite.distributions import OneHotDist, mix_uniform


def test_sample_is_one_hot_float32():
    sample = OneHotDist(tf.random.normal([6, 4, 5])).sample()
    assert sample.dtype == tf.float32 and sample.shape == (6, 4, 5)
    np.testing.assert_allclose(tf.reduce_sum(sample, -1).numpy(), 1.0, atol=1e-6)
    assert set(np.unique(np.round(sample.numpy(), 6))) <= {0.0, 1.0}


def test_straight_through_gradient_equals_gradient_through_probs():
    logits = tf.Variable(tf.random.normal([3, 5], seed=1))
    weights = tf.random.normal([3, 5], seed=2)
    with tf.GradientTape() as tape:
        sample = OneHotDist(logits).sample(seed=7)
        loss = tf.reduce_sum(weights * sample)
    grad_st = tape.gradient(loss, logits)
    with tf.GradientTape() as tape:
        loss_probs = tf.reduce_sum(weights * tf.nn.softmax(logits))
    grad_probs = tape.gradient(loss_probs, logits)
    np.testing.assert_allclose(grad_st.numpy(), grad_probs.numpy(), rtol=1e-5, atol=1e-7)


def test_sample_frequencies_follow_softmax():
    logits = tf.constant([1.0, 0.0, -1.0, 2.0])
    samples = OneHotDist(logits).sample(40_000, seed=3).numpy()
    freq = samples.mean(0)
    probs = tf.nn.softmax(logits).numpy()
    standard_error = np.sqrt(probs * (1 - probs) / 40_000)
    assert np.all(np.abs(freq - probs) < 5 * standard_error)


def test_construct_and_sample_emit_no_warning():
    """Python warnings and TFP's logged warnings (e.g. about inherited parameter properties)."""
    code = ("import warnings; warnings.simplefilter('error', UserWarning)\n"
            "import tensorflow as tf\n"
            "from dreamer_lite.distributions import OneHotDist\n"
            "dist = OneHotDist(tf.zeros([2, 3])); dist.log_prob(dist.sample()); dist.sample(4)\n"
            "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
    python_lines = [line for line in result.stderr.splitlines()
                    if not line.startswith(("I0000", "E0000", "W0000", "WARNING: All log messages"))]
    assert not [line for line in python_lines if "warn" in line.lower() or "OneHotDist" in line], python_lines


def test_unimix_mixes_uniform():
    logits = tf.constant([[10.0, 0.0, 0.0, 0.0]])
    probs = tf.nn.softmax(mix_uniform(logits, 0.01)).numpy()
    expected = 0.99 * tf.nn.softmax(logits).numpy() + 0.01 / 4
    np.testing.assert_allclose(probs, expected, rtol=1e-5)
