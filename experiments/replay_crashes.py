"""How often does a training batch show the continue head a crash, and whose crash is it?

Reads a run's replay (only the ``terminal`` flags of its episode files) and, at several points of
the run, computes for one batch of ``batch_size`` sequences of ``seq_len`` rows:

* the share of sequences that hold at least one crash row, and the crash rows per batch, when
  the starts are uniform over all rows (``Replay.sample`` with ``crash_share = 0``);
* the same for the agent's own crashes only, leaving out the random prefill's;
* with the run's ``crash_share``: ``round(crash_share * B)`` sequences are drawn around a crash
  chosen uniformly from all crash rows, so a prefill crash as often as the agent's own.

Exact expectations over the starts, no sampling:

    python experiments/replay_crashes.py --run runs/cpu-n [--at 5000 10000 20000]

Writes experiments/results/replay_crashes/NAME.json (NAME defaults to the run's name).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from dreamer_lite.config import load_config
from dreamer_lite.replay import EPISODE_NAME

HERE = Path(__file__).parent


def read_terminals(episodes: Path) -> list[np.ndarray]:
    """The ``terminal`` column (one bool per row, n + 1 rows for n env steps) of every episode."""
    paths = sorted(p for p in episodes.iterdir() if EPISODE_NAME.fullmatch(p.name))
    terminals = []
    for path in paths:
        with np.load(path) as data:
            terminals.append(data["terminal"])
    return terminals


def coverage(crash_rows: np.ndarray, num_rows: int, seq_len: int) -> tuple[float, float]:
    """(P(a uniform sequence holds >= 1 of these rows), expected number of them per sequence).

    Starts are uniform over 0 .. num_rows - seq_len, as in ``Replay.sample``; a start s covers
    rows s .. s + seq_len - 1."""
    starts = num_rows - seq_len + 1
    covered = np.zeros(starts + 1, np.int64)  # difference array over starts
    first = np.clip(crash_rows - seq_len + 1, 0, starts)
    last = np.clip(crash_rows + 1, 0, starts)  # one past the last start that covers the row
    np.add.at(covered, first, 1)
    np.add.at(covered, last, -1)
    per_start = np.cumsum(covered)[:starts]  # crash rows in the sequence at each start
    return float(np.mean(per_start > 0)), float(np.mean(per_start))


def batch_view(terminals: list[np.ndarray], config) -> dict:
    """What one batch holds, for the replay made of these episodes."""
    rows = np.concatenate(terminals)
    lengths = np.array([len(t) - 1 for t in terminals])  # env steps per episode
    episode_of_row = np.repeat(np.arange(len(terminals)), lengths + 1)
    steps_before = np.concatenate([[0], np.cumsum(lengths)[:-1]])  # env steps before each episode
    crash_rows = np.flatnonzero(rows)
    own = crash_rows[steps_before[episode_of_row[crash_rows]] >= config.prefill]  # the agent's crashes
    batch, k = config.batch_size, round(config.crash_share * config.batch_size)
    p_any, per_seq = coverage(crash_rows, len(rows), config.seq_len)
    p_own, per_seq_own = coverage(own, len(rows), config.seq_len)
    own_share = len(own) / max(len(crash_rows), 1)
    return {
        "env_steps": int(lengths.sum()), "episodes": len(terminals), "crash_rows": len(crash_rows),
        "own_crash_rows": len(own),
        "uniform": {"sequences_with_a_crash": batch * p_any, "crash_rows_per_batch": batch * per_seq,
                    "sequences_with_an_own_crash": batch * p_own,
                    "own_crash_rows_per_batch": batch * per_seq_own},
        "with_crash_share": {
            "crash_share": config.crash_share, "reserved_sequences": k,
            "sequences_with_a_crash": k + (batch - k) * p_any,
            "sequences_with_an_own_crash": k * own_share + (batch - k) * p_own},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="a training run folder (config.json, episodes/)")
    parser.add_argument("--at", type=int, nargs="*", default=[5000, 10000, 15000, 20000, 25000],
                        help="env steps at which to look (the whole replay is always added)")
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    run = Path(args.run)
    config = load_config(run / "config.json")
    terminals = read_terminals(run / "episodes")
    steps = np.cumsum([len(t) - 1 for t in terminals])
    points = []
    for at in sorted(a for a in args.at if a < steps[-1]) + [int(steps[-1])]:
        points.append(batch_view(terminals[:int(np.searchsorted(steps, at)) + 1], config))
    out = HERE / "results" / "replay_crashes"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{args.name or run.name}.json"
    path.write_text(json.dumps({"run": str(run), "batch_size": config.batch_size, "seq_len": config.seq_len,
                                "prefill": config.prefill, "points": points}, indent=1) + "\n")
    for p in points:
        u, c = p["uniform"], p["with_crash_share"]
        print(f"{p['env_steps']:>6,} env steps: {p['crash_rows']} crashes ({p['own_crash_rows']} the agent's) | "
              f"per batch of {config.batch_size}, uniform: {u['sequences_with_a_crash']:.1f} sequences hold a "
              f"crash, {u['sequences_with_an_own_crash']:.2f} an own crash | crash_share {c['crash_share']}: "
              f"{c['sequences_with_a_crash']:.1f} and {c['sequences_with_an_own_crash']:.2f}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
