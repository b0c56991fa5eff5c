"""``encoder_frames=2``: the encoder sees [x_{t-1}, x_t], built here by hand in numpy."""

import numpy as np
import pytest
import tensorflow as tf

from dreamer_lite.config import ConfigError, make_config, resume_config
from dreamer_lite.environment import NUM_ACTIONS
from dreamer_lite.world_model import WorldModel


def pairs_by_hand(image, is_first):
    """(B, T, H, W, 1), (B, T) -> (B, T, H, W, 2): the frame before, or the frame itself where
    the episode starts or the sequence has no earlier frame."""
    pairs = np.concatenate([image, image], -1)
    for b in range(image.shape[0]):
        for t in range(1, image.shape[1]):
            if not is_first[b, t]:
                pairs[b, t, ..., 0] = image[b, t - 1, ..., 0]
    return pairs


@pytest.fixture
def paired_model():
    config = make_config("smoke", encoder_frames=2)
    model = WorldModel(config, NUM_ACTIONS)
    return config, model


def test_embed_pairs_each_frame_with_the_one_before(paired_model, random_batch):
    config, model = paired_model
    batch = random_batch(config, steps=5)
    is_first = batch.is_first.copy()
    is_first[1, 3] = 1.0  # a new episode inside the second sequence
    embed = model.embed(batch.image, is_first).numpy()  # (B, T, E)
    expected = model.encoder(pairs_by_hand(batch.image, is_first)).numpy()
    np.testing.assert_allclose(embed, expected, rtol=1e-5, atol=1e-6)
    assert model.encoder.convs[0].kernel.shape[2] == 2  # the first conv reads two channels


def test_embed_step_while_acting_matches_embed_on_the_recorded_sequence(paired_model, random_batch):
    config, model = paired_model
    batch = random_batch(config, batch=1, steps=4)
    sequence = model.embed(batch.image, batch.is_first).numpy()[0]  # (T, E)
    prev_frame = batch.image[:, 0]
    for t in range(4):
        step = model.embed_step(prev_frame, batch.image[:, t], batch.is_first[:, t]).numpy()[0]
        np.testing.assert_allclose(step, sequence[t], rtol=1e-5, atol=1e-6)
        prev_frame = batch.image[:, t]


def test_the_previous_frame_changes_the_embedding(paired_model, random_batch):
    """Not a no-op: the same frame after two different frames embeds differently."""
    config, model = paired_model
    batch = random_batch(config, batch=1, steps=3)
    frame, not_first = batch.image[:, 2], tf.zeros([1])
    after_a = model.embed_step(batch.image[:, 0], frame, not_first).numpy()
    after_b = model.embed_step(batch.image[:, 1], frame, not_first).numpy()
    assert np.abs(after_a - after_b).max() > 1e-4
    at_first = model.embed_step(batch.image[:, 0], frame, tf.ones([1])).numpy()
    np.testing.assert_allclose(at_first, model.embed_step(frame, frame, tf.ones([1])).numpy())


def test_encoder_frames_is_checked_and_fixed_on_resume():
    with pytest.raises(ConfigError, match="encoder_frames must be 1 or 2"):
        make_config("smoke", encoder_frames=3)
    with pytest.raises(ConfigError, match="encoder_frames"):
        resume_config(make_config("smoke"), {"encoder_frames": 2})
