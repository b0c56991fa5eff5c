"""Lambda-returns: the targets the critic learns and the actor maximises.

Time-major, ``[T, ...]``. With rewards r, discounts g, values v and a bootstrap value:

    R_t = r_t + g_t * ((1 - lambda) * v_{t+1} + lambda * R_{t+1}),    v_T = R_T = bootstrap

lambda = 0 gives one-step TD targets r_t + g_t v_{t+1}; lambda = 1 gives the discounted sum of
rewards plus the discounted bootstrap. The recursion runs backwards in time (a reversed scan).

``replay_lambda_return`` runs the same recursion along a real replay sequence (the DreamerV3
critic replay loss): real rewards and real crashes, with a value annotation v_t per row.
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


def replay_lambda_return(reward, terminal, is_first, value, gamma, lambda_):
    """Lambda-returns of rows 0 .. T-2 of replay sequences; all inputs [T, B] in the step
    convention of replay.py (r_t and terminal_t arrive with x_t). Returns (R, w): [T-1, B].

        R_t = r_{t+1} + gamma (1 - terminal_{t+1}) ((1 - lambda) v_{t+1} + lambda R_{t+1})

    bootstrapped with R_{T-1} = v_{T-1}. A sequence may cross an episode end: where row t is
    the last of its episode (is_first_{t+1}), R_t = v_t cuts the recursion, so no return leaks
    across the reset, and its weight w_t = 0 (no target there). A crash row t-1 -> t already
    has (1 - terminal_t) = 0, so the crash ends the return with its real reward.
    """
    last_row = is_first[1:]  # [T-1, B]: row t ends its episode
    step_reward = tf.where(last_row > 0, value[:-1], reward[1:])
    step_discount = tf.where(last_row > 0, 0.0, gamma * (1.0 - terminal[1:]))
    returns = lambda_return(step_reward, value[:-1], step_discount, value[-1], lambda_)
    return returns, 1.0 - last_row
