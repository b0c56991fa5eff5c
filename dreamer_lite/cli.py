"""What the three commands (train, evaluate, export) share: the version flag, one-line errors
and exit codes (2 for a usage error, 1 for a failure at run time, 130/143 after SIGINT/SIGTERM).

Everything here is light to import, so that ``--help`` answers without loading TensorFlow.
"""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .config import ConfigError
from .environment import BlankFrameError, UnknownEnvError
from .replay import ReplayError
from .runs import RunFolderError

EXPECTED_ERRORS = (ConfigError, RunFolderError, ReplayError, BlankFrameError, UnknownEnvError, OSError)


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Help that shows every default and keeps the epilog's line breaks."""


class Parser(argparse.ArgumentParser):
    """Usage errors in two lines (the problem, then where to look), exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n(`{self.prog} --help` lists every option)\n")


def parser(prog: str, description: str, epilog: str | None = None) -> argparse.ArgumentParser:
    """An argument parser that shows defaults, keeps the epilog's layout and has --version."""
    result = Parser(prog=prog, description=description, epilog=epilog, formatter_class=Formatter)
    result.add_argument("--version", action="version", version=f"dreamer_lite {__version__}")
    return result


def describe(error: Exception) -> str:
    """One or two lines for an expected error."""
    if isinstance(error, OSError) and not isinstance(error, (RunFolderError, ReplayError)):
        where = f" ({error.filename})" if error.filename else ""
        return (f"{error.strerror or error}{where}. Check that the folder exists and is writable "
                "and that the disk has space.")
    return str(error)


def exit_with_error(error: Exception) -> None:
    print(f"error: {describe(error)}", file=sys.stderr, flush=True)
    sys.exit(1)
