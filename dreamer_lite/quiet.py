"""Start-up chatter off the console: TensorFlow's and SDL's C++ messages go straight to file
descriptor 2, past Python's ``sys.stderr``, so only a redirection of that descriptor hides them."""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def silenced_stderr(enabled: bool = True):
    """Send the process's standard error to /dev/null while the block runs (Python exceptions
    still propagate; they are printed after the block)."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow(verbose: bool = False) -> None:
    """Import TensorFlow, TFP and Keras once, without their start-up lines unless ``verbose``
    (``E0000 ... cuInit``, ``oneDNN custom operations are on``, ``Could not find cuda drivers``)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "3")
    with silenced_stderr(not verbose):
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
        import tensorflow_probability  # noqa: F401
