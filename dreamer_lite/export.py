"""Export a run for readers: its record and a weights-only checkpoint, small enough to commit.

    python -m dreamer_lite.export --logdir runs/NAME --out book/results/NAME

Copies config.json, metrics.csv, eval.csv, progress.json and starts.jsonl, and writes
checkpoint.npz without the optimiser state (about a third of the training checkpoint's size).
The folder then works as a run folder for
``python -m dreamer_lite.evaluate --logdir OUT``; ``--resume`` refuses it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .cli import EXPECTED_ERRORS, exit_with_error, parser
from .evaluate import load_agent
from .quiet import import_tensorflow
from .runs import save_checkpoint

RECORD_FILES = ("config.json", "metrics.csv", "eval.csv", "progress.json", "starts.jsonl")


def export_run(logdir, out) -> Path:
    """Copy the run's record from ``logdir`` to ``out`` and write a weights-only checkpoint there."""
    logdir, out = Path(logdir), Path(out)
    agent, _ = load_agent(logdir)
    out.mkdir(parents=True, exist_ok=True)
    for name in RECORD_FILES:
        if (logdir / name).exists():
            shutil.copyfile(logdir / name, out / name)
    save_checkpoint(agent, out / "checkpoint.npz", weights_only=True)
    return out / "checkpoint.npz"


def main(argv=None) -> None:
    cli = parser("python -m dreamer_lite.export", __doc__.split("\n")[0])
    cli.add_argument("--logdir", required=True, help="the training run folder")
    cli.add_argument("--out", required=True, help="folder to write (created if missing)")
    args = cli.parse_args(argv)
    if Path(args.out).resolve() == Path(args.logdir).resolve():
        cli.error("--out must differ from --logdir: the export would replace the run's own checkpoint")
    try:
        import_tensorflow()
        path = export_run(args.logdir, args.out)
    except EXPECTED_ERRORS as error:
        exit_with_error(error)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB) and the run's record to {args.out}")


if __name__ == "__main__":
    main()
