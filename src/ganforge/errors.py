"""Errors that mean "the user's input is wrong": their message names the problem and the fix.

The command line prints them without a traceback and exits with status 2: the Hydra commands (train, evaluate,
sample, bench) as one log line, the argparse ones (``CommandLine``) as one ``<command>: error: ...`` line.
"""

import argparse
from collections.abc import Callable
from typing import NoReturn


class GanforgeError(Exception):
    """Base class of user-facing errors."""


class ConfigError(GanforgeError, ValueError):
    """A config value is invalid, or two values do not fit together."""


class DataError(GanforgeError, ValueError):
    """Data is missing, corrupt or does not fit the settings."""


def one_line(text: object) -> str:
    """``text`` with its line breaks and runs of spaces made single spaces."""
    return " ".join(str(text).split())


class CommandLine(argparse.ArgumentParser):
    """The parser of an argparse command: a bad argument (argparse's usage and message, usually two or more lines)
    and a GanforgeError (``refuse``) are each one line on stderr, ``<command>: error: ...``, and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.refuse(f"{message} ({one_line(self.format_usage())})")

    def refuse(self, problem: GanforgeError | str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(problem)}\n")


def integer_at_least(low: int, example: str) -> Callable[[str], int]:
    """An argparse ``type``: an integer >= ``low``; otherwise a message with the allowed range and an example."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(
                f"{text!r} is invalid: it must be an integer >= {low} (for example {example})"
            )
        return value

    return parse
