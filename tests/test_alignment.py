"""Alignment of actions, rewards and states, end to end through replay and the world model.

A synthetic environment pays reward 1 exactly when the *previous* action was 2, and its frames
carry no information. By the step convention (x_t, a_{t-1}, r_t) the reward r_t is a function
of the action row of the same step, and the world model, which feeds a_{t-1} into the state
s_t, can predict r_t from s_t alone. Feeding a_t instead (the 2022 off-by-one) would make the
reward unpredictable.
"""

import numpy as np
import tensorflow as tf

from dreamer_lite.config import make_config
from dreamer_lite.replay import EpisodeRecorder, Replay
from dreamer_lite.world_model import WorldModel


def collect(replay, rng, episodes=40, steps=12):
    frame = np.full((16, 16, 1), 100, np.uint8)
    for _ in range(episodes):
        recorder = EpisodeRecorder(frame)
        for _ in range(steps):
            action = int(rng.integers(5))
            recorder.add(action, frame, reward=float(action == 2), terminated=False)
        replay.add(recorder.arrays())


def test_replay_rows_pair_reward_with_the_action_that_caused_it(tmp_path):
    replay = Replay(tmp_path, seq_len=10, num_actions=5, seed=0)
    collect(replay, np.random.default_rng(0))
    batch = replay.sample(32)
    not_first = batch.is_first == 0
    np.testing.assert_array_equal(batch.reward[not_first], batch.action[..., 2][not_first])


def test_world_model_predicts_reward_from_previous_action(tmp_path):
    tf.random.set_seed(0)
    config = make_config("smoke", frame_width=16, frame_height=16, seq_len=10, model_lr=3e-3)
    replay = Replay(tmp_path, seq_len=10, num_actions=5, seed=0)
    collect(replay, np.random.default_rng(1))
    model = WorldModel(config, 5)
    step = tf.function(model.train)  # the package's world-model update

    first = float(step(replay.sample(16))[1]["wm/reward_mae"])
    for _ in range(250):
        last = float(step(replay.sample(16))[1]["wm/reward_mae"])
    assert first > 0.2  # P(reward) = 0.2: an uninformed guess is far off
    assert last < 0.08, f"reward MAE {last:.3f}: the model cannot line reward up with a_(t-1)"
