"""Errors that mean "the user's input is wrong": their message names the problem and the fix.

The command line prints them without a traceback and exits with status 2.
"""


class GanforgeError(Exception):
    """Base class of user-facing errors."""


class ConfigError(GanforgeError, ValueError):
    """A config value is invalid, or two values do not fit together."""


class DataError(GanforgeError, ValueError):
    """Data is missing, corrupt or does not fit the settings."""
