"""What the other tests left unasserted: the RSSM's reset at episode starts, the alignment of
imagine_returns against an independent numpy loop, and the slow critic's copy schedule."""

import numpy as np
import tensorflow as tf

from dreamer_lite.agent import Agent, seed_everything
from dreamer_lite.config import make_config
from dreamer_lite.environment import NUM_ACTIONS
from dreamer_lite.rssm import RSSM, State

from test_returns import numpy_lambda_return


def test_obs_step_resets_to_the_initial_state_where_is_first():
    """Row 0 (is_first) must step from the initial state with a zero action, whatever state and
    action it is given; row 1 (not first) keeps its own."""
    rssm = RSSM(deter=8, hidden=8, stoch=3, classes=4)
    rng = np.random.default_rng(0)
    busy = State(tf.constant(rng.normal(size=(2, 8)), tf.float32),
                 tf.one_hot(rng.integers(0, 4, (2, 3)), 4), tf.constant(rng.normal(size=(2, 3, 4)), tf.float32))
    action, embed = tf.one_hot([2, 3], NUM_ACTIONS), tf.constant(rng.normal(size=(2, 6)), tf.float32)
    post, prior = rssm.obs_step(busy, action, embed, tf.constant([1.0, 0.0]))
    fresh_post, fresh_prior = rssm.obs_step(rssm.initial(2), tf.zeros([2, NUM_ACTIONS]), embed, tf.ones([2]))
    np.testing.assert_allclose(prior.deter[0], fresh_prior.deter[0], atol=1e-6)
    np.testing.assert_allclose(post.logits[0], fresh_post.logits[0], atol=1e-5)
    assert not np.allclose(prior.deter[1], fresh_prior.deter[1], atol=1e-3)


def state_from_features(feat, config) -> State:
    """features() inverted: (N, deter + stoch * classes) -> State (logits unused by img_step)."""
    stoch = tf.reshape(feat[:, config.deter:], [-1, config.stoch, config.classes])
    return State(feat[:, :config.deter], stoch, tf.zeros_like(stoch))


def test_imagine_returns_aligns_actions_rewards_continues_and_weights():
    """actions[t] is taken in s_t and leads to s_{t+1}; r_t and g_t are read at s_{t+1}; R is the
    numpy lambda-return of those with the slow critic; w_t = (1 - terminal) prod_{k<t} g_k."""
    config = make_config("smoke", horizon=4, gamma=0.9)
    seed_everything(0)
    agent = Agent(config, NUM_ACTIONS)
    wm, ac = agent.world_model, agent.actor_critic
    start = wm.rssm.initial(3)
    start = wm.rssm.img_step(start, tf.one_hot([0, 1, 2], NUM_ACTIONS))
    start_terminal = tf.constant([0.0, 1.0, 0.0])
    dream = ac.imagine_returns(wm, start, start_terminal)
    feat, actions = dream.feat.numpy(), dream.actions.numpy()
    H = config.horizon
    for t in range(H):  # the transition s_t --a_t--> s_{t+1} (deterministic part)
        following = wm.rssm.img_step(state_from_features(tf.constant(feat[t]), config), actions[t])
        np.testing.assert_allclose(following.deter, feat[t + 1][:, :config.deter], atol=1e-5)
    reward = np.stack([wm.reward_dist(feat[t + 1]).mean().numpy() for t in range(H)])
    discount = np.stack([config.gamma * wm.continue_dist(feat[t + 1]).mean().numpy() for t in range(H)])
    value = np.stack([ac.value(feat[t], slow=True).numpy() for t in range(H + 1)])
    expected = numpy_lambda_return(reward, value[:H], discount, value[H], config.lambda_)
    np.testing.assert_allclose(dream.reward, reward, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dream.discount, discount, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dream.returns, expected, rtol=1e-4, atol=1e-5)
    alive = 1.0 - start_terminal.numpy()
    expected_weights = np.stack([alive * np.prod(discount[:t], axis=0) for t in range(H)])
    np.testing.assert_allclose(dream.weights, expected_weights, rtol=1e-5)


def test_slow_critic_copies_the_critic_every_n_updates(random_batch):
    config = make_config("smoke", batch_size=2, seq_len=4, slow_critic_every=3, critic_lr=1e-2)
    agent = Agent(config, NUM_ACTIONS)
    batch = random_batch(config)
    ac = agent.actor_critic
    weights = lambda layer: [w.numpy().copy() for w in layer.weights]  # noqa: E731
    for update in range(1, 8):
        slow_before = weights(ac.slow_critic)
        agent.behaviour_step(batch)
        slow, critic = weights(ac.slow_critic), weights(ac.critic)
        if update % 3 == 0:
            assert all(np.array_equal(s, c) for s, c in zip(slow, critic)), update
        else:
            assert all(np.array_equal(s, b) for s, b in zip(slow, slow_before)), update
            assert not all(np.array_equal(s, c) for s, c in zip(slow, critic)), update
