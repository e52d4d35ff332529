"""The ``database`` line of /readyz: one ping at a time, its answer reused briefly.

Kubernetes probes /readyz every few seconds, from every kubelet retry, and each request has
its own thread. A database that stopped answering (a half-open TCP connection, a server
that accepts and never replies) would make every probe's ``SELECT 1`` wait for minutes,
each holding a thread and a pool connection: the probes pile up until the pool is gone and
the bot's own work waits behind them. So:

- at most one ping is in flight; it runs on its own daemon thread;
- a probe waits for it at most ``patience`` seconds (3), then answers "not answering (ping
  in flight for Ns)" without starting another;
- a finished ping's answer is reused for ``reuse`` seconds (2), so a burst of probes costs
  one round trip.

Time comes from the injected monotonic ``clock`` (the wait itself is a real
``Event.wait``: nothing sleeps when the ping is quick).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

PATIENCE = 3.0
REUSE = 2.0
THREAD_NAME = "secbot-readyz-ping"


@dataclass
class _Flight:
    started: float
    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False


class DatabaseCheck:
    """A readiness check (``(ok, detail)``) around ``ping``; safe to call from any thread."""

    def __init__(
        self,
        ping: Callable[[], bool],
        *,
        clock: Callable[[], float] = time.monotonic,
        patience: float = PATIENCE,
        reuse: float = REUSE,
    ) -> None:
        self._ping = ping
        self._clock = clock
        self._patience = patience
        self._reuse = reuse
        self._lock = threading.Lock()
        self._flight: _Flight | None = None
        self._last: tuple[float, bool] | None = None  # (finished at, ok)

    def __call__(self) -> tuple[bool, str]:
        with self._lock:
            now = self._clock()
            if self._last is not None and now - self._last[0] < self._reuse:
                return _answer(self._last[1])
            flight = self._flight
            if flight is None:
                flight = self._flight = _Flight(started=now)
                threading.Thread(
                    target=self._fly, args=(flight,), name=THREAD_NAME, daemon=True
                ).start()
        if flight.done.wait(self._patience):
            return _answer(flight.ok)
        waited = max(0, int(self._clock() - flight.started))
        return False, f"not answering (ping in flight for {waited}s)"

    def _fly(self, flight: _Flight) -> None:
        try:
            ok = bool(self._ping())
        except Exception as e:  # boundary: ping should not raise; if it does, not ready
            log.warning("database ping failed: %s", type(e).__name__)
            ok = False
        with self._lock:
            flight.ok = ok
            self._last = (self._clock(), ok)
            self._flight = None
        flight.done.set()


def _answer(ok: bool) -> tuple[bool, str]:
    return ok, "ok" if ok else "unreachable"
