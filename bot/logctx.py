"""Log lines that say which request or job they belong to, as text or as JSON.

``bound("job digest 2026-11-29")`` marks everything logged inside it (in this thread) with
that id; the Slack worker binds one per request, the scheduler one per job run.
``configure(level, fmt)`` installs the handler: ``text`` (the default) appends
`` [id]`` after the logger name, ``json`` (SECBOT_LOG_FORMAT=json) writes one JSON object
per line with ``time``, ``level``, ``logger``, ``message``, ``context`` and, for errors
logged with a traceback (DEBUG only, see the error boundaries), ``exception``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_CONTEXT: ContextVar[str | None] = ContextVar("secbot_log_context", default=None)


@contextmanager
def bound(context: str) -> Iterator[None]:
    """Everything logged inside carries ``context``."""
    token = _CONTEXT.set(context)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def current() -> str | None:
    return _CONTEXT.get()


class ContextFilter(logging.Filter):
    """Adds ``record.context`` (the bound id, or "") and ``record.ctx`` (" [id]" or "")."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _CONTEXT.get() or ""
        record.context = context
        record.ctx = f" [{context}]" if context else ""
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "context": getattr(record, "context", "") or None,
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def configure(level: str, fmt: str) -> None:
    """The root handler on stderr, in ``fmt`` ("text" or "json"), at ``level``. Like
    ``logging.basicConfig``, it leaves a root logger that already has handlers of someone
    else's (an embedding application, pytest) alone."""
    root = logging.getLogger()
    if any(not getattr(h, "_secbot", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s%(ctx)s: %(message)s")
        )
    for old in list(root.handlers):
        root.removeHandler(old)
    handler._secbot = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.WARNING))
