"""Exercise checks for the book: compare a learner's answer with dreamer_lite's, print PASS or FAIL.

A failed check also raises ``AssertionError``, so nbval notices a broken solution.
"""

from __future__ import annotations

import numpy as np


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
