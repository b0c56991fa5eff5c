"""Actor-critic in imagination.

From every posterior state of a training batch the world model dreams ``horizon`` steps ahead
under the actor. Along each dream (time-major, t = 0 .. H):

    r_t = E[reward | s_{t+1}],  g_t = gamma * P(continue | s_{t+1})          for t < H
    R_t = lambda_return(r, v_slow, g, bootstrap = v_slow(s_H))               (returns.py)
    w_t = (1 - terminal_start) * prod_{k<t} g_k                              (sg)

    critic loss = -mean_t w_t * log Normal(R_t; v(s_t), 1)
    actor loss  = -mean_t w_t * [ rho * log pi(a_t | s_t) * sg(R_t - v(s_t))
                                  + (1 - rho) * R_t  +  eta * H[pi(. | s_t)] ]

With ``replay_critic`` = beta > 0 (DreamerV3's critic replay loss) the critic also learns from
real experience: along each replay sequence, R^rep_t = replay_lambda_return(real r, real
terminal, annotations v_t = R_0 of the dream started at s_t), and the critic loss gains
beta * -mean_t w^rep_t log Normal(R^rep_t; v(s_t), 1). Real crashes then reach the critic even
where the dream does not draw them.

``rho = 1`` is REINFORCE with the critic as baseline (DreamerV2 on Atari); ``rho = 0``
backpropagates R_t through the dynamics into the actor via straight-through actions.
The slow critic, a copy refreshed every ``slow_critic_every`` updates, gives the targets.
With ``return_norm`` (DreamerV3) advantages are divided by max(1, P95(R) - P5(R)), tracked
as a moving average, so the entropy bonus means the same at any reward scale.
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from .distributions import OneHotDist, mix_uniform, unit_normal
from .networks import MLP, adam, resolve_precision
from .returns import lambda_return, replay_lambda_return
from .rssm import State, features


class Dream(NamedTuple):
    """Dreams from N start states, time-major, with everything both losses need."""

    feat: tf.Tensor  # (H+1, N, F)  features of s_0 .. s_H
    actions: tf.Tensor  # (H, N, A)  a_t, taken in s_t (one-hot, straight-through)
    reward: tf.Tensor  # (H, N)  r_t = E[reward | s_{t+1}]
    discount: tf.Tensor  # (H, N)  g_t = gamma * P(continue | s_{t+1})
    returns: tf.Tensor  # (H, N)  lambda-returns R_t
    weights: tf.Tensor  # (H, N)  w_t, stop-gradient


class ActorCritic(keras.layers.Layer):
    def __init__(self, config, num_actions: int, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        units, layers, precision = config.mlp_units, config.mlp_layers, resolve_precision(config.precision)
        self.actor = MLP(units, layers, num_actions, precision, name="actor")
        self.critic = MLP(units, layers, 1, precision, name="critic")
        self.slow_critic = MLP(units, layers, 1, precision, name="slow_critic")
        self.return_scale = self.add_weight(shape=(), initializer="ones", trainable=False,
                                            name="return_scale")
        self.actor_opt = adam(config, config.actor_lr, "actor_opt")
        self.critic_opt = adam(config, config.critic_lr, "critic_opt")

    def policy(self, feat) -> OneHotDist:
        """pi(a | s): a one-hot categorical over actions, (..., F) -> event (A,)."""
        return OneHotDist(mix_uniform(self.actor(feat), self.config.actor_unimix))

    def value(self, feat, slow: bool = False) -> tf.Tensor:
        """v(s): (..., F) -> (...)."""
        return (self.slow_critic if slow else self.critic)(feat)[..., 0]

    def update_slow_critic(self) -> None:
        for slow, fast in zip(self.slow_critic.weights, self.critic.weights):
            slow.assign(fast)

    def imagine_returns(self, world_model, start: State, start_terminal) -> Dream:
        """Dream from ``start`` (N, ...) and compute what both losses need (a :class:`Dream`);
        ``start_terminal`` (N,) is 1 where the start state is a crash."""
        cfg = self.config
        states, actions = world_model.rssm.imagine(self.policy, start, cfg.horizon)
        feat = features(states)  # (H+1, N, F)
        reward = world_model.reward_dist(feat[1:]).mean()  # (H, N): reward on reaching s_{t+1}
        discount = cfg.gamma * world_model.continue_dist(feat[1:]).mean()  # (H, N)
        value_slow = self.value(feat, slow=True)  # (H+1, N)
        returns = lambda_return(reward, value_slow[:-1], discount, value_slow[-1], cfg.lambda_)
        alive = 1.0 - start_terminal  # (N,)
        weights = tf.math.cumprod(tf.concat([alive[None], discount[:-1]], 0), 0)  # (H, N)
        return Dream(feat, actions, reward, discount, returns, tf.stop_gradient(weights))

    def train(self, world_model, post: State, batch) -> dict:
        """One actor and one critic Adam step on dreams from every posterior state of a batch
        (B, T, ...); the world model is not changed. Returns metrics prefixed ``actor/``,
        ``critic/`` and ``imagine/``."""
        cfg = self.config
        start = tf.nest.map_structure(lambda x: tf.stop_gradient(_merge_batch_time(x)), post)  # (B*T, ...)
        start_terminal = tf.reshape(batch.terminal, [-1])
        with tf.GradientTape(persistent=True) as tape:
            dream = self.imagine_returns(world_model, start, start_terminal)
            actor_loss, actor_metrics = self.actor_loss(dream.feat, dream.actions, dream.returns, dream.weights)
            critic_loss, critic_metrics = self.critic_loss(dream.feat, dream.returns, dream.weights)
            if cfg.replay_critic > 0:
                replay_loss, replay_metrics = self.replay_critic_loss(post, batch, dream.returns[0])
                critic_loss += cfg.replay_critic * replay_loss
                critic_metrics.update(replay_metrics)
        actor_grads = tape.gradient(actor_loss, self.actor.trainable_variables)
        critic_grads = tape.gradient(critic_loss, self.critic.trainable_variables)
        del tape
        self.actor_opt.apply_gradients(zip(actor_grads, self.actor.trainable_variables))
        self.critic_opt.apply_gradients(zip(critic_grads, self.critic.trainable_variables))
        metrics = {f"actor/{k}": v for k, v in actor_metrics.items()}
        metrics.update({f"critic/{k}": v for k, v in critic_metrics.items()})
        metrics.update({
            "actor/loss": actor_loss, "critic/loss": critic_loss,
            "actor/grad_norm": tf.linalg.global_norm(actor_grads),
            "critic/grad_norm": tf.linalg.global_norm(critic_grads),
            "imagine/return": tf.reduce_mean(dream.returns),
            "imagine/reward": tf.reduce_mean(dream.reward),
            "imagine/continue": tf.reduce_mean(dream.discount) / cfg.gamma,
        })
        return metrics

    def actor_loss(self, feat, actions, returns, weights):
        """REINFORCE/dynamics mix with entropy bonus; feat (H+1, N, F). Returns (loss, metrics).

        With ``return_norm`` each call also updates the moving return scale (a training step).
        """
        cfg = self.config
        sg = tf.stop_gradient
        policy = self.policy(sg(feat[:-1]))
        baseline = self.value(sg(feat[:-1]))
        scale = self._return_scale(returns) if cfg.return_norm else 1.0
        advantage = sg(returns - baseline) / scale
        entropy = policy.entropy()
        objective = cfg.actor_entropy * entropy
        # A term of weight 0 is left out: 0 * dynamics would still make TensorFlow
        # back-propagate through the whole imagination rollout.
        if cfg.actor_grad_rho > 0:  # REINFORCE
            objective += cfg.actor_grad_rho * policy.log_prob(sg(actions)) * advantage
        if cfg.actor_grad_rho < 1:  # dynamics backpropagation
            objective += (1.0 - cfg.actor_grad_rho) * returns / scale
        loss = -tf.reduce_mean(weights * objective)
        return loss, {"actor_entropy": tf.reduce_mean(entropy), "advantage": tf.reduce_mean(advantage),
                      "return_scale": tf.convert_to_tensor(scale, tf.float32)}

    def critic_loss(self, feat, returns, weights):
        """-mean w_t log Normal(R_t; v(s_t), 1). Returns (loss, metrics)."""
        value = unit_normal(self.critic(tf.stop_gradient(feat[:-1]))[..., 0], 0)
        loss = -tf.reduce_mean(weights * value.log_prob(tf.stop_gradient(returns)))
        return loss, {"value": tf.reduce_mean(value.mean())}

    def replay_critic_loss(self, post: State, batch, start_returns):
        """The critic's loss on the batch's real returns (DreamerV3's critic replay loss).

        start_returns (B*T,) are the dreams' R_0, one per posterior state: the value annotations.
        """
        cfg = self.config
        time_major = lambda x: tf.transpose(x, [1, 0])  # (B, T) -> (T, B)  # noqa: E731
        annotation = time_major(tf.reshape(tf.stop_gradient(start_returns), tf.shape(batch.reward)))
        returns, weights = replay_lambda_return(time_major(batch.reward), time_major(batch.terminal),
                                                time_major(batch.is_first), annotation,
                                                cfg.gamma, cfg.lambda_)  # (T-1, B)
        feat = tf.stop_gradient(tf.transpose(features(post), [1, 0, 2]))  # (T, B, F)
        loss, metrics = self.critic_loss(feat, returns, weights)
        mean_return = tf.reduce_sum(weights * returns) / tf.maximum(tf.reduce_sum(weights), 1.0)
        return loss, {"replay_loss": loss, "replay_return": mean_return,
                      "replay_value": metrics["value"]}

    def _return_scale(self, returns, decay: float = 0.99):
        """Moving average of max(1, P95(R) - P5(R))."""
        percentiles = tfp.stats.percentile(tf.stop_gradient(returns), [5.0, 95.0])
        spread = tf.maximum(1.0, percentiles[1] - percentiles[0])
        self.return_scale.assign(decay * self.return_scale + (1 - decay) * spread)
        return tf.identity(self.return_scale)


def _merge_batch_time(x):
    """(B, T, ...) -> (B * T, ...)."""
    return tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))
