"""Is Slack usable right now? The ``slack`` line of ``/readyz``.

Every probe here is a plain callable returning ``(ok, detail)``, the shape bot.health takes
(it knows nothing about Slack; bot.cli_serve hands the probe over):

* Socket Mode (``SocketModeProbe``): ready while the Socket Mode client holds an open
  WebSocket (``SocketModeClient.is_connected()``), "socket mode disconnected" while it
  reconnects. Bolt's built-in handler notices a connection that died silently (no close
  frame) by its ping/pong watchdog, so such a drop shows here within about four ping
  intervals (40 s with Bolt's defaults), a clean close or refresh at once.
* HTTP mode (``AuthTestProbe``): Slack pushes events to us, so there is no connection to
  watch; what can break is the token, or our way out to Slack. ``auth.test`` says both.
  Its answer is kept for ``every`` seconds (60) when it settles something (token valid,
  token rejected) and ``retry_every`` seconds (10) after a transient failure (HTTP 5xx,
  network; a 429 waits at least its Retry-After), so a probe every 10 s costs Slack one
  call a minute. The probe has its own client: one attempt, a 3 s timeout, no retry
  handlers (the app's client would sleep through a 429 inside the probe).
* Console mode has no probe here: the health server's constant "off" says it.

bot.slack.runtime.serve_socket_mode hands its Socket Mode client to a ``watch`` callback,
which wraps it in a SocketModeProbe.

Details never carry a token, a URL or an exception message: an error code, an HTTP
status or an exception type, nothing else.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.builtin import SocketModeClient

log = logging.getLogger(__name__)

Probe = Callable[[], tuple[bool, str]]

# Below the Deployment's readinessProbe timeout (5 s), which the database ping shares:
# a Slack that hangs shows as a reason in the body, not as a probe timeout.
PROBE_TIMEOUT_SECONDS = 3
# Slack's answers meaning "this token will not work", as opposed to "try again".
TOKEN_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)


class _Transitions:
    """Logs a probe's changes (ready -> not ready and back), not every answer;
    ``quiet_start``: not being ready before the first success is no news (connecting)."""

    def __init__(self, *, quiet_start: bool = False) -> None:
        self._last: bool | None = None
        self._quiet_start = quiet_start

    def note(self, ok: bool, detail: str) -> tuple[bool, str]:
        if ok != self._last:
            if ok:
                log.info("slack ready: %s", detail)
            elif self._last is not None or not self._quiet_start:
                log.warning("slack not ready: %s", detail)
            self._last = ok
        return ok, detail


class SocketModeProbe:
    """Ready while ``client`` (the Socket Mode handler's) is connected."""

    def __init__(self, client: SocketModeClient) -> None:
        self._client = client
        self._log = _Transitions(quiet_start=True)

    def __call__(self) -> tuple[bool, str]:
        if self._client.is_connected():
            return self._log.note(True, "ok (socket mode)")
        return self._log.note(False, "socket mode disconnected")


class AuthTestProbe:
    """Ready while ``auth.test`` accepts the token; answers cached (see the module doc)."""

    def __init__(
        self,
        client: WebClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        every: float = 60.0,
        retry_every: float = 10.0,
        known_ok: bool = False,
    ) -> None:
        """``known_ok``: auth.test has just succeeded (Bolt's own check when the app was
        built), so the first probe need not ask again."""
        self._client = client
        self._clock = clock
        self._every = every
        self._retry_every = retry_every
        self._log = _Transitions()
        self._mutex = threading.Lock()  # concurrent probes share one auth.test
        self._answer: tuple[bool, str] | None = (True, "ok (http mode)") if known_ok else None
        self._due = clock() + every if known_ok else 0.0

    def __call__(self) -> tuple[bool, str]:
        with self._mutex:
            now = self._clock()
            if self._answer is None or now >= self._due:
                ok, detail, wait = self._ask()
                self._answer, self._due = self._log.note(ok, detail), now + wait
            return self._answer

    def _ask(self) -> tuple[bool, str, float]:
        """(ok, detail, seconds until the next auth.test)."""
        try:
            self._client.auth_test()
        except SlackApiError as e:
            status = int(getattr(e.response, "status_code", 0) or 0)
            error = str(e.response.get("error") or "unknown_error")
            if status == 429:
                after = _seconds(e.response.headers.get("Retry-After"), default=30)
                wait = max(self._retry_every, after)
                return False, f"rate limited by Slack (auth.test; retry after {after}s)", wait
            if status >= 500:
                return False, f"Slack answered auth.test with HTTP {status}", self._retry_every
            if error in TOKEN_ERRORS:
                return False, f"token rejected ({error})", self._every
            return False, f"auth.test failed ({error})", self._retry_every
        except OSError as e:  # URLError, timeouts, refused or dropped connections
            return False, f"cannot reach Slack ({type(e).__name__})", self._retry_every
        except Exception as e:  # boundary: a probe answers, it never raises
            return False, f"auth.test failed ({type(e).__name__})", self._retry_every
        return True, "ok (http mode)", self._every


def _seconds(value: object, *, default: int) -> int:
    try:
        return max(0, int(str(value)))
    except ValueError:
        return default


def probe_client(client: WebClient) -> WebClient:
    """A client like ``client`` (token, base URL, proxy, TLS) for probes: one short try."""
    return WebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=PROBE_TIMEOUT_SECONDS,
        ssl=client.ssl,
        proxy=client.proxy,
        retry_handlers=[],
    )


def http_mode_probe(app: App, *, clock: Callable[[], float] = time.monotonic) -> AuthTestProbe:
    """The HTTP-mode probe of a freshly built ``app`` (whose build just ran auth.test)."""
    return AuthTestProbe(probe_client(app.client), clock=clock, known_ok=True)
