"""Errors shared by every component."""


class CommandError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""
