"""The world model: encoder, RSSM, decoder, reward head and continue head.

Every head returns a distribution, so every loss has one form, ``-head(feat).log_prob(target)``:

    image     Normal(decoder(feat), 1), summed over pixels      target x_t / 255 - 0.5
    reward    Normal(reward_head(feat), 1)                      target r_t
    continue  Bernoulli(logits=continue_head(feat))             target 1 - terminal_t
    loss = image_nll + reward_scale * reward_nll + continue_scale * continue_nll + kl_scale * kl_balance
           + prior_heads * (reward_scale * prior_reward_nll + continue_scale * prior_continue_nll)
           + kl_scale * kl_alpha * overshoot_kl

The last two lines are not DreamerV2's (``prior_heads`` is 0 and ``overshoot`` 1 by default).
The heads are trained on posterior features, but in the dream they read prior features:
``prior_heads > 0`` also trains them, and through the straight-through sample the prior, on the
prior's features of the same steps, so that the dream learns to predict a crash one step before
it sees it (``prior_continue_prob_crash`` logs how well it does). ``overshoot`` D > 1 asks the
prior to predict further than one step, as PlaNet's latent overshooting does
(:meth:`WorldModel.overshoot_kl`): the dream runs open loop, and a crash two steps ahead is what a
lane change can still escape.

The image NLL of a unit-variance Normal is 0.5 * SSE + (H * W) * 0.5 * ln(2 pi): for 4096 pixels
it never falls below 3764 however good the reconstruction. The 2022 team read "3800" as a
plateau; we log the per-pixel squared error (``image_mse``) beside it. Also logged: the reward
error and the predicted continue probability on crash steps (a model that misses crashes cannot
teach caution), and how many latents carry more than 0.01 nats of KL (``kl_active_latents``).
(The continue head's mean times gamma is DreamerV2's discount head, whose target is gamma * (1 - terminal).)

What the encoder sees (:meth:`WorldModel.embed`) is not DreamerV2's either when
``encoder_frames`` is 2: the frame beside the one before it, ``[x_{t-1}, x_t]`` on the channel
axis (DQN stacks frames the same way), so that one embedding holds how fast the other cars close
in. The decoder still draws the one frame x_t. Where no earlier frame of the episode is at hand
(its first step, and the first step of a replay sequence) x_t stands in for x_{t-1}.
"""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from .distributions import unit_normal
from .kl import categorical_kl, kl_balance
from .networks import MLP, Decoder, Encoder, adam, preprocess, resolve_precision
from .rssm import RSSM, features

tfd = tfp.distributions


