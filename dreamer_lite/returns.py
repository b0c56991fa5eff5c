"""Lambda-returns: the targets the critic learns and the actor maximises.

Time-major, ``[T, ...]``. With rewards r, discounts g, values v and a bootstrap value:

    R_t = r_t + g_t * ((1 - lambda) * v_{t+1} + lambda * R_{t+1}),    v_T = R_T = bootstrap

lambda = 0 gives one-step TD targets r_t + g_t v_{t+1}; lambda = 1 gives the discounted sum of
rewards plus the discounted bootstrap. The recursion runs backwards in time (a reversed scan).
"""

from __future__ import annotations

import tensorflow as tf


def lambda_return(reward, value, discount, bootstrap, lambda_):
    """reward, value, discount: [T, ...]; bootstrap: [...]. Returns R: [T, ...].

    value[0] is not used: R_t looks at v_{t+1} only. v_T is ``bootstrap``.
    """
    next_value = tf.concat([value[1:], bootstrap[None]], 0)  # v_{t+1}, [T, ...]
    inputs = reward + discount * (1.0 - lambda_) * next_value  # the part that needs no R_{t+1}
    returns, acc = [], bootstrap
    for t in reversed(range(reward.shape[0])):
        acc = inputs[t] + discount[t] * lambda_ * acc  # R_t = ... + g_t * lambda * R_{t+1}
        returns.append(acc)
    return tf.stack(returns[::-1], 0)
