"""KL balancing and free nats.

The world model's KL term pulls the posterior q and the prior p together. DreamerV2 lets the
prior move more than the posterior (alpha = 0.8), so the prior learns to predict rather than
the posterior learning to forget:

    loss = alpha * KL(sg(q) || p) + (1 - alpha) * KL(q || sg(p))

The value equals KL(q || p); only the gradient is split, alpha of it to the prior and
1 - alpha to the posterior. The KL is summed over the ``stoch`` independent categoricals
and averaged over the leading (batch, time) dims. With ``free_nats`` > 0 each part is
``max(KL, free_nats)`` per step (DreamerV3's free bits), so a KL already under that many nats
gets no gradient.
"""

from __future__ import annotations

import tensorflow as tf


def categorical_kl(post_logits, prior_logits, per_latent: bool = False) -> tf.Tensor:
    """KL(q || p) of independent categoricals, summed over them: (..., stoch, classes) -> (...).

    KL = sum_latents sum_classes q * (log q - log p). With ``per_latent`` the sum over latents
    is left out: (..., stoch, classes) -> (..., stoch).
    """
    post_log = tf.nn.log_softmax(post_logits, -1)
    prior_log = tf.nn.log_softmax(prior_logits, -1)
    per_class = tf.exp(post_log) * (post_log - prior_log)
    return tf.reduce_sum(per_class, [-1] if per_latent else [-2, -1])


def kl_balance(post_logits, prior_logits, alpha: float = 0.8, free_nats: float = 0.0):
    """Balanced KL loss on logits (..., stoch, classes).

    Returns ``(loss, kl)``: the scalar loss alpha * KL(sg(q)||p) + (1-alpha) * KL(q||sg(p))
    (each part clipped below at ``free_nats`` per step, then averaged), and the plain
    KL(q || p) per step (...), for logging.
    """
    sg = tf.stop_gradient
    kl_prior = categorical_kl(sg(post_logits), prior_logits)  # trains the prior
    kl_post = categorical_kl(post_logits, sg(prior_logits))  # trains the posterior
    if free_nats > 0:
        kl_prior, kl_post = tf.maximum(kl_prior, free_nats), tf.maximum(kl_post, free_nats)
    loss = alpha * tf.reduce_mean(kl_prior) + (1.0 - alpha) * tf.reduce_mean(kl_post)
    return loss, categorical_kl(post_logits, prior_logits)
