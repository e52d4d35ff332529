"""``/healthz``, ``/readyz`` and ``/metrics`` on their own port (SECBOT_HEALTH_PORT).

- ``/healthz``: 200 while the process serves HTTP at all (liveness);
- ``/readyz``: one line per check, ``database: ok`` first (``SELECT 1``: one ping at a
  time, reused for 2 s, a probe waits at most 3 s for it: bot.health.database), then the
  named checks the composition root hands in (``slack: ok (socket mode)``, ``slack:
  off``...); 200 when every line is ok, else 503 with the same lines, so the reason is in
  the body;
- ``/metrics``: the Prometheus exposition of bot.health.metrics.

A check is a plain callable returning ``(ok, detail)``: this package knows nothing about
Slack (bot.slack.readiness makes the Slack ones), and checks can be swapped while the
server runs (``set_check``), because readiness changes as ``serve`` starts up. A check
that raises counts as not ready; its exception type is shown, never its message (it
could carry a URL or a token) nor a traceback.

A stdlib ThreadingHTTPServer on a daemon thread: nothing here may hold up the bot, and a
slow scrape holds only its own thread. A client that connects and then says nothing is
dropped after ``request_timeout`` (10 s), so idle connections cannot pin threads. Errors
answer 500 with an error id, never a trace.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bot.health.database import PATIENCE, DatabaseCheck
from bot.health.metrics import CONTENT_TYPE, render
from bot.store.db import Engine, ping

log = logging.getLogger(__name__)

Check = Callable[[], tuple[bool, str]]
"""A readiness check: ``(ok, detail)``; detail is one short line such as ``ok`` or ``off``."""

DATABASE = "database"
REQUEST_TIMEOUT = 10.0  # seconds a connection may sit idle (or trickle) before it is dropped
_TEXT = "text/plain; charset=utf-8"


def constant(ok: bool, detail: str) -> Check:
    """A check with a fixed answer (``constant(True, "off")``: intentionally off)."""
    return lambda: (ok, detail)


def _line(name: str, check: Check) -> tuple[bool, str]:
    try:
        ok, detail = check()
    except Exception as e:  # boundary: a broken check is "not ready", never a 500
        log.warning("readiness check %s failed: %s", name, type(e).__name__)
        ok, detail = False, f"check failed ({type(e).__name__})"
    return bool(ok), f"{name}: {' '.join(str(detail).split())}"  # one line, whatever it says


class HealthServer:
    """Start with ``start()``; ``port`` is the bound port (0 asks the OS for one)."""

    def __init__(
        self,
        *,
        engine: Engine,
        host: str,
        port: int,
        checks: Mapping[str, Check] | None = None,
        clock: Callable[[], float] = time.monotonic,
        database_patience: float = PATIENCE,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self._engine = engine
        self._database = DatabaseCheck(
            lambda: ping(engine), clock=clock, patience=database_patience
        )
        self.request_timeout = request_timeout
        self._checks: dict[str, Check] = {}
        self._checks_lock = threading.Lock()
        for name, check in (checks or {}).items():
            self.set_check(name, check)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            timeout = request_timeout  # socket timeout: an idle client is dropped

            def do_GET(self) -> None:
                outer._answer(self)

            def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    def set_check(self, name: str, check: Check) -> None:
        """Add the check ``name`` to /readyz, or replace it (shown in the order first added)."""
        if not name or name == DATABASE or any(c in name for c in ":\n\r"):
            raise ValueError(f"bad readiness check name {name!r}")
        with self._checks_lock:
            self._checks[name] = check

    def start(self) -> HealthServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="secbot-health", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for a serve_forever that never began
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def ready(self) -> tuple[bool, list[str]]:
        """(ready, one line per check: ``database: ok``, ``slack: off``...)."""
        with self._checks_lock:
            checks = list(self._checks.items())
        results = [_line(DATABASE, self._database)]
        results += [_line(name, check) for name, check in checks]
        return all(ok for ok, _ in results), [line for _, line in results]

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?", 1)[0]
        try:
            if path == "/healthz":
                status, body, ctype = 200, "ok\n", _TEXT
            elif path == "/readyz":
                ok, lines = self.ready()
                status, body, ctype = (200 if ok else 503), "\n".join(lines) + "\n", _TEXT
            elif path == "/metrics":
                status, body, ctype = 200, render(self._engine), CONTENT_TYPE
            else:
                status, body, ctype = 404, "not found\n", _TEXT
        except Exception as e:  # boundary: a scrape must never take the bot down
            error_id = secrets.token_hex(4)
            log.error("health %s failed: %s (error %s)", path, type(e).__name__, error_id)
            status, body, ctype = 500, f"error {error_id}\n", _TEXT
        data = body.encode()
        request.send_response(status)
        request.send_header("Content-Type", ctype)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
