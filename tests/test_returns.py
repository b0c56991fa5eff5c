"""lambda_return and replay_lambda_return against plain numpy loops and hand-worked cases."""

import numpy as np
import tensorflow as tf

from dreamer_lite.returns import lambda_return, replay_lambda_return


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


def numpy_replay_return(reward, terminal, is_first, value, gamma, lam):
    """Independent reference for one sequence: split it into episode pieces and run the return
    backwards inside each piece; a piece that ends in a crash ends with its reward, any other
    piece bootstraps from the value of its last row, which gets no target (weight 0)."""
    T = len(reward)
    out, weight = np.zeros(T - 1), np.ones(T - 1)
    for t in range(T - 1):
        if is_first[t + 1]:  # row t is the last row of its episode
            out[t], weight[t] = value[t], 0.0
            continue
        ret, disc, k = 0.0, 1.0, t
        while True:  # expand R_t = sum of lambda-weighted n-step returns, step by step
            k += 1
            ret += disc * reward[k]
            disc *= gamma * (1 - terminal[k])
            ends = k == T - 1 or is_first[k + 1]
            if ends or disc == 0:
                ret += disc * value[k]
                break
            ret += disc * (1 - lam) * value[k]
            disc *= lam
        out[t] = ret
    return out, weight


def test_replay_return_matches_episode_by_episode_reference():
    rng = np.random.default_rng(1)
    T, gamma, lam = 12, 0.9, 0.8
    reward, value = rng.uniform(0, 1, T), rng.normal(size=T)
    terminal = np.zeros(T); is_first = np.zeros(T)
    terminal[4] = 1; is_first[5] = 1  # a crash at row 4, the next episode resets at row 5
    is_first[9] = 1  # the episode of rows 5-8 ends by the time limit (no crash)
    got, weight = replay_lambda_return(*(tf.constant(x[:, None]) for x in (reward, terminal, is_first, value)),
                                       gamma, lam)
    want, want_weight = numpy_replay_return(reward, terminal, is_first, value, gamma, lam)
    np.testing.assert_allclose(got.numpy()[:, 0], want, rtol=1e-10)
    np.testing.assert_allclose(weight.numpy()[:, 0], want_weight)
    assert list(np.flatnonzero(want_weight == 0)) == [4, 8]


def test_replay_return_hand_worked_crash():
    # rows 0-2 of one episode, crash at row 2: R_1 = r_2 = 0.1 (the crash stops the future);
    # R_0 = r_1 + 0.5 * (0.5 * v_1 + 0.5 * R_1) = 0.8 + 0.5 * (0.5 * 4 + 0.05) = 1.825
    column = lambda *x: tf.constant([[v] for v in x])
    got, weight = replay_lambda_return(column(0.0, 0.8, 0.1), column(0.0, 0.0, 1.0), column(1.0, 0.0, 0.0),
                                       column(9.0, 4.0, 7.0), 0.5, 0.5)
    np.testing.assert_allclose(got.numpy()[:, 0], [1.825, 0.1])
    np.testing.assert_allclose(weight.numpy()[:, 0], [1.0, 1.0])
