"""The exception hierarchy of secbot.

``BotError`` is the root. ``UserError`` carries a message meant for the person at the
keyboard (one line: what was wrong and what to do); the CLI prints it and exits 2, Slack
shows it ephemerally. ``PermanentError`` / ``TemporaryError`` tell the executor and jobs
whether a retry can help.
"""

from __future__ import annotations


class BotError(Exception):
    """Root of every error secbot raises on purpose."""


class UserError(BotError):
    """Bad input or usage; the message is shown to the user as is."""


class InputError(UserError):
    """An input file or folder that cannot be used at all (corrupt, unsafe, too large)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class PermanentError(BotError):
    """Retrying will not help."""


class TemporaryError(BotError):
    """Retrying later may help; ``delay`` is the suggested wait in seconds."""

    def __init__(self, message: str, *, delay: float = 60.0) -> None:
        super().__init__(message)
        self.delay = delay


class RateLimited(TemporaryError):
    """The far end asked us to slow down (HTTP 429); ``delay`` is its Retry-After."""
