"""Straight-through sampling of categorical latents.

A one-hot sample has no gradient. The straight-through estimator passes the gradient of the
probabilities through it instead:

    sample_st = sample + probs - stop_gradient(probs)

Its value is the one-hot ``sample``; its gradient is the gradient of ``probs``.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


class OneHotDist(tfd.OneHotCategorical):
    """``OneHotCategorical`` over float32 one-hot vectors whose samples carry straight-through
    gradients: ``sample + probs - stop_gradient(probs)``."""

    def __init__(self, logits, validate_args=False, name="OneHotDist"):
        super().__init__(logits=logits, dtype=tf.float32, validate_args=validate_args, name=name)

    @classmethod  # declared, so TFP does not warn that a subclass with its own __init__ inherits it
    def _parameter_properties(cls, dtype, num_classes=None):
        return tfd.OneHotCategorical._parameter_properties(dtype, num_classes)

    def sample(self, sample_shape=(), seed=None, name="sample"):
        sample = super().sample(sample_shape, seed=seed, name=name)  # one-hot, no gradient
        probs = self.probs_parameter()
        probs = tf.broadcast_to(probs, tf.shape(sample))
        return sample + probs - tf.stop_gradient(probs)


def mix_uniform(logits: tf.Tensor, mix: float) -> tf.Tensor:
    """DreamerV3's unimix: logits of ``(1 - mix) * softmax(logits) + mix / classes``."""
    if mix == 0.0:
        return logits
    probs = tf.nn.softmax(logits, -1)
    probs = (1.0 - mix) * probs + mix / logits.shape[-1]
    return tf.math.log(probs)


def unit_normal(mean: tf.Tensor, event_dims: int) -> tfd.Distribution:
    """Normal(mean, 1) with the last ``event_dims`` axes summed into one event."""
    return tfd.Independent(tfd.Normal(mean, 1.0), event_dims)
