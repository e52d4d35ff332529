"""Slack's Socket Mode, faked: ``apps.connections.open`` on the fake Web API and the WebSocket
it hands out, for the real slack_sdk ``SocketModeClient`` (and Bolt's ``SocketModeHandler``).

``FakeSocketModeSlack`` is a ``FakeSlackAPI`` whose ``apps.connections.open`` takes the
app-level token (the bot token gets Slack's ``not_allowed_token_type``, a wrong token
``invalid_auth``) and answers with a ``ws://`` URL of its ``FakeSocketModeServer``: a real
WebSocket endpoint (RFC 6455 handshake with ``Sec-WebSocket-Accept``, masked client frames,
ping -> pong, close) that greets each connection with Slack's ``hello``. The SDK speaks plain
``ws://`` to any port but 443, so no TLS is needed.

Controls: ``close_all()`` sends a close frame and hangs up, as Slack does when it drops a
connection (the client reconnects from its watchdog, once a ping interval); ``refuse = True``
answers new handshakes with HTTP 503 (Slack's edge unavailable). Observation: ``accepted``
(handshakes accepted so far) and ``live`` (connections open now).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import socket
import socketserver
import struct
import threading
from typing import Any, Self

from tests.fakes.serving import BackgroundServer
from tests.fakes.slack_api import APP_ID, FakeSlackAPI
from tests.fakes.slack_requests import SlackError

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA
_REFUSED = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class _Conn:
    """One accepted WebSocket: frames in (unmasked here) and out (servers never mask)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._send = threading.Lock()

    def send(self, opcode: int, payload: bytes = b"") -> None:
        size = len(payload)
        if size <= 125:
            head = struct.pack("!BB", 0x80 | opcode, size)
        elif size <= 0xFFFF:
            head = struct.pack("!BBH", 0x80 | opcode, 126, size)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
        with self._send:
            self.sock.sendall(head + payload)

    def _exactly(self, n: int) -> bytes | None:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def read(self) -> tuple[int, bytes] | None:
        """The next frame (opcode, payload); None when the client hung up."""
        head = self._exactly(2)
        if head is None:
            return None
        opcode, size = head[0] & 0x0F, head[1] & 0x7F
        if size in (126, 127):
            wide = self._exactly(2 if size == 126 else 8)
            if wide is None:
                return None
            size = struct.unpack("!H" if len(wide) == 2 else "!Q", wide)[0]
        mask = self._exactly(4) if head[1] & 0x80 else b"\0\0\0\0"
        payload = self._exactly(size) if size else b""
        if mask is None or payload is None:
            return None
        return opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

    def hang_up(self) -> None:
        with contextlib.suppress(OSError):  # already gone
            self.sock.shutdown(socket.SHUT_RDWR)


class FakeSocketModeServer(BackgroundServer):
    """The WebSocket side of Socket Mode; thread-safe."""

    thread_name = "fake-socket-mode"

    def __init__(self) -> None:
        self.refuse = False
        self.accepted = 0
        self._live: list[_Conn] = []
        self._cond = threading.Condition()
        self._server = _TCPServer(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self.port: int = self._server.server_address[1]

    def url(self) -> str:
        ticket = secrets.token_hex(8)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={APP_ID}"

    @property
    def live(self) -> int:
        with self._cond:
            return len(self._live)

    def wait_live(self, count: int, timeout: float = 10.0) -> None:
        """Until exactly ``count`` connections are open; AssertionError on timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._live) == count, timeout):
                raise AssertionError(f"{count} live connection(s) not seen: {len(self._live)}")

    def close_all(self, code: int = 1001, reason: str = "going away") -> None:
        """Close every connection from the server side: a close frame, then the TCP FIN."""
        for conn in self._snapshot():
            with contextlib.suppress(OSError):  # the client hung up first
                conn.send(CLOSE, struct.pack("!H", code) + reason.encode())
            conn.hang_up()

    def _snapshot(self) -> list[_Conn]:
        with self._cond:
            return list(self._live)

    def _after_close(self) -> None:
        for conn in self._snapshot():
            conn.hang_up()

    # -- called by the handler ------------------------------------------------------------------
    def _opened(self, conn: _Conn) -> None:
        with self._cond:
            self.accepted += 1
            self._live.append(conn)
            self._cond.notify_all()

    def _closed(self, conn: _Conn) -> None:
        with self._cond:
            if conn in self._live:
                self._live.remove(conn)
            self._cond.notify_all()


def _hello() -> dict[str, Any]:
    return {
        "type": "hello",
        "num_connections": 1,
        "debug_info": {"host": "applink-fake", "approximate_connection_time": 18060},
        "connection_info": {"app_id": APP_ID},
    }


class _Handler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        fake = self.server.fake
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 16384:
            chunk = sock.recv(1024)
            if not chunk:
                return
            head += chunk
        lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
        }
        key = headers.get("sec-websocket-key", "")
        if (
            fake.refuse
            or not lines[0].startswith("GET /link/?ticket=")
            or headers.get("upgrade", "").lower() != "websocket"
            or headers.get("sec-websocket-version") != "13"
            or not key
        ):
            sock.sendall(_REFUSED)
            return
        accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        sock.sendall(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        conn = _Conn(sock)
        fake._opened(conn)
        try:
            conn.send(TEXT, json.dumps(_hello()).encode())
            while (frame := conn.read()) is not None:
                opcode, payload = frame
                if opcode == PING:
                    conn.send(PONG, payload)
                elif opcode == CLOSE:
                    conn.send(CLOSE, payload[:2])
                    break
        except OSError:
            pass  # the client went away mid-frame
        finally:
            fake._closed(conn)
            conn.hang_up()


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    fake: FakeSocketModeServer


class FakeSocketModeSlack(FakeSlackAPI):
    """FakeSlackAPI plus Socket Mode: ``apps.connections.open`` and ``socket`` (the WebSocket)."""

    def __init__(
        self, *, token: str = "xoxb-test", app_token: str = "xapp-test", latency: float = 0.0
    ) -> None:
        super().__init__(token=token, latency=latency)
        self.app_token = app_token
        self.socket = FakeSocketModeServer()

    def start(self) -> Self:
        self.socket.start()
        return super().start()

    def _after_close(self) -> None:
        self.socket.close()

    def _answer(
        self, method: str, params: dict[str, Any], *, token: str | None, extra: dict[str, str]
    ) -> tuple[int, Any]:
        if method == "apps.connections.open" and token:
            if hmac.compare_digest(token.encode(), self.token.encode()):
                raise SlackError("not_allowed_token_type")
            if hmac.compare_digest(token.encode(), self.app_token.encode()):
                token = self.token  # the one token this method takes: past the base class's check
        return super()._answer(method, params, token=token, extra=extra)

    def _m_apps_connections_open(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self.socket.url()}
