"""The agent: world model + actor-critic, their optimisers, one training update, and acting.

Before the first update, ``pretrain_step`` may train the world model alone on the prefill data;
``behaviour_step`` trains actor and critic alone against a fixed world model (experiments).
One update (``train_step``) on a replay batch:
  1. world-model loss and Adam step (encoder, RSSM, decoder, reward and continue heads);
  2. imagination from every posterior state of the batch (stop-gradient starts);
  3. actor and critic losses and Adam steps (the critic optionally also learns the batch's real
     returns); every ``slow_critic_every`` updates the slow critic copies the critic.
All three optimisers are Adam with eps 1e-5 and global-norm clipping.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from .actor_critic import ActorCritic
from .replay import Batch
from .returns import replay_lambda_return
from .rssm import State, features
from .world_model import WorldModel


def _adam(config, learning_rate, name):
    return keras.optimizers.Adam(learning_rate, epsilon=config.adam_eps,
                                 global_clipnorm=config.grad_clip, name=name)


def _grad_norms(grads_by_module: dict) -> dict:
    """Global gradient norm of each named module: {name: [grads]} -> {grad_norm/name: scalar}."""
    return {f"grad_norm/{name}": tf.linalg.global_norm([g for g in grads if g is not None])
            for name, grads in grads_by_module.items()}


class Agent:
    def __init__(self, config, num_actions: int):
        self.config, self.num_actions = config, num_actions
        self.world_model = WorldModel(config, num_actions, name="world_model")
        self.actor_critic = ActorCritic(config, num_actions, name="actor_critic")
        self.model_opt = _adam(config, config.model_lr, "model_opt")
        self.actor_opt = _adam(config, config.actor_lr, "actor_opt")
        self.critic_opt = _adam(config, config.critic_lr, "critic_opt")
        self.updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="updates")
        self.pretrain_updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="pretrain_updates")
        self._build()

    def _build(self) -> None:
        """Create every variable (networks and optimiser slots) with one dummy forward pass."""
        cfg = self.config
        image = tf.zeros([1, 2, cfg.frame_height, cfg.frame_width, 1], tf.uint8)
        action = tf.zeros([1, 2, self.num_actions])
        is_first = tf.ones([1, 2])
        _, post, _ = self.world_model.loss(Batch(image, action, tf.zeros([1, 2]), tf.zeros([1, 2]), is_first))
        feat = features(post)
        self.actor_critic.policy(feat)
        self.actor_critic.value(feat)
        self.actor_critic.value(feat, slow=True)
        self.actor_critic.update_slow_critic()
        self.model_opt.build(self.world_model.trainable_variables)
        self.actor_opt.build(self.actor_critic.actor.trainable_variables)
        self.critic_opt.build(self.actor_critic.critic.trainable_variables)

    def _model_update(self, batch):
        """World-model loss and Adam step; returns (posterior states, metrics)."""
        wm = self.world_model
        modules = {"encoder": wm.encoder, "rssm": wm.rssm, "decoder": wm.decoder,
                   "reward_head": wm.reward_head, "continue_head": wm.continue_head}
        with tf.GradientTape() as tape:
            model_loss, post, wm_metrics = wm.loss(batch)
        variables = {name: module.trainable_variables for name, module in modules.items()}
        grads = tape.gradient(model_loss, variables)
        self.model_opt.apply_gradients(zip(tf.nest.flatten(grads), tf.nest.flatten(variables)))
        metrics = {f"wm/{k}": v for k, v in wm_metrics.items()}
        metrics["wm/loss"] = model_loss
        metrics.update({f"wm/{k}": v for k, v in _grad_norms(grads).items()})
        return post, metrics

    @tf.function
    def pretrain_step(self, batch) -> dict:
        """A world-model-only update (``config.pretrain`` of them run on the prefill data)."""
        _, metrics = self._model_update(batch)
        self.pretrain_updates.assign_add(1)
        return metrics

    @tf.function
    def train_step(self, batch) -> dict:
        """One update of world model, actor and critic; returns scalar metrics."""
        post, metrics = self._model_update(batch)
        metrics.update(self._behaviour_update(post, batch))
        return metrics

    @tf.function
    def behaviour_step(self, batch) -> dict:
        """Actor and critic only, on the posteriors of a batch; the world model stays fixed
        (for experiments on the behaviour side with a trained model)."""
        wm = self.world_model
        post, _ = wm.rssm.observe(wm.encoder(batch.image), batch.action, batch.is_first)
        return self._behaviour_update(post, batch)

    def _behaviour_update(self, post, batch) -> dict:
        """Imagine from every posterior state (B, T) and take one actor and one critic step."""
        wm, ac = self.world_model, self.actor_critic
        start = tf.nest.map_structure(lambda x: tf.stop_gradient(_merge_batch_time(x)), post)
        start_terminal = tf.reshape(batch.terminal, [-1])
        with tf.GradientTape(persistent=True) as tape:
            dream = ac.imagine_returns(wm, start, start_terminal)
            actor_loss, actor_metrics = ac.actor_loss(dream.feat, dream.actions, dream.returns, dream.weights)
            critic_loss, critic_metrics = ac.critic_loss(dream.feat, dream.returns, dream.weights)
            if self.config.replay_critic > 0:
                replay_loss, replay_metrics = self._replay_critic_loss(post, batch, dream.returns[0])
                critic_loss += self.config.replay_critic * replay_loss
                critic_metrics.update(replay_metrics)
        actor_grads = tape.gradient(actor_loss, ac.actor.trainable_variables)
        critic_grads = tape.gradient(critic_loss, ac.critic.trainable_variables)
        del tape
        self.actor_opt.apply_gradients(zip(actor_grads, ac.actor.trainable_variables))
        self.critic_opt.apply_gradients(zip(critic_grads, ac.critic.trainable_variables))
        self.updates.assign_add(1)
        if self.updates % self.config.slow_critic_every == 0:
            ac.update_slow_critic()
        metrics = {f"actor/{k}": v for k, v in actor_metrics.items()}
        metrics.update({f"critic/{k}": v for k, v in critic_metrics.items()})
        metrics.update({
            "actor/loss": actor_loss, "critic/loss": critic_loss,
            "actor/grad_norm": tf.linalg.global_norm(actor_grads),
            "critic/grad_norm": tf.linalg.global_norm(critic_grads),
            "imagine/return": tf.reduce_mean(dream.returns),
            "imagine/reward": tf.reduce_mean(dream.reward),
            "imagine/continue": tf.reduce_mean(dream.discount) / self.config.gamma,
        })
        return metrics

    def _replay_critic_loss(self, post, batch, start_returns):
        """The critic's loss on the batch's real returns (DreamerV3's critic replay loss).

        start_returns (B*T,) are the dreams' R_0, one per posterior state: the value annotations.
        """
        cfg = self.config
        time_major = lambda x: tf.transpose(x, [1, 0])  # (B, T) -> (T, B)
        annotation = time_major(tf.reshape(tf.stop_gradient(start_returns), tf.shape(batch.reward)))
        returns, weights = replay_lambda_return(time_major(batch.reward), time_major(batch.terminal),
                                                time_major(batch.is_first), annotation,
                                                cfg.gamma, cfg.lambda_)  # (T-1, B)
        feat = tf.stop_gradient(tf.transpose(features(post), [1, 0, 2]))  # (T, B, F)
        loss, metrics = self.actor_critic.critic_loss(feat, returns, weights)
        mean_return = tf.reduce_sum(weights * returns) / tf.maximum(tf.reduce_sum(weights), 1.0)
        return loss, {"replay_loss": loss, "replay_return": mean_return,
                      "replay_value": metrics["value"]}

    def initial_policy_state(self) -> tuple[State, tf.Tensor]:
        """(RSSM state, previous one-hot action) for the start of an episode, batch 1."""
        return self.world_model.rssm.initial(1), tf.zeros([1, self.num_actions])

    @tf.function
    def act(self, state: State, prev_action, image, is_first, greedy):
        """One policy step in the real environment: update the posterior with the new frame
        (1, H, W, 1), then pick an action (the mode if ``greedy``, else a sample).
        Returns (one-hot action (1, A), new state)."""
        embed = self.world_model.encoder(image)
        post, _ = self.world_model.rssm.obs_step(state, prev_action, embed, is_first)
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
            groups.update({"model_opt": self.model_opt.variables, "actor_opt": self.actor_opt.variables,
                           "critic_opt": self.critic_opt.variables})
        return groups


def seed_everything(seed: int) -> None:
    """Seed Python, numpy, TensorFlow and Keras's initialisers (``tf.random.set_seed`` alone
    leaves Keras 3's initialisers unseeded)."""
    keras.utils.set_random_seed(seed)


def _merge_batch_time(x):
    """(B, T, ...) -> (B * T, ...)."""
    return tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))
