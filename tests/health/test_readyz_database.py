"""/readyz's database line (bot.health.database) against a database that stops answering.

The silent database is real: a TCP server that accepts connections and never says a word,
like a PostgreSQL behind a half-open connection. The real ``ping`` on a real psycopg engine
blocks on it (until libpq's connect_timeout, 10 s) for as long as the test keeps it
silent. Aspects: one ping in flight at most, whatever the number of probes; a probe waits
for it only ``patience`` seconds, then says for how long the ping has been in flight (the
controllable clock); a result is reused for 2 s; an idle HTTP client is dropped.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.health.database import THREAD_NAME, DatabaseCheck
from bot.health.server import HealthServer
from bot.store.db import make_engine, ping
from tests.slack.test_readiness import Clock
from tests.store.conftest import migrated_engine


class SilentDatabase:
    """Accepts TCP connections and never answers, until ``hang_up``: then every connection
    is closed (the client sees the server go away)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)  # so that close() ends the accept loop promptly
        self.port = self._listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)

    def hang_up(self) -> None:
        for conn in self.accepted:
            conn.close()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
        self._listener.close()
        self.hang_up()

    def engine(self) -> Engine:
        # No TLS or GSS negotiation: exactly one connection per attempt.
        return make_engine(
            f"postgresql+psycopg://secbot@127.0.0.1:{self.port}/secbot"
            "?sslmode=disable&gssencmode=disable"
        )


@pytest.fixture
def silent() -> Iterator[SilentDatabase]:
    server = SilentDatabase()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine("sqlite", tmp_path) as eng:
        yield eng


def _until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _pings_in_flight() -> int:
    return sum(t.name == THREAD_NAME for t in threading.enumerate())


def test_one_ping_in_flight_and_probes_do_not_wait_for_it(silent: SilentDatabase) -> None:
    engine = silent.engine()
    clock = Clock()
    check = DatabaseCheck(lambda: ping(engine), clock=clock, patience=0.2)
    try:
        assert check() == (False, "not answering (ping in flight for 0s)")
        _until(lambda: len(silent.accepted) == 1)
        clock.advance(7)
        with ThreadPoolExecutor(max_workers=8) as pool:  # a pile of probes, all at once
            answers = list(pool.map(lambda _: check(), range(8)))
        assert answers == [(False, "not answering (ping in flight for 7s)")] * 8
        assert (len(silent.accepted), _pings_in_flight()) == (1, 1)

        silent.hang_up()  # the ping ends: the server went away
        _until(lambda: _pings_in_flight() == 0)
        assert check() == (False, "unreachable")
        clock.advance(1.9)  # reused: no new connection
        assert check() == (False, "unreachable")
        assert len(silent.accepted) == 1
        clock.advance(0.1)  # 2 s on: asked again, and again nobody answers
        assert check() == (False, "not answering (ping in flight for 0s)")
        _until(lambda: len(silent.accepted) == 2)
    finally:
        silent.hang_up()
        _until(lambda: _pings_in_flight() == 0)
        engine.dispose()


def test_a_quick_answer_is_reused_for_two_seconds(sqlite: Engine) -> None:
    clock = Clock()
    asked: list[float] = []

    def counted() -> bool:  # the real ping, counted
        asked.append(clock())
        return ping(sqlite)

    check = DatabaseCheck(counted, clock=clock)
    assert check() == (True, "ok")
    clock.advance(1.5)
    assert check() == (True, "ok")
    assert len(asked) == 1
    clock.advance(0.5)
    assert check() == (True, "ok")
    assert len(asked) == 2


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_readyz_answers_while_the_database_is_silent(silent: SilentDatabase) -> None:
    engine = silent.engine()
    clock = Clock()
    server = HealthServer(
        engine=engine, host="127.0.0.1", port=0, clock=clock, database_patience=0.2
    ).start()
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            answers = list(pool.map(lambda _: _get(server.port, "/readyz"), range(6)))
        assert answers == [(503, "database: not answering (ping in flight for 0s)\n")] * 6
        clock.advance(12)
        assert _get(server.port, "/readyz") == (
            503,
            "database: not answering (ping in flight for 12s)\n",
        )
        assert len(silent.accepted) == 1
        assert _get(server.port, "/healthz") == (200, "ok\n")
    finally:
        silent.hang_up()
        _until(lambda: _pings_in_flight() == 0)
        server.stop()
        engine.dispose()


def test_an_idle_client_is_dropped(sqlite: Engine) -> None:
    default = HealthServer(engine=sqlite, host="127.0.0.1", port=0)
    default.stop()
    assert default.request_timeout == 10
    server = HealthServer(engine=sqlite, host="127.0.0.1", port=0, request_timeout=0.3).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as idle:
            started = time.monotonic()
            assert idle.recv(1) == b""  # closed by the server, not by our 10 s timeout
            assert time.monotonic() - started < 5
        assert _get(server.port, "/readyz") == (200, "database: ok\n")
    finally:
        server.stop()
