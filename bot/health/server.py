"""``/healthz``, ``/readyz`` and ``/metrics`` on their own port (SECBOT_HEALTH_PORT).

- ``/healthz``: 200 while the process serves HTTP at all (liveness);
- ``/readyz``: 200 when the database answers ``SELECT 1`` and Slack is connected or
  intentionally off (console mode); 503 with the reason otherwise (readiness);
- ``/metrics``: the Prometheus exposition of bot.health.metrics.

A stdlib ThreadingHTTPServer on a daemon thread: nothing here may hold up the bot, and a
slow scrape holds only its own thread. Errors answer 500 with an error id, never a trace.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bot.health.metrics import CONTENT_TYPE, render
from bot.store.db import Engine, ping

log = logging.getLogger(__name__)


class HealthServer:
    """Start with ``start()``; ``port`` is the bound port (0 asks the OS for one)."""

    def __init__(
        self,
        *,
        engine: Engine,
        host: str,
        port: int,
        slack_ok: Callable[[], bool] = lambda: True,
    ) -> None:
        self._engine = engine
        self._slack_ok = slack_ok
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer._answer(self)

            def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    def start(self) -> HealthServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="secbot-health", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def ready(self) -> tuple[bool, str]:
        """(ready, why not)."""
        if not ping(self._engine):
            return False, "database unreachable"
        if not self._slack_ok():
            return False, "Slack not connected"
        return True, "ready"

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?", 1)[0]
        try:
            if path == "/healthz":
                status, body, ctype = 200, "ok\n", "text/plain; charset=utf-8"
            elif path == "/readyz":
                ok, why = self.ready()
                status, body, ctype = (200 if ok else 503), why + "\n", "text/plain; charset=utf-8"
            elif path == "/metrics":
                status, body, ctype = 200, render(self._engine), CONTENT_TYPE
            else:
                status, body, ctype = 404, "not found\n", "text/plain; charset=utf-8"
        except Exception as e:  # boundary: a scrape must never take the bot down
            error_id = secrets.token_hex(4)
            log.error("health %s failed: %s (error %s)", path, type(e).__name__, error_id)
            status, body, ctype = 500, f"error {error_id}\n", "text/plain; charset=utf-8"
        data = body.encode()
        request.send_response(status)
        request.send_header("Content-Type", ctype)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
