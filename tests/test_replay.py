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


def test_crash_share_reserves_sequences_that_hold_a_crash(tmp_path):
    rng = np.random.default_rng(4)
    replay = Replay(tmp_path, seq_len=8, num_actions=5, seed=0)
    for i in range(40):  # 40 episodes of 10 steps, one crash among them: 1 terminal row in 440
        replay.add(make_episode(10, 11 * i, rng, crash=(i == 17)))
    assert replay.crash_rows.tolist() == [17 * 11 + 10]
    uniform = replay.sample(4000).terminal
    assert uniform.any(axis=1).mean() < 0.05  # about 8 windows in 433 hold the crash
    batch = replay.sample(16, crash_share=0.25)
    holds = batch.terminal.any(axis=1)
    assert holds[:4].all()  # round(0.25 * 16) = 4 sequences hold the crash
    many = replay.sample(4000, crash_share=0.5).terminal[:2000]
    position = many.argmax(axis=1)
    assert many.any(axis=1).all() and position.min() == 4 and position.max() == 7  # second half
    assert abs(np.bincount(position, minlength=8)[4:].std() / 500) < 0.1  # uniform over 4..7


def test_crash_share_without_crashes_samples_uniformly(tmp_path):
    rng = np.random.default_rng(5)
    replay = Replay(tmp_path, seq_len=4, num_actions=5, seed=0)
    for i in range(3):
        replay.add(make_episode(5, 20 * i, rng))
    same = Replay(tmp_path, seq_len=4, num_actions=5, seed=0)
    np.testing.assert_array_equal(replay.sample(32, crash_share=0.5).image, same.sample(32).image)


def test_replay_crashes_coverage_matches_the_sampler(tmp_path):
    """experiments/replay_crashes.py's exact expectations against counting over every start and
    against Replay.sample's own draws."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "experiments" / "replay_crashes.py"
    spec = importlib.util.spec_from_file_location("replay_crashes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    rng = np.random.default_rng(3)
    replay = Replay(tmp_path, seq_len=6, num_actions=5, seed=1)
    for i, steps in enumerate([4, 9, 3, 12, 7, 5]):
        replay.add(make_episode(steps, 20 * i, rng, crash=i in (0, 3, 4)))
    rows = replay.store["terminal"][:replay.num_rows]
    p_any, per_seq = module.coverage(np.flatnonzero(rows), replay.num_rows, 6)
    windows = np.array([rows[s:s + 6].sum() for s in range(replay.num_rows - 6 + 1)])
    assert p_any == pytest.approx(np.mean(windows > 0)) and per_seq == pytest.approx(windows.mean())
    drawn = np.concatenate([replay.sample(64).terminal.sum(1) for _ in range(200)])
    assert np.mean(drawn > 0) == pytest.approx(p_any, abs=0.03)
