"""Exceptions the CLI turns into a single line on stderr and an exit status."""


class RecycleganError(Exception):
    """A problem the user can fix (bad path, bad option, bad data).

    The message is shown as it is, on one line, so it should say what is wrong and what
    to do about it.
    """

    exit_code = 1


class Interrupted(RecycleganError):
    """Ctrl-C or SIGTERM: what was saved and how to continue."""

    exit_code = 130
