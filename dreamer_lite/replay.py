"""Replay: finished episodes on disk, random fixed-length sequences for training.

The step convention (one row per frame, the same in memory, on disk and in every batch):

    (x_t, a_{t-1}, r_t, terminal_t, is_first_t)

``x_t`` is the frame seen at step t; ``a_{t-1}`` the action that *led to* it; ``r_t`` the
reward received on that transition; ``terminal_t`` whether x_t ended the episode by a crash
(a time-limit end is not terminal); ``is_first_t`` marks the reset frame, whose action row is
zero and whose reward is 0. An episode of n env steps is n + 1 rows.

Each finished episode is written at once to ``<dir>/<index>-<steps>.npz`` (compressed uint8
frames; written to a hidden temporary name that the loader never reads, then renamed, so a kill
never leaves half a file: runs.write_atomic).
A crash or kill loses at most the unfinished episode. Sequences are drawn uniformly at
random from the concatenation of all episodes and may cross episode ends: the RSSM resets its
state where ``is_first`` is set. Crashes are rare in a good driver's replay, so ``sample`` can
reserve a share of each batch for sequences that hold one (DreamerV2's ``prioritize_ends``,
aimed at the crashes): the continue head and the prior then see the steps that lead to a crash.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .runs import write_atomic

FIELDS = ("image", "action", "reward", "terminal", "is_first")
EPISODE_NAME = re.compile(r"\d{6}-\d+\.npz")  # <index>-<steps>.npz


class Batch(NamedTuple):
    """A batch of B sequences of T steps."""

    image: np.ndarray  # (B, T, H, W, 1) uint8, x_t
    action: np.ndarray  # (B, T, A) float32, one-hot a_{t-1} (zeros where is_first)
    reward: np.ndarray  # (B, T) float32, r_t
    terminal: np.ndarray  # (B, T) float32, 1 where x_t is a crash
    is_first: np.ndarray  # (B, T) float32, 1 at reset frames


class ReplayError(RuntimeError):
    """An episode file that cannot be read."""


class EpisodeRecorder:
    """Collects the rows of one episode in the step convention above."""

    def __init__(self, first_frame: np.ndarray):
        self.rows = {"image": [first_frame], "action": [-1], "reward": [0.0],
                     "terminal": [False], "is_first": [True]}

    def add(self, action: int, frame: np.ndarray, reward: float, terminated: bool) -> None:
        """Record the transition (x_{t-1}, a_{t-1}) -> (x_t, r_t, terminal_t)."""
        for key, value in zip(FIELDS, (frame, action, reward, terminated, False)):
            self.rows[key].append(value)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"image": np.stack(self.rows["image"]).astype(np.uint8),
                "action": np.asarray(self.rows["action"], np.int8),  # -1 = no action (is_first)
                "reward": np.asarray(self.rows["reward"], np.float32),
                "terminal": np.asarray(self.rows["terminal"], bool),
                "is_first": np.asarray(self.rows["is_first"], bool)}


class Replay:
    """All episodes of a run, stored on disk under ``directory`` and in memory for sampling."""

    def __init__(self, directory, seq_len: int, num_actions: int, seed: int = 0):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.seq_len, self.num_actions = seq_len, num_actions
        self.rng = np.random.default_rng(seed)
        self.store: dict[str, np.ndarray] = {}
        self.num_rows = 0
        self.crash_rows = np.empty(0, np.int64)  # row index of every terminal (crash) frame
        self.num_episodes = 0
        self.env_steps = 0
        for path in sorted(p for p in self.directory.iterdir() if EPISODE_NAME.fullmatch(p.name)):
            self._append(self._read(path))

    @staticmethod
    def _read(path: Path) -> dict[str, np.ndarray]:
        try:
            with np.load(path) as data:
                episode = {key: data[key] for key in FIELDS}
        except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError) as error:
            raise ReplayError(
                f"episode file {path} is unreadable ({type(error).__name__}: {error}). It holds "
                f"one episode; delete it and resume (`rm {path}`).") from error
        return episode

    def add(self, episode: dict[str, np.ndarray]) -> Path:
        """Save one finished episode to disk, then make it available for sampling."""
        path = self.directory / f"{self.num_episodes:06d}-{len(episode['reward']) - 1}.npz"
        write_atomic(path, lambda f: np.savez_compressed(f, **episode))
        self._append(episode)
        return path

    def _append(self, episode: dict[str, np.ndarray]) -> None:
        rows = len(episode["reward"])
        if not self.store:
            self.store = {k: np.empty((1024,) + v.shape[1:], v.dtype) for k, v in episode.items()}
        if self.num_rows + rows > len(self.store["reward"]):  # grow by doubling
            size = 2 * (self.num_rows + rows)
            for key, array in self.store.items():
                grown = np.empty((size,) + array.shape[1:], array.dtype)
                grown[:self.num_rows] = array[:self.num_rows]
                self.store[key] = grown
        for key, value in episode.items():
            self.store[key][self.num_rows:self.num_rows + rows] = value
        self.crash_rows = np.append(self.crash_rows, self.num_rows + np.flatnonzero(episode["terminal"]))
        self.num_rows += rows
        self.num_episodes += 1
        self.env_steps += rows - 1

    def sample(self, batch_size: int, crash_share: float = 0.0) -> Batch:
        """B sequences of ``seq_len`` rows. ``round(crash_share * B)`` of them hold a crash
        (when replay has one); the other starts are uniform over all rows."""
        if self.num_rows < self.seq_len:
            raise ValueError(f"replay holds {self.num_rows} rows, fewer than seq_len={self.seq_len}")
        last_start = self.num_rows - self.seq_len
        starts = self.rng.integers(0, last_start + 1, batch_size)
        num_crash = round(crash_share * batch_size) if len(self.crash_rows) else 0
        if num_crash:
            starts[:num_crash] = np.clip(self._crash_starts(num_crash), 0, last_start)
        index = starts[:, None] + np.arange(self.seq_len)  # (B, T)
        action = self.store["action"][index]
        one_hot = np.eye(self.num_actions, dtype=np.float32)[np.maximum(action, 0)]
        one_hot *= (action >= 0)[..., None]  # zero action row at reset frames
        return Batch(image=self.store["image"][index], action=one_hot,
                     reward=self.store["reward"][index],
                     terminal=self.store["terminal"][index].astype(np.float32),
                     is_first=self.store["is_first"][index].astype(np.float32))

    def _crash_starts(self, count: int) -> np.ndarray:
        """Starts of ``count`` sequences, each around a crash drawn uniformly from replay, the
        crash at a uniform position in the sequence's second half (so the steps that led to it
        come first)."""
        crashes = self.rng.choice(self.crash_rows, count)
        positions = self.rng.integers(self.seq_len // 2, self.seq_len, count)
        return crashes - positions
