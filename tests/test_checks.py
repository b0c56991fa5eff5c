"""The exercise machinery of the book (dreamer_lite.checks): an exercise not done yet prints NOT
DONE YET and lets the chapter run on; a wrong answer fails; the solution replaces the learner's
function only when the book's tests run."""

import numpy as np
import pytest

from dreamer_lite import checks
from dreamer_lite.checks import check, exercise, solution


def stub(x):
    raise NotImplementedError("Exercise 9.9: add one")


def test_not_done_yet_prints_the_hint_and_runs_on(monkeypatch, capsys):
    monkeypatch.delenv(checks.SOLUTIONS, raising=False)
    with exercise("Exercise 9.9"):
        check("Exercise 9.9", stub(1), 2)
    out = capsys.readouterr().out
    assert out.startswith("NOT DONE YET: Exercise 9.9") and "Hint: add one" in out and "PASS" not in out


def test_a_wrong_answer_fails(monkeypatch, capsys):
    monkeypatch.delenv(checks.SOLUTIONS, raising=False)
    with pytest.raises(AssertionError, match="Exercise 9.9: largest difference"):
        with exercise("Exercise 9.9"):
            check("Exercise 9.9", np.array([1.0, 3.5]), np.array([1.0, 3.0]))
    assert "FAIL: Exercise 9.9" in capsys.readouterr().out


def test_a_right_answer_passes(monkeypatch, capsys):
    monkeypatch.delenv(checks.SOLUTIONS, raising=False)
    with exercise("Exercise 9.9"):
        check("Exercise 9.9", [np.ones(3), {"a": 2.0}], [np.ones(3), {"a": 2.0}])
    assert capsys.readouterr().out == "PASS: Exercise 9.9\n"


def test_other_errors_are_not_hidden(monkeypatch):
    monkeypatch.delenv(checks.SOLUTIONS, raising=False)
    with pytest.raises(NotImplementedError):  # another exercise's stub, or a library's
        with exercise("Exercise 9.9"):
            raise NotImplementedError("Exercise 9.1: something else")
    with pytest.raises(NotImplementedError):
        with exercise("Exercise 9.9"):
            raise NotImplementedError("not available on this platform")


def test_with_solutions_a_stub_fails(monkeypatch):
    """nbval runs the notebooks with DREAMER_LITE_SOLUTIONS=1: a stub left in place is an error."""
    monkeypatch.setenv(checks.SOLUTIONS, "1")
    with pytest.raises(NotImplementedError):
        with exercise("Exercise 9.9"):
            stub(1)


def _define(namespace: dict, source: str) -> None:
    exec(source, namespace)  # a notebook cell: module-level code in the kernel's namespace


def test_solution_keeps_the_learners_function(monkeypatch):
    namespace = {"solution": solution}
    _define(namespace, "def add_one(x):\n    raise NotImplementedError('Exercise 9.9: add one')\n")
    learners = namespace["add_one"]
    monkeypatch.delenv(checks.SOLUTIONS, raising=False)
    _define(namespace, "@solution\ndef add_one(x):\n    return x + 1\n")
    assert namespace["add_one"] is learners
    monkeypatch.setenv(checks.SOLUTIONS, "1")
    _define(namespace, "@solution\ndef add_one(x):\n    return x + 1\n")
    assert namespace["add_one"](1) == 2
