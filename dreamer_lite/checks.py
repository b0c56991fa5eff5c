"""Exercise checks for the book: compare a learner's answer with dreamer_lite's, print PASS or FAIL.

An exercise has three cells: a stub that defines the function with the body
``raise NotImplementedError("Exercise N.M: hint")``, a solution (collapsed in the book), and a check
that calls the function inside ``with exercise("Exercise N.M"):``.

* An exercise not done yet does not stop the notebook: ``exercise`` catches the stub's
  ``NotImplementedError``, prints NOT DONE YET with the hint and what to do, and the chapter runs
  on (nothing later in a chapter needs a learner's answer). "Run all" in Colab reaches the end.
* A wrong answer fails: ``check`` prints FAIL and raises ``AssertionError``.
* The solution cell's ``@solution`` leaves the learner's function in place, so running the whole
  notebook never passes the check with the solution in the learner's name. Only when the book's
  tests run (``DREAMER_LITE_SOLUTIONS=1``, set by tests/run_all.sh) does the solution replace
  the stub, and then an exercise that still raises ``NotImplementedError`` fails the test.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

import numpy as np

SOLUTIONS = "DREAMER_LITE_SOLUTIONS"


def solutions_enabled() -> bool:
    """True when the book's tests run the notebooks: the solution cells replace the stubs."""
    return os.environ.get(SOLUTIONS) == "1"


def solution(function):
    """Decorator for a solution cell's function. With DREAMER_LITE_SOLUTIONS=1 it returns the
    solution; otherwise it returns the learner's function of the same name (the stub or their
    answer) if the notebook already defines one, so the check still tests the learner's work."""
    namespace = sys._getframe(1).f_globals
    if solutions_enabled() or function.__name__ not in namespace:
        return function
    return namespace[function.__name__]


@contextmanager
def exercise(name: str):
    """Run an exercise's check: if the learner's function still raises the stub's
    ``NotImplementedError("<name>: hint")``, print NOT DONE YET and carry on instead of failing.
    Any other error (a wrong answer's ``AssertionError`` included) propagates."""
    try:
        yield
    except NotImplementedError as error:
        message = str(error)
        if solutions_enabled() or not message.startswith(f"{name}:"):
            raise
        hint = message[len(name) + 1:].strip()
        print(f"NOT DONE YET: {name}. Your function still raises NotImplementedError.\n"
              f"  Hint: {hint}\n"
              f"  To do: replace the `raise NotImplementedError(...)` line in the exercise's cell with your\n"
              f"  answer, run that cell, then this one. The solution is in the collapsed cell below the\n"
              f"  exercise. Nothing later in the chapter needs your answer: it runs on.")


def check(name: str, answer, expected, atol: float = 1e-5) -> None:
    """PASS if ``answer`` equals ``expected`` (arrays, tensors or nests of them) within ``atol``."""
    answer_leaves, expected_leaves = _leaves(answer), _leaves(expected)
    if len(answer_leaves) != len(expected_leaves):
        _fail(name, f"expected {len(expected_leaves)} arrays, got {len(answer_leaves)}")
    for i, (got, want) in enumerate(zip(answer_leaves, expected_leaves)):
        got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
        if got.shape != want.shape:
            _fail(name, f"shape {got.shape}, expected {want.shape} (item {i})")
        error = float(np.max(np.abs(got - want))) if got.size else 0.0
        if not error <= atol:
            _fail(name, f"largest difference {error:.3g} > {atol:g} (item {i})")
    print(f"PASS: {name}")


def _leaves(value) -> list:
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    if isinstance(value, dict):
        return [leaf for key in sorted(value) for leaf in _leaves(value[key])]
    return [value.numpy() if hasattr(value, "numpy") else value]


def _fail(name: str, reason: str) -> None:
    print(f"FAIL: {name}: {reason}")
    raise AssertionError(f"{name}: {reason}")


def check_choice(name: str, answer, expected, explanation: str) -> None:
    """PASS if a multiple-choice ``answer`` (a letter, word or number) is ``expected``; otherwise
    print FAIL with the ``explanation`` and raise ``AssertionError``."""
    normalise = lambda value: value.strip().lower() if isinstance(value, str) else value
    if normalise(answer) != normalise(expected):
        print(f"FAIL: {name}: you chose {answer!r}.\n  Why not: {explanation}")
        raise AssertionError(f"{name}: chose {answer!r}")
    print(f"PASS: {name}: {explanation}")
