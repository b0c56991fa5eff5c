"""Run chapters the way a reader's "Run all" does: a fresh kernel, every cell top to bottom, cell
tags ignored (Colab does not read them), any error stops the run.

    python tests/execute_notebooks.py book/04_rssm.ipynb            # check only: reach the end
    DREAMER_LITE_SOLUTIONS=1 python tests/execute_notebooks.py --store book/04_rssm.ipynb

With --store the executed notebook is written back with its tags kept and its outputs tidied:
the start-up lines that TensorFlow/absl/CUDA and SDL print to stderr (they depend on the
machine, not on the chapter) are dropped. The book's stored outputs come from the solutions
(DREAMER_LITE_SOLUTIONS=1, as nbval runs them).
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\).*"
    r"|[IWE]\d{4} [\d:. ]+\d+ \w+\.cc:\d+\].*"
    r"|To enable the following instructions: .*rebuild TensorFlow.*"
    r"|error: XDG_RUNTIME_DIR is invalid or not set in the environment\."
    r"|.*cuda drivers on your machine.*)$")


def strip_tags(notebook):
    """A copy of the notebook without cell tags, as Colab sees it."""
    bare = copy.deepcopy(notebook)
    for cell in bare.cells:
        cell.metadata.pop("tags", None)
    return bare


def run(path: Path, timeout: int = 900):
    """Execute a chapter with tags ignored in a fresh kernel, in its own folder; any error raises
    nbclient's CellExecutionError. Returns the executed notebook (without tags)."""
    notebook = strip_tags(nbformat.read(path, as_version=4))
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", force_raise_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return notebook


def tidy(outputs: list) -> list:
    """Drop the machine's start-up noise from stderr streams, and streams left empty."""
    kept = []
    for output in outputs:
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            lines = [line for line in output["text"].splitlines(keepends=True) if not NOISE.match(line.rstrip("\n"))]
            if not "".join(lines).strip():
                continue
            output["text"] = "".join(lines)
        kept.append(output)
    return kept


def store(path: Path, executed) -> None:
    original = nbformat.read(path, as_version=4)
    assert len(original.cells) == len(executed.cells)
    for cell, done in zip(original.cells, executed.cells):
        if cell.cell_type == "code":
            cell.outputs = tidy(done.outputs)
            cell.execution_count = done.execution_count
            cell.metadata.pop("execution", None)
    nbformat.write(original, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--store", action="store_true", help="write the tidied outputs back")
    args = parser.parse_args()
    for path in args.notebooks:
        start = time.time()
        executed = run(path)
        if args.store:
            store(path, executed)
        print(f"{path}: reached the end in {time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
