"""A faithful fake Slack Web API: a real HTTP server on 127.0.0.1 for the real slack_sdk clients.

``WebClient(base_url=fake.url)`` and ``respond()`` (to ``fake.response_url()``) use real HTTP, so
retries, headers and encodings are the SDK's own (parsing and Slack's checks: slack_requests.py).
``calls`` has every request, failed attempts too; ``calls_to``/``wait_for`` only accepted ones.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
import traceback
from dataclasses import dataclass
from functools import partialmethod
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.serving import BackgroundServer
from tests.fakes.slack_requests import SlackError, check_blocks, message_content, need, read_params

JSON = dict[str, Any]
Answer = tuple[int, Any, dict[str, str]]  # HTTP status, JSON dict or webhook text, headers
TEAM_ID, BOT_USER, BOT_ID, APP_ID = "T1", "UBOT", "B1", "A1"
FIRST_TS = 1_700_000_000_000_000  # microseconds; ts step 100: first ts "1700000000.000100"
SERVER_ERRORS = {429: "ratelimited", 500: "internal_error", 503: "service_unavailable"}


@dataclass(frozen=True)
class Call:
    """One request as the fake saw it, and what it answered."""

    method: str  # "chat.postMessage", ..., or "response" for a response_url POST
    params: JSON  # query + form or JSON body as Slack reads them (blocks/view decoded), no token
    headers: dict[str, str]  # names lower-cased
    at: float  # time.monotonic() on arrival
    status: int = 200  # HTTP status answered (0: connection dropped unanswered)
    answer: Any = None  # the JSON dict answered, or the text of a response_url answer
    path: str = ""

    @property
    def ok(self) -> bool:
        """Slack accepted it: HTTP 200 and, for Web API methods, ``"ok": true``."""
        answer = self.answer if isinstance(self.answer, dict) else {"ok": True}
        return self.status == 200 and answer.get("ok") is True


class FakeSlackAPI(BackgroundServer):
    """Fake Slack Web API; a context manager (``start``/``close``); thread-safe."""

    def __init__(self, *, token: str = "xoxb-test", latency: float = 0.0) -> None:
        self.token = token
        self.latency = latency  # seconds each request waits before it is answered
        self.users: dict[str, JSON] = {"U1": {"id": "U1", "name": "alice", "real_name": "Alice"}}
        self.groups: dict[str, list[str]] = {}  # usergroup id -> member user ids
        self.channels: dict[str, JSON] = {"C1": {"id": "C1", "name": "general", "is_member": True}}
        self.messages: dict[tuple[str, str], JSON] = {}  # (channel, ts) -> the posted message
        self.calls: list[Call] = []
        self.server_errors: list[str] = []  # tracebacks of bugs in the fake itself
        self._fails: list[tuple[str, int, int | None, str | None]] = []  # one per failure
        self._ts = FIRST_TS
        self._cond = threading.Condition()  # guards all of the above; RLock inside
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.api = self
        self.port: int = self._server.server_address[1]

    @property
    def url(self) -> str:
        """The WebClient base_url; the trailing slash matters (urljoin drops a last segment)."""
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, key: str = "r1") -> str:
        return f"http://127.0.0.1:{self.port}/response/{key}"

    # -- failures and observation ---------------------------------------------------------------
    def fail(
        self,
        method: str,
        status: int,
        *,
        times: int = 1,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests to ``method`` (or "response") with a failure.

        429 always carries ``Retry-After`` (``retry_after``, default 1 s) and ``ratelimited``;
        5xx answer ``internal_error``/``service_unavailable``; status 0 drops the connection
        unanswered; 200 with ``error`` is a Slack-level error such as ``channel_not_found``.
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        with self._cond:
            self._fails += [(method, status, retry_after, error)] * times

    def clear_failures(self) -> None:
        """Forget the failures not yet answered (Slack is back)."""
        with self._cond:
            self._fails.clear()

    def calls_to(self, method: str) -> list[Call]:
        """Requests to ``method`` that Slack accepted (failed attempts are only in ``calls``)."""
        with self._cond:
            return [c for c in self.calls if c.method == method and c.ok]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """All accepted calls to ``method`` once there are ``count``; AssertionError on timeout."""
        with self._cond:
            if self._cond.wait_for(lambda: len(self.calls_to(method)) >= count, timeout):
                return self.calls_to(method)
            seen = [f"{c.method}:{c.status}" for c in self.calls]
        raise AssertionError(f"{count} accepted {method} call(s) not seen in {timeout}s: {seen}")

    def clear(self) -> None:
        """Forget recorded calls (e.g. the auth.test an App makes when it is built)."""
        with self._cond:
            self.calls.clear()

    # -- dispatch -------------------------------------------------------------------------------
    def handle(self, *, path: str, query: str, headers: dict[str, str], body: bytes) -> Answer:
        """One request, recorded: (status, JSON dict or text, extra response headers)."""
        time.sleep(self.latency)
        kind, _, name = path.lstrip("/").partition("/")
        if kind not in ("api", "response") or not name or "/" in name:
            return 404, "Not Found", {}
        webhook = kind == "response"
        method = "response" if webhook else name
        extra: dict[str, str] = {}
        params: JSON = {}
        with self._cond:
            try:
                if not webhook and not hasattr(self, "_m_" + method.replace(".", "_")):
                    raise SlackError("unknown_method", 404, req_method=method)
                params, token = read_params(headers, body, query=query, webhook=webhook)
                status, answer = self._answer(method, params, token=token, extra=extra)
            except SlackError as e:
                status, answer = e.status, e.body
            except Exception:  # boundary: a bug in the fake answers 500 and is kept for tests
                self.server_errors.append(traceback.format_exc())
                status, answer = 500, {"ok": False, "error": "fatal_error"}
            if webhook and isinstance(answer, dict):  # webhooks answer plain text
                answer = answer["error"]
            self.calls.append(Call(method, params, headers, time.monotonic(), status, answer, path))
            self._cond.notify_all()
        return status, answer, extra

    def _answer(
        self, method: str, params: JSON, *, token: str | None, extra: dict[str, str]
    ) -> tuple[int, Any]:
        rule = next((r for r in self._fails if r[0] == method), None)
        if rule is not None:
            self._fails.remove(rule)  # the earliest rule for the method
            _, status, retry_after, error = rule
            if retry_after is not None:
                extra["Retry-After"] = str(retry_after)
            error = error or SERVER_ERRORS.get(status, "fatal_error")
            return status, (None if status == 0 else {"ok": False, "error": error})
        if method == "response":  # a response_url carries no token; Slack answers a plain "ok"
            if not params:
                raise SlackError("invalid_payload", 400)
            return 200, "ok"
        if not token:
            raise SlackError("not_authed")
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            raise SlackError("invalid_auth")
        return 200, getattr(self, "_m_" + method.replace(".", "_"))(params)

    def _lookup(self, table: dict[str, Any], wanted: Any, *, error: str) -> Any:
        found = table.get(str(wanted or ""))
        if found is None:
            raise SlackError(error)
        return {"id": wanted, **found} if isinstance(found, dict) else list(found)

    # -- methods (called with the lock held) ----------------------------------------------------
    def _next_ts(self) -> str:
        self._ts += 100
        return f"{self._ts // 1_000_000}.{self._ts % 1_000_000:06d}"

    def _m_auth_test(self, p: JSON) -> JSON:
        return {
            "ok": True,
            "url": "https://secbot-test.slack.com/",
            "team": "Secbot Test",
            "user": "secbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _channel_id(self, channel: str) -> str:
        """A known channel's id for its name ("#general" or "general"): Slack answers with
        the id whichever was given, and only the id works for chat.update."""
        name = channel.removeprefix("#")
        found = (cid for cid, info in self.channels.items() if info.get("name") == name)
        return next(found, channel)

    def _m_chat_postMessage(self, p: JSON) -> JSON:
        channel = self._channel_id(str(need(p, "channel", error="channel_not_found")))
        if channel[0] in "UW":  # posting to a user id goes to the bot's DM with them
            channel = "D" + channel[1:]
        content, ts = message_content(p), self._next_ts()
        message = {"type": "message", "user": BOT_USER, "bot_id": BOT_ID, "app_id": APP_ID}
        message |= {"team": TEAM_ID, "ts": ts, "text": "", **content}
        self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _m_chat_update(self, p: JSON) -> JSON:
        key = (str(need(p, "channel", error="channel_not_found")), str(p.get("ts", "")))
        if key not in self.messages:
            raise SlackError("message_not_found")
        message = self.messages[key]
        message.update(message_content(p), edited={"user": BOT_USER, "ts": self._next_ts()})
        answer = {"ok": True, "channel": key[0], "ts": key[1], "text": message["text"]}
        return answer | {"message": message}

    def _m_chat_postEphemeral(self, p: JSON) -> JSON:
        need(p, "channel", error="channel_not_found")
        need(p, "user", error="user_not_in_channel")
        message_content(p)
        return {"ok": True, "message_ts": self._next_ts()}

    def _m_views_publish(self, p: JSON, *, kind: str = "home") -> JSON:
        need(p, "user_id" if kind == "home" else "trigger_id", error="invalid_arguments")
        view = need(p, "view", error="invalid_arguments")
        if not isinstance(view, dict) or view.get("type") != kind:
            raise SlackError("invalid_arguments")
        check_blocks(view.get("blocks", []), kind=kind, pointer="/view/blocks")
        answer = {"id": "V" + secrets.token_hex(5).upper(), "team_id": TEAM_ID, **view}
        answer.update(app_id=APP_ID, bot_id=BOT_ID, hash=f"{time.time():.6f}.{self._ts}")
        return {"ok": True, "view": answer}

    _m_views_open = partialmethod(_m_views_publish, kind="modal")

    def _m_users_info(self, p: JSON) -> JSON:
        return {"ok": True, "user": self._lookup(self.users, p.get("user"), error="user_not_found")}

    def _m_usergroups_users_list(self, p: JSON) -> JSON:
        users = self._lookup(self.groups, p.get("usergroup"), error="no_such_subteam")
        return {"ok": True, "users": users}

    def _m_conversations_info(self, p: JSON) -> JSON:
        channel = self._lookup(self.channels, p.get("channel"), error="channel_not_found")
        return {"ok": True, "channel": channel}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, answer, extra = self.server.api.handle(
            path=split.path, query=split.query, headers=headers, body=body
        )
        if status == 0:
            self.close_connection = True
            return
        is_json = isinstance(answer, dict)
        payload = json.dumps(answer).encode() if is_json else str(answer).encode()
        self.send_response(status)
        ctype = "application/json" if is_json else "text/html"
        self.send_header("Content-Type", f"{ctype}; charset=utf-8")
        self.send_header("X-Slack-Req-Id", secrets.token_hex(16))
        for key, value in extra.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST  # Slack accepts GET with a query string for read methods

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is FakeSlackAPI.calls


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops SYNs under concurrent clients: 1 s stalls
    api: FakeSlackAPI
