"""The TLS probe against real listeners on 127.0.0.1: chains, failures, SNI, concurrency."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bot.sources import tlsprobe
from bot.sources.tlsprobe import ProbeFailed, ProbeOptions, ProbeTarget, fetch_chain, probe_all
from tests.sources import NOW, ec_key, key_pem, make_cert, name, pem

CA_KEY = ec_key("probe-ca")
CA = make_cert("probe-ca", key=CA_KEY, not_after=NOW.replace(year=2036), ca=True)
LEAF_KEY = ec_key("probe-leaf")
LEAF = make_cert(
    "probe-leaf",
    key=LEAF_KEY,
    not_after=NOW.replace(year=2027),
    issuer=(name("probe-ca"), CA_KEY),
    ips=("127.0.0.1",),
    dns=("localhost",),
)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@contextmanager
def tls_server(tmp_path: Path, *, chain: str, key: str) -> Iterator[tuple[int, list[str | None]]]:
    """A TLS listener serving ``chain``; yields its port and the SNI names it was sent."""
    (tmp_path / "chain.pem").write_text(chain)
    (tmp_path / "key.pem").write_text(key)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "chain.pem", tmp_path / "key.pem")
    names: list[str | None] = []
    ctx.sni_callback = lambda _sock, server_name, _ctx: names.append(server_name)  # type: ignore[assignment]
    srv = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.settimeout(1)
                    tls.recv(1)
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1], names
    finally:
        stop.set()
        srv.close()
        thread.join(timeout=2)


@contextmanager
def silent_listener() -> Iterator[int]:
    """Accepts TCP connections and never answers (a hung TLS server); yields its port."""
    srv = socket.create_server(("127.0.0.1", 0))
    conns: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conns.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        srv.close()
        for c in conns:
            c.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_fetch_chain_returns_the_served_chain_leaf_first(tmp_path: Path) -> None:
    with tls_server(tmp_path, chain=pem(LEAF, CA), key=key_pem(LEAF_KEY)) as (port, names):
        chain = fetch_chain("127.0.0.1", port, timeout=2)
    assert chain == [der(LEAF), der(CA)]
    assert names == [None]  # no SNI for an IP address


def test_fetch_chain_sends_sni_for_host_names(tmp_path: Path) -> None:
    with tls_server(tmp_path, chain=pem(LEAF), key=key_pem(LEAF_KEY)) as (port, names):
        chain = fetch_chain("localhost", port, timeout=2)
    assert chain == [der(LEAF)]
    assert names == ["localhost"]


def test_expired_and_self_signed_chains_are_still_read(tmp_path: Path) -> None:
    key = ec_key("expired")
    expired = make_cert("expired", key=key, not_after=NOW.replace(year=2020))
    with tls_server(tmp_path, chain=pem(expired), key=key_pem(key)) as (port, _):
        assert fetch_chain("127.0.0.1", port, timeout=2) == [der(expired)]


def test_refused_port() -> None:
    with pytest.raises(ProbeFailed) as err:
        fetch_chain("127.0.0.1", free_port(), timeout=1)
    assert err.value.reason == "connection refused"


def test_silent_listener_times_out_within_the_timeout() -> None:
    with silent_listener() as port:
        started = time.monotonic()
        with pytest.raises(ProbeFailed) as err:
            fetch_chain("127.0.0.1", port, timeout=0.3)
        elapsed = time.monotonic() - started
    assert err.value.reason == "timed out after 0.3 s"
    assert elapsed < 1.5


def test_a_plain_http_server_is_a_tls_error() -> None:
    srv = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = srv.accept()
        conn.recv(1024)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        conn.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        with pytest.raises(ProbeFailed) as err:
            fetch_chain("127.0.0.1", srv.getsockname()[1], timeout=2)
    finally:
        srv.close()
        thread.join(timeout=2)
    assert err.value.reason.startswith(("TLS handshake failed: ", "connection reset"))


def test_leaf_only_when_the_ssl_module_has_no_chain_accessor() -> None:
    class OldSocket:
        def getpeercert(self, binary_form: bool) -> bytes:
            assert binary_form
            return b"leaf-der"

    assert tlsprobe._chain(OldSocket()) == [b"leaf-der"]  # type: ignore[arg-type]


def test_probe_all_keeps_order_and_reports_each_failure(tmp_path: Path) -> None:
    refused = free_port()
    with tls_server(tmp_path, chain=pem(LEAF, CA), key=key_pem(LEAF_KEY)) as (port, _):
        targets = [
            ProbeTarget("127.0.0.1", refused, "kubelet", node="n1"),
            ProbeTarget("127.0.0.1", port, "kube-apiserver", expected_group=None),
        ]
        results = probe_all(targets, timeout=1, concurrency=4)
    assert [r.target for r in results] == targets
    assert (results[0].chain, results[0].error) == ((), "connection refused")
    assert (results[1].chain, results[1].error) == ((der(LEAF), der(CA)), None)


def test_probe_all_bounds_concurrent_handshakes(monkeypatch: pytest.MonkeyPatch) -> None:
    in_flight = [0]
    peak = [0]
    lock = threading.Lock()

    def slow_fetch(host: str, port: int, *, timeout: float) -> list[bytes]:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.05)
        with lock:
            in_flight[0] -= 1
        return [f"{host}:{port}".encode()]

    monkeypatch.setattr(tlsprobe, "fetch_chain", slow_fetch)
    targets = [ProbeTarget("10.0.0.1", 6443 + i, f"c{i}") for i in range(6)]
    results = probe_all(targets, timeout=1, concurrency=2)
    assert [r.chain for r in results] == [(f"10.0.0.1:{6443 + i}".encode(),) for i in range(6)]
    assert peak[0] == 2


def test_probe_options_validate() -> None:
    assert ProbeOptions().ports["kube-apiserver"] == 6443
    with pytest.raises(ValueError):
        ProbeOptions(timeout=0)
    with pytest.raises(ValueError):
        ProbeOptions(concurrency=0)
