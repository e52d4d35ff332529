"""Running the Bolt app: Socket Mode or HTTP, until a stop event is set.

* Socket Mode (``SLACK_APP_TOKEN``): an outbound WebSocket from the bot, so no public
  ingress is needed; Bolt's built-in ``SocketModeHandler`` (no extra dependency).
* HTTP mode: Bolt's WSGI adapter under a threading ``wsgiref`` server on ``port``; Slack
  POSTs to ``/slack/events`` and Bolt verifies the signing secret and the 5-minute
  timestamp window on every request. ``GET /healthz`` answers ``ok`` for probes; bodies
  over 1 MiB are refused unread.

Both run until ``stop`` is set (``secbot serve`` sets it on SIGINT/SIGTERM) and then
close their connections; the caller shuts down the worker pool.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.request.internals import build_context
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.builtin import SocketModeClient

from bot.errors import UserError

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
POLL_SECONDS = 0.5
# Slack's payloads are a few KiB (a slash command at most ~5); anything far bigger is not
# from Slack and is refused before it is read into memory.
MAX_BODY = 1024 * 1024
_FORM = "application/x-www-form-urlencoded"


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """One thread per request: a slow client must not hold up other acks."""

    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: a burst of connections beyond it is dropped
    # and the client's SYN retry comes a second later, far past any ack budget.
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr (the request line is harmless, but it is noise)."""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: " + format, *args)


def bolt_request(*, body: str, query: str, headers: dict[str, Any]) -> BoltRequest:
    """A BoltRequest whose form body is read right even when it mentions "payload".

    Bolt's parser takes any urlencoded body containing the word ``payload`` for an
    interactivity payload (``payload=<json>``); a slash command whose text merely says
    "payload" then arrives with an empty body, matches no listener and gets a 404. Such a
    body is parsed again as the plain form it is.
    """
    request = BoltRequest(body=body, query=query, headers=headers)
    if request.content_type == _FORM and "payload" in body:
        form = dict(parse_qsl(body, keep_blank_values=True))
        if "payload" not in form:
            request.body = form
            request.context = build_context(BoltContext({}), form)
    return request


class _SlackHandler(SlackRequestHandler):
    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        return self.app.dispatch(
            bolt_request(
                body=request.get_body(),
                query=request.query_string,
                headers=dict(request.get_headers()),
            )
        )


def wsgi_app(app: App) -> WSGIApplication:
    """Bolt's WSGI handler on ``/slack/events`` plus ``/healthz``."""
    slack = _SlackHandler(app, path=EVENTS_PATH)

    def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH and environ.get("REQUEST_METHOD") == "GET":
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"ok\n"]
        try:
            size = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            size = MAX_BODY + 1
        if size > MAX_BODY:  # refused before it is read: the signature is checked after
            start_response("413 Payload Too Large", [("Content-Type", "text/plain")])
            return [b"too large\n"]
        return slack(environ, start_response)

    return application


def http_server(app: App, *, host: str, port: int) -> ThreadingWSGIServer:
    """A bound (not yet serving) HTTP server for ``app``; port 0 picks a free port."""
    server = make_server(
        host, port, wsgi_app(app), server_class=ThreadingWSGIServer, handler_class=_QuietHandler
    )
    assert isinstance(server, ThreadingWSGIServer)
    return server


def serve_http(
    app: App, *, host: str, port: int, stop: threading.Event, ready: Callable[[str], None]
) -> None:
    """Serve until ``stop`` is set; ``ready`` gets the URL once the port is bound."""
    server = http_server(app, host=host, port=port)
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    try:
        ready(f"http://{host}:{server.server_port}{EVENTS_PATH}")
        while not stop.wait(POLL_SECONDS):
            pass
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def serve_socket_mode(
    app: App,
    *,
    app_token: str,
    stop: threading.Event,
    ready: Callable[[str], None],
    watch: Callable[[SocketModeClient], None] | None = None,
) -> None:
    """Connect over Socket Mode and stay connected (Bolt reconnects) until ``stop``.

    ``watch`` gets the connection's client before it connects, so /readyz can follow it
    (bot.slack.readiness.SocketModeProbe)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler = SocketModeHandler(app, app_token)
    if watch is not None:
        watch(handler.client)
    try:
        try:
            handler.connect()  # type: ignore[no-untyped-call]  # Bolt leaves it unannotated
        except SlackApiError as e:  # apps.connections.open refused the app-level token
            error = e.response.get("error")
            raise UserError(f"Slack refused SLACK_APP_TOKEN (Socket Mode): {error}") from None
        ready("Socket Mode")
        while not stop.wait(POLL_SECONDS):
            pass
    finally:  # also after a refused token: the client's threads started with it
        handler.close()  # type: ignore[no-untyped-call]