class WorldModel(keras.layers.Layer):
    def __init__(self, config, num_actions: int, **kwargs):
        super().__init__(**kwargs)
        self.config, self.num_actions = config, num_actions
        precision = resolve_precision(config.precision)
        self.encoder = Encoder(config.cnn_depth, precision, name="encoder")
        self.rssm = RSSM(config.deter, config.hidden, config.stoch, config.classes, config.unimix,
                         precision, name="rssm")
        self.decoder = Decoder(config.cnn_depth, config.frame_height, config.frame_width,
                               precision, name="decoder")
        self.reward_head = MLP(config.mlp_units, config.mlp_layers, 1, precision, name="reward_head")
        self.continue_head = MLP(config.mlp_units, config.mlp_layers, 1, precision, name="continue_head")
        self.optimizer = adam(config, config.model_lr, "model_opt")

    def embed(self, image, is_first):
        """Embeddings e_t of a sequence of frames: (B, T, H, W, 1) uint8 -> (B, T, E)."""
        previous = tf.concat([image[:, :1], image[:, :-1]], 1)  # (B, T, H, W, 1): x_{t-1}
        return self.embed_step(previous, image, is_first)

    def embed_step(self, prev_frame, frame, is_first):
        """The embeddings of frames x_t beside x_{t-1}: (..., H, W, 1) uint8 twice and is_first
        (...) -> (..., E)."""
        if self.config.encoder_frames == 1:
            return self.encoder(frame)
        return self.encoder(frame_pair(prev_frame, frame, is_first))

    def observe(self, image, action, is_first):
        """Posterior and prior states over recorded frames (B, T, H, W, 1), actions a_{t-1}
        (B, T, A) and is_first (B, T): RSSM.observe on :meth:`embed`."""
        return self.rssm.observe(self.embed(image, is_first), action, is_first)

    def observe_step(self, state, prev_action, prev_frame, frame, is_first):
        """The posterior state after one real frame (B, H, W, 1), given the state and action
        before it and the frame before it (read only with ``encoder_frames=2``)."""
        embed = self.embed_step(prev_frame, frame, is_first)
        return self.rssm.obs_step(state, prev_action, embed, is_first)[0]

    def open_loop_priors(self, post, action, distance: int) -> list:
        """The prior dreamed d = 1..distance steps ahead of each posterior state, on the recorded
        actions. post: State (B, T, ...); action (B, T, A) holding a_{t-1}. Entry d - 1 of the
        list is a State (B, T - distance, ...): the guess of s_{t+d} from s_t, for t < T - distance."""
        starts = action.shape[1] - distance
        batch = tf.shape(action)[0]
        fold = lambda x: tf.reshape(x, [-1, *x.shape[2:]])  # (B, starts, ...) -> (B * starts, ...)
        unfold = lambda x: tf.reshape(x, [batch, starts, *x.shape[1:]])
        state = tf.nest.map_structure(lambda x: fold(x[:, :starts]), post)
        guesses = []
        for d in range(1, distance + 1):
            state = self.rssm.img_step(state, fold(action[:, d:d + starts]))
            guesses.append(tf.nest.map_structure(unfold, state))
        return guesses

    def overshoot_kl(self, post, action, is_first):
        """Latent overshooting (PlaNet's; not DreamerV2's). For d = 2..D (D = ``overshoot``), the
        prior dreamed d steps ahead of each posterior s_t against the posterior that saw x_{t+d}:

            KL_d = mean_t max(KL(sg(q(z_{t+d})) || p(z_{t+d} | s_t, a_t, ..., a_{t+d-1})), free_nats)

        over the starts t < T - D whose steps t+1..t+d stay in one episode. The target posterior
        is held fixed; the prior, and the start state s_t through it, learn to look d steps ahead.
        Returns (the mean of KL_d over d, KL_D), scalars."""
        distance = self.config.overshoot
        starts = action.shape[1] - distance
        continues = 1.0 - tf.cast(is_first, tf.float32)  # (B, T): 0 where an episode begins
        kls = []
        for d, guess in enumerate(self.open_loop_priors(post, action, distance)[1:], start=2):
            target = tf.stop_gradient(post.logits[:, d:d + starts])  # (B, starts, S, K)
            kl = tf.maximum(categorical_kl(target, guess.logits), self.config.free_nats)  # (B, starts)
            stays = tf.reduce_prod(tf.stack([continues[:, j:j + starts] for j in range(1, d + 1)]), 0)
            kls.append(tf.math.divide_no_nan(tf.reduce_sum(kl * stays), tf.reduce_sum(stays)))
        return tf.reduce_mean(kls), kls[-1]

    def image_dist(self, feat) -> tfd.Distribution:
        """(..., F) -> Normal over (..., H, W, 1) frames on the [-0.5, 0.5] scale."""
        return unit_normal(self.decoder(feat), 3)

    def reward_dist(self, feat) -> tfd.Distribution:
        return unit_normal(self.reward_head(feat)[..., 0], 0)

    def continue_dist(self, feat) -> tfd.Distribution:
        return tfd.Bernoulli(logits=self.continue_head(feat)[..., 0], dtype=tf.float32)

    def loss(self, batch):
        """World-model loss on a batch (see replay.Batch). Returns (loss, posterior, metrics).

        Each head's distribution is computed once, and the metrics read it. A term whose weight
        is 0 is left out of the loss, so that no gradient path is built for it.
        """
        cfg = self.config
        post, prior = self.observe(batch.image, batch.action, batch.is_first)
        feat = features(post)  # (B, T, F)
        prior_feat = features(prior)  # (B, T, F): the same h_t, with z_t drawn from the prior
        target = preprocess(batch.image)  # (B, T, H, W, 1)
        keep = 1.0 - batch.terminal  # (B, T): the continue target
        image, reward, cont = self.image_dist(feat), self.reward_dist(feat), self.continue_dist(feat)
        prior_cont = self.continue_dist(prior_feat)
        image_nll = -tf.reduce_mean(image.log_prob(target))
        reward_nll = -tf.reduce_mean(reward.log_prob(batch.reward))
        continue_nll = -tf.reduce_mean(cont.log_prob(keep))
        prior_continue_nll = -tf.reduce_mean(prior_cont.log_prob(keep))
        kl_loss, kl = kl_balance(post.logits, prior.logits, cfg.kl_alpha, cfg.free_nats)
        loss = (image_nll + cfg.reward_scale * reward_nll + cfg.continue_scale * continue_nll
                + cfg.kl_scale * kl_loss)
        if cfg.prior_heads > 0:
            prior_reward_nll = -tf.reduce_mean(self.reward_dist(prior_feat).log_prob(batch.reward))
            loss += cfg.prior_heads * (cfg.reward_scale * prior_reward_nll
                                       + cfg.continue_scale * prior_continue_nll)
        if cfg.overshoot > 1:
            overshoot_kl, farthest_kl = self.overshoot_kl(post, batch.action, batch.is_first)
            loss += cfg.kl_scale * cfg.kl_alpha * overshoot_kl
        kl_per_latent = tf.reduce_mean(categorical_kl(post.logits, prior.logits, per_latent=True), [0, 1])
        crash_steps = tf.reduce_sum(batch.terminal)  # 0 when the batch holds no crash

        def mean_on_crashes(values):  # (B, T) -> mean over crash steps (0 without any)
            return tf.math.divide_no_nan(tf.reduce_sum(values * batch.terminal), crash_steps)

        reward_error = tf.abs(reward.mean() - batch.reward)  # (B, T)
        metrics = {
            "crash_steps": crash_steps,  # the weight of the *_crash means when updates are averaged
            "image_nll": image_nll,
            "image_mse": tf.reduce_mean(tf.square(image.mean() - target)),
            "reward_nll": reward_nll,
            "reward_mae": tf.reduce_mean(reward_error),
            "reward_mae_crash": mean_on_crashes(reward_error),
            "continue_nll": continue_nll,
            "continue_prob_crash": mean_on_crashes(cont.mean()),
            "prior_continue_nll": prior_continue_nll,
            "prior_continue_prob_crash": mean_on_crashes(prior_cont.mean()),
            "kl": tf.reduce_mean(kl),
            "kl_active_latents": tf.reduce_sum(tf.cast(kl_per_latent > 0.01, tf.float32)),
            "kl_loss": kl_loss,
            "prior_entropy": tf.reduce_mean(tfd.Categorical(logits=prior.logits).entropy()),
            "post_entropy": tf.reduce_mean(tfd.Categorical(logits=post.logits).entropy()),
        }
        if cfg.overshoot > 1:
            metrics["overshoot_kl"] = farthest_kl  # KL_D: the prior D steps ahead
        return loss, post, metrics

    def train(self, batch):
        """One Adam step on :meth:`loss`. Returns (posterior states, metrics prefixed ``wm/``,
        with the global gradient norm of each module)."""
        modules = {"encoder": self.encoder, "rssm": self.rssm, "decoder": self.decoder,
                   "reward_head": self.reward_head, "continue_head": self.continue_head}
        with tf.GradientTape() as tape:
            loss, post, metrics = self.loss(batch)
        variables = {name: module.trainable_variables for name, module in modules.items()}
        grads = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(tf.nest.flatten(grads), tf.nest.flatten(variables)))
        metrics = {f"wm/{key}": value for key, value in metrics.items()}
        metrics["wm/loss"] = loss
        metrics.update({f"wm/grad_norm/{name}": tf.linalg.global_norm([g for g in module_grads if g is not None])
                        for name, module_grads in grads.items()})
        return post, metrics

    def reconstruct(self, image, action, is_first):
        """Posterior reconstructions of recorded frames: (B, T, H, W, 1) uint8 -> float in [0, 1]."""
        post, _ = self.observe(image, action, is_first)
        return tf.clip_by_value(self.image_dist(features(post)).mean() + 0.5, 0.0, 1.0)

    def dream(self, image, action, is_first, context: int):
        """Open-loop prediction: observe the first ``context`` frames, then run the prior on
        the recorded actions. (B, T, ...) -> frames (B, T - context, H, W, 1) in [0, 1]."""
        post, _ = self.observe(image[:, :context], action[:, :context], is_first[:, :context])
        state = tf.nest.map_structure(lambda x: x[:, -1], post)
        frames = []
        for t in range(context, image.shape[1]):
            state = self.rssm.img_step(state, action[:, t])
            frames.append(self.image_dist(features(state)).mean() + 0.5)
        return tf.clip_by_value(tf.stack(frames, 1), 0.0, 1.0)


def frame_pair(previous, frame, is_first):
    """The encoder's input with two frames: [x_{t-1}, x_t] on the channel axis, x_t in place of
    x_{t-1} where is_first. (..., H, W, 1) uint8 twice and is_first (...) -> (..., H, W, 2)."""
    first = tf.cast(is_first, tf.bool)[..., None, None, None]  # (..., 1, 1, 1)
    return tf.concat([tf.where(first, frame, previous), frame], -1)
