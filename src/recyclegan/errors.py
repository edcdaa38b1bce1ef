"""The one exception type the CLI turns into a single line on stderr."""


class RecycleganError(Exception):
    """A problem the user can fix (bad path, bad option, bad data).

    The message is shown as it is, on one line, so it should say what is wrong and what
    to do about it.
    """
