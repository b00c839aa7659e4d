"""The two ways a command ends badly, mapped to exit statuses by `main`."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
"""Something the command did or found failed (an AWS call, a job, a message that could not be moved)."""
EXIT_USAGE = 2
"""Bad usage: arguments, the outputs file, a missing stack output, no credentials; nothing was changed."""


class UsageError(Exception):
    """Bad input: the message names what was wrong and how to give it right (exit 2)."""


class CommandFailed(Exception):
    """The command ran and something failed (exit 1)."""
