"""The recurrent state-space model (RSSM).

The state has a deterministic part ``h`` (a GRU state) and a stochastic part ``z``
(``stoch`` independent categoricals of ``classes`` classes, as one-hot vectors):

    h_t = GRU(h_{t-1}, [z_{t-1}, a_{t-1}])           (img_step: deterministic step)
    prior      p(z_t | h_t)         logits from h_t alone
    posterior  q(z_t | h_t, e_t)    logits from [h_t, e_t], e_t the encoder's embedding

``observe`` runs the posterior over a recorded sequence (the world model learns from it);
``imagine`` runs the prior forward under a policy (the actor learns in it). Where ``is_first``
is set, the previous state and action are zeroed, so sequences may cross episode ends.
Features for every head: ``concat(h_t, flatten(z_t))``.
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import tensorflow as tf

from .distributions import OneHotDist, mix_uniform


class State(NamedTuple):
    """RSSM state; every field has the same leading (batch) dims."""

    deter: tf.Tensor  # (..., deter)           h
    stoch: tf.Tensor  # (..., stoch, classes)  z, one-hot
    logits: tf.Tensor  # (..., stoch, classes)  logits of the distribution z came from


def features(state: State) -> tf.Tensor:
    """(..., deter + stoch * classes): concat(h, flatten(z))."""
    stoch = tf.reshape(state.stoch, tf.concat([tf.shape(state.stoch)[:-2], [-1]], 0))
    return tf.concat([state.deter, stoch], -1)


def stack_states(states: list[State], axis: int = 1) -> State:
    """A list of T states (B, ...) -> one state (B, T, ...) (or (T, B, ...) with axis 0)."""
    return State(*[tf.stack(field, axis) for field in zip(*states)])


class NormGRUCell(keras.layers.Layer):
    """GRU cell with LayerNorm on its gates (DreamerV2):

        r, c, u = split(LayerNorm(W [x, h]))
        c = tanh(sigmoid(r) * c);  u = sigmoid(u - 1)
        h' = u * c + (1 - u) * h

    The -1 biases the update gate toward keeping the old state at initialisation. Only the
    product W [x, h] runs in ``precision``; the norm, the gates and the state stay float32.
    """

    def __init__(self, size: int, precision: str = "float32", **kwargs):
        super().__init__(**kwargs)
        self.size = size
        self.linear = keras.layers.Dense(3 * size, use_bias=False, dtype=precision, name="linear")
        self.norm = keras.layers.LayerNormalization(epsilon=1e-3, dtype="float32", name="norm")

    def call(self, inputs, state):
        parts = self.norm(self.linear(tf.concat([tf.cast(inputs, state.dtype), state], -1)))
        reset, cand, update = tf.split(parts, 3, -1)
        cand = tf.tanh(tf.sigmoid(reset) * cand)
        update = tf.sigmoid(update - 1.0)
        return update * cand + (1.0 - update) * state


class RSSM(keras.layers.Layer):
    """Prior and posterior over ``stoch`` x ``classes`` categorical latents; one-hot actions.

    ``precision`` (networks.py) sets the dense layers' arithmetic; the GRU state, the logits
    and the latents are float32.
    """

    def __init__(self, deter=200, hidden=200, stoch=32, classes=32, unimix=0.0,
                 precision="float32", **kwargs):
        super().__init__(**kwargs)
        self.deter_size, self.stoch_size, self.classes, self.unimix = deter, stoch, classes, unimix
        dense = lambda units, name, activation=None: keras.layers.Dense(
            units, activation=activation, dtype=precision, name=name)
        self.img_in = dense(hidden, "img_in", "elu")
        self.gru = NormGRUCell(deter, precision, name="gru")
        self.prior_hidden = dense(hidden, "prior_hidden", "elu")
        self.prior_logits = dense(stoch * classes, "prior_logits")
        self.post_hidden = dense(hidden, "post_hidden", "elu")
        self.post_logits = dense(stoch * classes, "post_logits")

    def initial(self, batch_size: int) -> State:
        """The all-zero state used at episode starts."""
        return State(tf.zeros([batch_size, self.deter_size]),
                     tf.zeros([batch_size, self.stoch_size, self.classes]),
                     tf.zeros([batch_size, self.stoch_size, self.classes]))

    def _latent(self, logits_flat) -> tuple[tf.Tensor, tf.Tensor]:
        """Flat logits (B, stoch*classes) -> (straight-through sample, logits), (B, stoch, classes)."""
        logits = tf.reshape(tf.cast(logits_flat, tf.float32), [-1, self.stoch_size, self.classes])
        logits = mix_uniform(logits, self.unimix)
        return OneHotDist(logits).sample(), logits

    def img_step(self, prev: State, prev_action) -> State:
        """Prior step: h_t = GRU(h_{t-1}, [z_{t-1}, a_{t-1}]);  z_t ~ p(z_t | h_t)."""
        prev_stoch = tf.reshape(prev.stoch, [-1, self.stoch_size * self.classes])
        x = self.img_in(tf.concat([prev_stoch, prev_action], -1))  # (B, hidden)
        deter = self.gru(x, prev.deter)  # (B, deter)
        stoch, logits = self._latent(self.prior_logits(self.prior_hidden(deter)))
        return State(deter, stoch, logits)

    def obs_step(self, prev: State, prev_action, embed, is_first) -> tuple[State, State]:
        """Posterior step: reset where ``is_first``, take the prior step, then
        z_t ~ q(z_t | h_t, e_t). Returns (posterior, prior)."""
        keep = 1.0 - tf.cast(is_first, tf.float32)[:, None]  # (B, 1)
        prev = State(prev.deter * keep, prev.stoch * keep[..., None], prev.logits * keep[..., None])
        prior = self.img_step(prev, prev_action * keep)
        x = self.post_hidden(tf.concat([prior.deter, embed], -1))
        stoch, logits = self._latent(self.post_logits(x))
        return State(prior.deter, stoch, logits), prior

    def observe(self, embed, action, is_first, start: State | None = None) -> tuple[State, State]:
        """Posteriors and priors over a sequence.

        embed (B, T, E), action (B, T, A) holding a_{t-1}, is_first (B, T) -> two States (B, T, ...).
        """
        state = start if start is not None else self.initial(tf.shape(embed)[0])
        posts, priors = [], []
        for t in range(embed.shape[1]):
            state, prior = self.obs_step(state, action[:, t], embed[:, t], is_first[:, t])
            posts.append(state)
            priors.append(prior)
        return stack_states(posts), stack_states(priors)

    def imagine(self, policy, start: State, horizon: int) -> tuple[State, tf.Tensor]:
        """Roll the prior forward under ``policy`` (features -> action distribution).

        start (N, ...) -> states (H+1, N, ...) with the start at index 0, and actions
        (H, N, A) where actions[t] was taken in states[t] and led to states[t+1].
        """
        states, actions = [start], []
        for _ in range(horizon):
            action = policy(tf.stop_gradient(features(states[-1]))).sample()
            states.append(self.img_step(states[-1], action))
            actions.append(action)
        return stack_states(states, axis=0), tf.stack(actions, 0)
