"""Replay: the step convention, disk round trip, corrupt files, uniform sampling across episodes."""

import numpy as np
import pytest

from dreamer_lite.replay import EpisodeRecorder, Replay, ReplayError


def make_episode(steps, first_value, rng, crash=False):
    frame = lambda v: np.full((4, 8, 1), v % 250 + 1, np.uint8)  # noqa: E731
    recorder = EpisodeRecorder(frame(first_value))
    for t in range(1, steps + 1):
        action = int(rng.integers(5))
        recorder.add(action, frame(first_value + t), reward=float(t), terminated=crash and t == steps)
    return recorder.arrays()


def test_episode_rows_follow_the_convention():
    episode = make_episode(3, 0, np.random.default_rng(0), crash=True)
    assert len(episode["reward"]) == 4  # n steps -> n + 1 rows
    assert episode["is_first"].tolist() == [True, False, False, False]
    assert episode["action"][0] == -1 and episode["reward"][0] == 0.0
    assert episode["terminal"].tolist() == [False, False, False, True]


def test_round_trip_and_batch_convention(tmp_path):
    rng = np.random.default_rng(1)
    replay = Replay(tmp_path, seq_len=6, num_actions=5, seed=0)
    episodes = [make_episode(4, 10 * i, rng) for i in range(5)]
    for episode in episodes:
        replay.add(episode)
    reloaded = Replay(tmp_path, seq_len=6, num_actions=5, seed=0)
    assert reloaded.num_episodes == 5 and reloaded.env_steps == 20 and reloaded.num_rows == 25
    batch = reloaded.sample(64)
    assert batch.image.shape == (64, 6, 4, 8, 1) and batch.action.shape == (64, 6, 5)
    first = batch.is_first.astype(bool)
    assert np.all(batch.action[first] == 0) and np.all(batch.reward[first] == 0)
    np.testing.assert_allclose(batch.action[~first].sum(-1), 1.0)
    # rewards were t within each episode: after a reset row they count 1, 2, 3, ...
    for b, t in zip(*np.nonzero(first[:, :-1])):
        assert batch.reward[b, t + 1] == 1.0
    assert first.any(axis=1).mean() > 0.5  # sequences cross episode ends


def test_every_row_is_sampled(tmp_path):
    rng = np.random.default_rng(2)
    replay = Replay(tmp_path, seq_len=2, num_actions=5, seed=0)
    for i in range(3):
        replay.add(make_episode(5, 20 * i, rng))
    seen = {int(v) for v in replay.sample(2000).image[..., 0, 0, 0].ravel()}
    assert seen == {int(v) for v in replay.store["image"][:replay.num_rows, 0, 0, 0]}


def test_corrupt_episode_file_is_named(tmp_path):
    replay = Replay(tmp_path, seq_len=2, num_actions=5)
    path = replay.add(make_episode(3, 0, np.random.default_rng(3)))
    path.write_bytes(b"not a zip file")
    with pytest.raises(ReplayError, match=path.name):
        Replay(tmp_path, seq_len=2, num_actions=5)
