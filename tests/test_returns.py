"""lambda_return against a plain numpy loop and hand-worked cases."""

import numpy as np
import tensorflow as tf

from dreamer_lite.returns import lambda_return


def numpy_lambda_return(reward, value, discount, bootstrap, lam):
    """Independent reference: R_t = r_t + g_t ((1 - lam) v_{t+1} + lam R_{t+1}), v_T = R_T = bootstrap."""
    T = len(reward)
    out = np.zeros_like(reward)
    next_return = bootstrap
    for t in reversed(range(T)):
        next_value = value[t + 1] if t + 1 < T else bootstrap
        out[t] = reward[t] + discount[t] * ((1 - lam) * next_value + lam * next_return)
        next_return = out[t]
    return out


def test_matches_numpy_loop_on_random_inputs():
    rng = np.random.default_rng(0)
    for lam in (0.0, 0.5, 0.95, 1.0):
        reward, value = rng.normal(size=(15, 7)), rng.normal(size=(15, 7))
        discount, bootstrap = rng.uniform(0, 1, (15, 7)), rng.normal(size=7)
        got = lambda_return(tf.constant(reward), tf.constant(value), tf.constant(discount),
                            tf.constant(bootstrap), lam).numpy()
        np.testing.assert_allclose(got, numpy_lambda_return(reward, value, discount, bootstrap, lam),
                                   rtol=1e-10, atol=1e-10)


def test_hand_worked_two_steps():
    # T = 2, lambda = 0.5: R_1 = 1 + 0.9 * 10 = 10; R_0 = 2 + 0.5 * (0.5 * 3 + 0.5 * 10) = 5.25
    got = lambda_return(tf.constant([2.0, 1.0]), tf.constant([99.0, 3.0]), tf.constant([0.5, 0.9]),
                        tf.constant(10.0), 0.5).numpy()
    np.testing.assert_allclose(got, [5.25, 10.0])


def test_lambda_one_is_discounted_sum_and_zero_is_td():
    reward, gamma = np.array([1.0, 2.0, 3.0]), 0.9
    discount, value = np.full(3, gamma), np.array([0.0, 5.0, 7.0])
    mc = lambda_return(tf.constant(reward), tf.constant(value), tf.constant(discount), tf.constant(4.0, tf.float64), 1.0)
    expected = 1 + gamma * 2 + gamma**2 * 3 + gamma**3 * 4
    np.testing.assert_allclose(mc.numpy()[0], expected)
    td = lambda_return(tf.constant(reward), tf.constant(value), tf.constant(discount), tf.constant(4.0, tf.float64), 0.0)
    np.testing.assert_allclose(td.numpy(), reward + gamma * np.array([5.0, 7.0, 4.0]))


def test_terminal_discount_cuts_the_future():
    got = lambda_return(tf.constant([1.0, 1.0]), tf.constant([0.0, 50.0]), tf.constant([0.0, 1.0]),
                        tf.constant(100.0), 0.95).numpy()
    assert got[0] == 1.0
