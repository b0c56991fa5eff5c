"""The agent: world model + actor-critic (each with its own optimiser and ``train`` step), one
training update, and acting.

Before the first update, ``pretrain_step`` may train the world model alone on the prefill data;
``behaviour_step`` trains actor and critic alone against a fixed world model (experiments).
One update (``train_step``) on a replay batch:
  1. world-model loss and Adam step (encoder, RSSM, decoder, reward and continue heads);
  2. imagination from every posterior state of the batch (stop-gradient starts);
  3. actor and critic losses and Adam steps (the critic optionally also learns the batch's real
     returns); every ``slow_critic_every`` updates the slow critic copies the critic.
All three optimisers are Adam with eps 1e-5 and global-norm clipping (networks.adam); the world
model owns one, the actor-critic two.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from .actor_critic import ActorCritic
from .replay import Batch
from .rssm import State, features
from .world_model import WorldModel


class Agent:
    def __init__(self, config, num_actions: int):
        self.config, self.num_actions = config, num_actions
        self.world_model = WorldModel(config, num_actions, name="world_model")
        self.actor_critic = ActorCritic(config, num_actions, name="actor_critic")
        self.updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="updates")
        self.pretrain_updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="pretrain_updates")
        self._build()

    def _build(self) -> None:
        """Create every variable (networks and optimiser slots) with one dummy forward pass."""
        cfg = self.config
        steps = cfg.overshoot + 1  # the shortest sequence the loss takes
        image = tf.zeros([1, steps, cfg.frame_height, cfg.frame_width, 1], tf.uint8)
        action = tf.zeros([1, steps, self.num_actions])
        zeros = tf.zeros([1, steps])
        _, post, _ = self.world_model.loss(Batch(image, action, zeros, zeros, tf.ones([1, steps])))
        feat = features(post)
        self.actor_critic.policy(feat)
        self.actor_critic.value(feat)
        self.actor_critic.value(feat, slow=True)
        self.actor_critic.update_slow_critic()
        self.world_model.optimizer.build(self.world_model.trainable_variables)
        self.actor_critic.actor_opt.build(self.actor_critic.actor.trainable_variables)
        self.actor_critic.critic_opt.build(self.actor_critic.critic.trainable_variables)

    @tf.function
    def pretrain_step(self, batch) -> dict:
        """A world-model-only update (``config.pretrain`` of them run on the prefill data)."""
        _, metrics = self.world_model.train(batch)
        self.pretrain_updates.assign_add(1)
        return metrics

    @tf.function
    def train_step(self, batch) -> dict:
        """One update of world model, actor and critic; returns scalar metrics."""
        post, metrics = self.world_model.train(batch)
        metrics.update(self.actor_critic.train(self.world_model, post, batch))
        self._count_update()
        return metrics

    @tf.function
    def behaviour_step(self, batch) -> dict:
        """Actor and critic only, on the posteriors of a batch; the world model stays fixed
        (for experiments on the behaviour side with a trained model)."""
        post, _ = self.world_model.observe(batch.image, batch.action, batch.is_first)
        metrics = self.actor_critic.train(self.world_model, post, batch)
        self._count_update()
        return metrics

    def _count_update(self) -> None:
        """Count the update; every ``slow_critic_every`` updates the slow critic copies the critic."""
        self.updates.assign_add(1)
        if self.updates % self.config.slow_critic_every == 0:
            self.actor_critic.update_slow_critic()

    def initial_policy_state(self) -> tuple[State, tf.Tensor]:
        """(RSSM state, previous one-hot action) for the start of an episode, batch 1."""
        return self.world_model.rssm.initial(1), tf.zeros([1, self.num_actions])

    @tf.function
    def act(self, state: State, prev_action, prev_image, image, is_first, greedy):
        """One policy step in the real environment: update the posterior with the new frame
        (1, H, W, 1), then pick an action (the mode if ``greedy``, else a sample). ``prev_image``
        is the frame before it (read only with ``encoder_frames=2``).
        Returns (one-hot action (1, A), new state)."""
        post = self.world_model.observe_step(state, prev_action, prev_image, image, is_first)
        policy = self.actor_critic.policy(features(post))
        action = tf.cond(greedy, lambda: tf.one_hot(tf.argmax(policy.logits, -1), self.num_actions),
                         lambda: tf.stop_gradient(policy.sample()))
        return action, post

    def variable_groups(self, weights_only: bool = False) -> dict:
        """Every variable, by group, in a fixed order (the checkpoint's layout, runs.py);
        ``weights_only`` leaves out the optimisers' state."""
        groups = {"world_model": self.world_model.weights, "actor_critic": self.actor_critic.weights,
                  "counters": [self.updates, self.pretrain_updates]}
        if not weights_only:
            ac = self.actor_critic
            groups.update({"model_opt": self.world_model.optimizer.variables,
                           "actor_opt": ac.actor_opt.variables, "critic_opt": ac.critic_opt.variables})
        return groups


def seed_everything(seed: int) -> None:
    """Seed Python, numpy, TensorFlow and Keras's initialisers (``tf.random.set_seed`` alone
    leaves Keras 3's initialisers unseeded)."""
    keras.utils.set_random_seed(seed)
