"""The update does no work for a term whose weight is 0: no gradient path is built for it."""

import pytest
import tensorflow as tf

from dreamer_lite.actor_critic import ActorCritic
from dreamer_lite.config import make_config
from dreamer_lite.environment import NUM_ACTIONS
from dreamer_lite.world_model import WorldModel


@pytest.mark.parametrize("rho", [1.0, 0.5])
def test_actor_loss_reaches_the_world_model_only_through_a_nonzero_dynamics_term(rho, random_batch):
    """With rho = 1 (REINFORCE) the actor's loss must not depend on the world model at all:
    a ``0 * dynamics`` term would make TensorFlow back-propagate through the whole dream."""
    config = make_config("smoke", actor_grad_rho=rho)
    world_model, actor_critic = WorldModel(config, NUM_ACTIONS), ActorCritic(config, NUM_ACTIONS)
    batch = random_batch(config)
    post, _ = world_model.observe(batch.image, batch.action, batch.is_first)
    start = tf.nest.map_structure(lambda x: tf.reshape(x, [-1, *x.shape[2:]]), post)  # (B*T, ...)
    with tf.GradientTape() as tape:
        dream = actor_critic.imagine_returns(world_model, start, tf.zeros([start.deter.shape[0]]))
        loss, _ = actor_critic.actor_loss(dream.feat, dream.actions, dream.returns, dream.weights)
    model_variables = world_model.rssm.trainable_variables + world_model.reward_head.trainable_variables
    model_grads = tape.gradient(loss, model_variables)
    assert all(g is None for g in model_grads) == (rho == 1.0)
