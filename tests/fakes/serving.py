"""The lifecycle every fake server shares: serve in a daemon thread, stop cleanly.

Subclasses set ``self._server`` (a socketserver server) before using ``start``; a
``with`` block starts the server and closes it (shutdown, join, close the socket).
"""

from __future__ import annotations

import socketserver
import threading
from types import TracebackType
from typing import Self


class BackgroundServer:
    """Runs ``self._server.serve_forever`` on a daemon thread between start and close."""

    _server: socketserver.BaseServer
    _thread: threading.Thread | None = None
    thread_name = "fake-server"

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=self.thread_name,
                daemon=True,
            )
            self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()
        self._after_close()

    def _after_close(self) -> None:
        """Hook for what a subclass must release after the socket is closed."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
