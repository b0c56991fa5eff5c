"""The run folder on disk: atomic files, a lock, checkpoints, and a record of every start.

Every file the trainer writes goes first to a hidden temporary name beside it
(``.checkpoint.npz.tmp``), which no loader reads, is flushed to disk, and is then renamed over
the real name. A kill at any moment leaves the old file or the new one, never half a file;
:func:`remove_temporaries` clears what a kill left behind when a run resumes.

A checkpoint is one ``.npz`` of named arrays, ``<group>/<index>`` (``world_model/0003``), from
``agent.variable_groups()``; a weights-only checkpoint (``export.py``) leaves out the optimiser
groups.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from . import __version__

TEMPORARY_SUFFIX = ".tmp"
OPTIMISER_GROUPS = ("model_opt", "actor_opt", "critic_opt")


class RunFolderError(RuntimeError):
    """A run folder, or a file in it, that cannot be used as asked."""


class CheckpointError(RunFolderError):
    """A checkpoint that cannot be read or does not fit this agent."""


def temporary_path(path: Path) -> Path:
    """Where ``path`` is written before it is renamed: ``dir/.name.tmp``."""
    return path.with_name(f".{path.name}{TEMPORARY_SUFFIX}")


def write_atomic(path, write) -> None:
    """Call ``write(file)`` on the temporary file of ``path``, flush it to disk, rename it."""
    path = Path(path)
    temporary = temporary_path(path)
    with open(temporary, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def write_text_atomic(path, text: str) -> None:
    write_atomic(path, lambda f: f.write(text.encode()))


def remove_temporaries(directory) -> list[Path]:
    """Delete the temporary files a kill left in ``directory``; returns their paths."""
    leftovers = sorted(Path(directory).glob(f".*{TEMPORARY_SUFFIX}"))
    for path in leftovers:
        path.unlink()
    return leftovers


def read_json(path) -> dict:
    """A JSON file of the run folder; a missing, empty or broken one raises RunFolderError."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunFolderError(f"{path} not found: is {path.parent} a dreamer_lite run folder?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunFolderError(f"{path} is empty or not valid JSON ({error}). Restore it from a copy, "
                             "or start a new run folder.") from None


class RunLock:
    """An exclusive lock on a run folder while a trainer uses it (``flock`` on ``lock``).

    The operating system drops the lock when the process ends, even by SIGKILL, so a lock left by
    a killed trainer never blocks the next one.
    """

    def __init__(self, logdir):
        import fcntl  # POSIX only; imported here so that the rest of the module works anywhere

        self.path = Path(logdir) / "lock"
        self.file = open(self.path, "a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            owner = self.file.read().strip() or "another process"
            self.file.close()
            raise RunFolderError(f"{logdir} is in use by another trainer ({owner}). Wait for it to "
                                 "finish or stop it, or choose another --logdir.") from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"pid {os.getpid()}\n")
        self.file.flush()

    def release(self) -> None:
        self.file.close()  # closing the file drops the flock


def save_checkpoint(agent, path, weights_only: bool = False) -> None:
    """Write every variable of ``agent`` (without the optimisers' if ``weights_only``) to ``path``."""
    arrays = {f"{group}/{i:04d}": np.asarray(variable.numpy())
              for group, variables in agent.variable_groups(weights_only).items()
              for i, variable in enumerate(variables)}
    write_atomic(path, lambda f: np.savez(f, **arrays))


def read_checkpoint(path) -> dict[str, np.ndarray]:
    """The arrays of a checkpoint; a missing or damaged file raises CheckpointError."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path} not found: is {path.parent} a dreamer_lite run folder?")
    try:
        with np.load(path) as data:
            return dict(data)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise CheckpointError(
            f"checkpoint {path} is unreadable ({type(error).__name__}: {error}). Delete it and "
            "resume: training restarts from fresh weights with all replay data kept.") from None


def is_weights_only(arrays: dict) -> bool:
    return not any(key.split("/")[0] in OPTIMISER_GROUPS for key in arrays)


def load_checkpoint(agent, path) -> bool:
    """Restore ``agent`` from ``path`` (with or without optimiser state); checks every shape
    before it assigns anything. Returns whether the checkpoint was weights-only."""
    arrays = read_checkpoint(path)
    weights_only = is_weights_only(arrays)
    pairs = []
    for group, variables in agent.variable_groups(weights_only).items():
        for i, variable in enumerate(variables):
            key = f"{group}/{i:04d}"
            found = arrays[key].shape if key in arrays else "nothing"
            if found != tuple(variable.shape):
                raise CheckpointError(
                    f"checkpoint {path} does not fit this agent ({key}: expected shape "
                    f"{tuple(variable.shape)}, found {found}). It was written with another config; "
                    "load it with the run's config.json.")
            pairs.append((variable, arrays[key]))
    for variable, array in pairs:
        variable.assign(array)
    return weights_only


def git_commit() -> str | None:
    """The git commit of the package's source tree (with ``+dirty`` for local changes), or None."""
    source = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=source,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def record_start(logdir, resumed: bool, config_changes: dict) -> None:
    """Append one line to ``starts.jsonl``: when, the command, the package version and git
    commit, and the config keys changed on resume."""
    entry = {"time": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
             "argv": sys.argv, "resume": resumed, "version": __version__, "git_commit": git_commit(),
             "config_changes": config_changes}
    with open(Path(logdir) / "starts.jsonl", "a") as f:
        f.write(json.dumps(entry) + "\n")
