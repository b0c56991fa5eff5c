"""Encoder, decoder and MLP heads.

The encoder keeps *where* things are: four stride-2 convolutions and a flatten, so every
position of the last feature map has its own weights in what follows. (The 2022 code ended in
``GlobalAveragePooling2D``, which averages positions away: no latent could say where a car is.)
The decoder mirrors it with transposed convolutions back to exactly the frame size.

Pixels enter as ``x / 255 - 0.5`` (:func:`preprocess`); the decoder predicts that same scale.

``precision`` is a Keras dtype policy for the layers' arithmetic: ``"float32"``, or
``"mixed_bfloat16"`` (matmuls and convolutions in bfloat16, weights kept in float32). Every
network returns float32 either way, so the distributions and losses built on it stay float32.
``"auto"`` (:func:`resolve_precision`) takes bfloat16 only where the hardware computes it.
"""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf


def cpu_has_bfloat16(cpuinfo: str) -> bool:
    """Whether ``/proc/cpuinfo`` lists a bfloat16 instruction set: AVX512-BF16 or AMX-BF16."""
    flags = {flag for line in cpuinfo.splitlines() if line.startswith("flags") for flag in line.split()}
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def native_bfloat16() -> bool:
    """Whether this machine computes bfloat16 in hardware: its first GPU if it has one (compute
    capability 8.0 or later: A100, L4, H100, not a T4), else its CPU. Elsewhere TensorFlow
    emulates bfloat16, several times slower than float32."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0))
        return tuple(capability) >= (8, 0)
    cpuinfo = Path("/proc/cpuinfo")
    return cpuinfo.exists() and cpu_has_bfloat16(cpuinfo.read_text())


def resolve_precision(precision: str) -> str:
    """``"auto"`` -> ``"mixed_bfloat16"`` where :func:`native_bfloat16`, else ``"float32"``;
    any other value is returned as it is."""
    if precision != "auto":
        return precision
    return "mixed_bfloat16" if native_bfloat16() else "float32"


def preprocess(image: tf.Tensor) -> tf.Tensor:
    """uint8 frames in [0, 255] -> float32 in [-0.5, 0.5]:  x / 255 - 0.5."""
    return tf.cast(image, tf.float32) / 255.0 - 0.5


class Encoder(keras.layers.Layer):
    """Frames (..., H, W, 1) -> embeddings (..., H/16 * W/16 * 8 * depth).

    Four convolutions, kernel 4, stride 2, 'same' padding, ELU, with depth, 2 depth,
    4 depth, 8 depth channels; then flatten (no pooling).
    """

    def __init__(self, depth: int, precision: str = "float32", **kwargs):
        super().__init__(**kwargs)
        self.convs = [keras.layers.Conv2D(depth * 2**i, 4, strides=2, padding="same",
                                          activation="elu", dtype=precision, name=f"conv{i}")
                      for i in range(4)]

    def call(self, image):
        x = preprocess(image)
        batch_dims = tf.shape(x)[:-3]
        x = tf.reshape(x, tf.concat([[-1], tf.shape(x)[-3:]], 0))  # (N, H, W, 1)
        for conv in self.convs:
            x = conv(x)  # (N, H/2^i, W/2^i, depth * 2^i)
        x = tf.reshape(tf.cast(x, tf.float32), [tf.shape(x)[0], -1])  # (N, H/16 * W/16 * 8 depth)
        return tf.reshape(x, tf.concat([batch_dims, tf.shape(x)[-1:]], 0))


class Decoder(keras.layers.Layer):
    """Features (..., F) -> mean image (..., H, W, 1) on the [-0.5, 0.5] scale.

    Dense to an (H/16, W/16, 8 depth) map, then transposed convolutions (kernel 4, stride 2,
    'same') with 4 depth, 2 depth, depth, 1 channels: exactly (H, W, 1).
    """

    def __init__(self, depth: int, height: int, width: int, precision: str = "float32", **kwargs):
        super().__init__(**kwargs)
        self.start_shape = (height // 16, width // 16, 8 * depth)
        self.dense = keras.layers.Dense(self.start_shape[0] * self.start_shape[1] * self.start_shape[2],
                                        dtype=precision, name="dense")
        self.deconvs = [keras.layers.Conv2DTranspose(depth * 2**(2 - i), 4, strides=2, padding="same",
                                                     activation="elu", dtype=precision,
                                                     name=f"deconv{i}")
                        for i in range(3)]
        self.out = keras.layers.Conv2DTranspose(1, 4, strides=2, padding="same", dtype=precision,
                                                name="deconv3")

    def call(self, features):
        batch_dims = tf.shape(features)[:-1]
        x = self.dense(tf.reshape(features, [-1, features.shape[-1]]))
        x = tf.reshape(x, (-1,) + self.start_shape)  # (N, H/16, W/16, 8 depth)
        for deconv in self.deconvs:
            x = deconv(x)
        x = tf.cast(self.out(x), tf.float32)  # (N, H, W, 1)
        return tf.reshape(x, tf.concat([batch_dims, tf.shape(x)[-3:]], 0))


class MLP(keras.layers.Layer):
    """``layers`` dense ELU layers of ``units``, then a linear layer of ``out`` units (in
    float32: it gives the parameters of a distribution)."""

    def __init__(self, units: int, layers: int, out: int, precision: str = "float32", **kwargs):
        super().__init__(**kwargs)
        self.hidden = [keras.layers.Dense(units, activation="elu", dtype=precision, name=f"dense{i}")
                       for i in range(layers)]
        self.out = keras.layers.Dense(out, dtype="float32", name="out")

    def call(self, x):
        for layer in self.hidden:
            x = layer(x)
        return self.out(x)


def adam(config, learning_rate: float, name: str) -> keras.optimizers.Adam:
    """Adam with the config's epsilon and global-norm clipping (every learner's optimiser)."""
    return keras.optimizers.Adam(learning_rate, epsilon=config.adam_eps,
                                 global_clipnorm=config.grad_clip, name=name)
