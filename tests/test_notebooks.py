"""The chapters as readers meet them.

Cheap checks on the stored notebooks (always run): exercises are built so that "Run all" survives
them, the Colab set-up cell sits below the title out of the way, and the stored outputs hold no
errors and no start-up noise.

The Colab run (only with COLAB_RUN_ALL=1, as tests/run_all.sh sets it): every chapter executed in
a fresh kernel with cell tags ignored, as Colab runs it, and without the solutions, as a new
reader runs it: it must reach the end with no error, and every exercise must say NOT DONE YET.
"""

import base64
import json
import os
import re
from pathlib import Path

import pytest

from execute_notebooks import NOISE, run

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))
STUB = re.compile(r'raise NotImplementedError\("(Exercise \d+\.\d+):')
# tags that make an execution differ from Colab's "Run all" (nbval and nbclient read them)
EXECUTION_TAGS = {"raises-exception", "skip-execution", "nbval-skip", "nbval-raises-exception",
                  "nbval-ignore-output"}


def cells(path):
    return json.loads(path.read_text())["cells"]


def source(cell):
    return "".join(cell["source"])


def exercises(path):
    """(index, name) of every exercise stub cell."""
    return [(i, STUB.search(source(cell)).group(1)) for i, cell in enumerate(cells(path))
            if cell["cell_type"] == "code" and STUB.search(source(cell)) and "@solution" not in source(cell)]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_exercises_survive_run_all(path):
    chapter = cells(path)
    for i, cell in enumerate(chapter):
        tags = set(cell["metadata"].get("tags", []))
        assert not tags & EXECUTION_TAGS, f"cell {i}: tags {tags & EXECUTION_TAGS} (Colab ignores them)"
    for i, name in exercises(path):
        stub, answer, check = (source(chapter[j]) for j in (i, i + 1, i + 2))
        calls = [line for line in stub.splitlines() if line and not line.startswith((" ", "def ", "@", "#", ")"))]
        assert not calls, f"{name}: the stub cell calls its function at top level: {calls}"
        assert "@solution" in answer and "hide-cell" in chapter[i + 1]["metadata"].get("tags", []), \
            f"{name}: the cell after the stub must be the collapsed @solution"
        assert f'with exercise("{name}"):' in check, f"{name}: the check must run inside exercise()"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_setup_cell_below_the_title_and_folded(path):
    chapter = cells(path)
    assert chapter[0]["cell_type"] == "markdown" and source(chapter[0]).lstrip().startswith("# ")
    setup = chapter[1]
    assert "google.colab" in source(setup), "the Colab set-up cell must follow the title cell"
    assert source(setup).startswith("# @title"), "Colab folds a form cell under its # @title"
    assert setup["metadata"].get("cellView") == "form"
    assert {"remove-input", "hide-input", "remove-cell"} & set(setup["metadata"].get("tags", []))
    assert all(len(line) <= 100 for line in source(setup).splitlines())
    assert sum("google.colab" in source(cell) for cell in chapter) == 1


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_stored_outputs_are_clean(path):
    for i, cell in enumerate(cells(path)):
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"cell {i}: stored error {output.get('ename')}"
            text = "".join(output.get("text", ""))
            assert "Traceback" not in text and "NOT DONE YET" not in text, f"cell {i}: {text[:200]}"
            noise = [line for line in text.splitlines() if NOISE.match(line)]
            assert not noise, f"cell {i}: start-up noise stored: {noise[0]}"


@pytest.mark.skipif(os.environ.get("COLAB_RUN_ALL") != "1", reason="COLAB_RUN_ALL=1 runs every chapter (minutes)")
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_run_all_as_in_colab(path, monkeypatch):
    monkeypatch.delenv("DREAMER_LITE_SOLUTIONS", raising=False)  # a new reader's notebook
    executed = run(path)  # raises on the first error
    printed = "".join("".join(output.get("text", "")) for cell in executed.cells
                      for output in cell.get("outputs", []))
    for _, name in exercises(path):
        assert f"NOT DONE YET: {name}." in printed, f"{name}: no NOT DONE YET"
        assert f"PASS: {name}" not in printed, f"{name}: passed without an answer"


def _png_size(data: str) -> tuple[int, int]:
    header = base64.b64decode(data[:44])
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_figure_shown_twice_in_a_cell(path):
    """A figure saved to a file and displayed, while matplotlib still holds it open, shows twice:
    two images of (nearly) the same size in one cell's outputs."""
    for i, cell in enumerate(cells(path)):
        sizes = [_png_size(output["data"]["image/png"]) for output in cell.get("outputs", [])
                 if "image/png" in output.get("data", {})]
        for a in range(len(sizes)):
            for b in range(a + 1, len(sizes)):
                (wa, ha), (wb, hb) = sizes[a], sizes[b]
                assert not (abs(wa - wb) <= 0.02 * wa and abs(ha - hb) <= 0.02 * ha), \
                    f"cell {i}: two images of {sizes[a]} and {sizes[b]} px: one figure shown twice?"
