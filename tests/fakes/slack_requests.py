"""Slack's wire formats, both ways, for tests: what Slack sends the app, and what Slack accepts.

To the app: slash commands, button clicks and events exactly as Slack sends them (raw
urlencoded forms, ``payload=`` + urlencoded JSON, JSON event callbacks), signed like Slack signs
them (``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}``, headers ``x-slack-signature`` and
``x-slack-request-timestamp``), as a BoltRequest for ``App.dispatch`` or a WSGI environ for
``slack_bolt.adapter.wsgi.SlackRequestHandler``.

From the SDK (the fake Web API's side, see slack_api.py): reading parameters and tokens the way
Slack does, and the message/view checks Slack makes server-side.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode
from wsgiref.util import setup_testing_defaults

from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier

JSON = dict[str, Any]
FORM_TYPE = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"
# Default response_url: a refused loopback port, so a forgotten fake never reaches the internet.
NO_RESPONSE_URL = "http://127.0.0.1:9/response/unset"
TRIGGER_ID = "1700000000.1.0123456789abcdef0123456789abcdef"
BLOCK_LIMITS = {"message": 50, "home": 100, "modal": 100}


# -- what Slack sends the app -------------------------------------------------------------------
def signed(
    body: str, *, secret: str, content_type: str, timestamp: int | None = None
) -> dict[str, str]:
    """Headers of a request Slack signed with ``secret`` at ``timestamp`` (default: now)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None  # only None without a timestamp
    return {
        "content-type": content_type,
        "x-slack-signature": signature,
        "x-slack-request-timestamp": ts,
    }


def slash_command(
    text: str,
    *,
    user: str = "U1",
    channel: str = "C1",
    command: str = "/harvester",
    response_url: str = NO_RESPONSE_URL,
    user_name: str = "alice",
    trigger_id: str = TRIGGER_ID,
) -> str:
    """The raw form body of a slash command, fields in Slack's order, spaces as ``+``."""
    return urlencode(
        {
            "token": "verification-token-unused",  # legacy field; Bolt checks the signature
            "team_id": "T1",
            "team_domain": "secbot-test",
            "channel_id": channel,
            "channel_name": "general" if channel == "C1" else channel.lower(),
            "user_id": user,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": "A1",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    )


def block_action(
    action_id: str,
    value: str,
    *,
    user: str = "U1",
    response_url: str = NO_RESPONSE_URL,
    message_ts: str = "1700000000.000100",
    channel: str = "C1",
    block_id: str = "actions",
    ephemeral: bool = False,
) -> str:
    """A button click: ``payload=`` + urlencoded JSON. An ephemeral message has no ``message``
    in the payload (Slack keeps none), so only its response_url can change it."""
    payload: JSON = {
        "type": "block_actions",
        "user": {"id": user, "username": "alice", "name": "alice", "team_id": "T1"},
        "api_app_id": "A1",
        "token": "verification-token-unused",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": ephemeral,
        },
        "trigger_id": TRIGGER_ID,
        "team": {"id": "T1", "domain": "secbot-test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "general" if channel == "C1" else channel.lower()},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": "Fix", "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    if not ephemeral:
        payload["message"] = {
            "type": "message",
            "user": "UBOT",
            "bot_id": "B1",
            "app_id": "A1",
            "team": "T1",
            "ts": message_ts,
            "text": "",
            "blocks": [],
        }
    return urlencode({"payload": json.dumps(payload)})


def app_home_opened(user: str = "U1", *, tab: str = "home") -> str:
    """The JSON event_callback Slack sends when ``user`` opens the app's Home tab."""
    now = int(time.time())
    event = {
        "type": "app_home_opened",
        "user": user,
        "channel": "D" + user[1:],
        "tab": tab,
        "event_ts": f"{now}.000100",
    }
    return json.dumps(
        {
            "token": "verification-token-unused",
            "team_id": "T1",
            "api_app_id": "A1",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{now}",
            "event_time": now,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": "T1",
                    "user_id": "UBOT",
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
    )


def bolt_request(body: str, headers: dict[str, str]) -> BoltRequest:
    return BoltRequest(body=body, headers=dict(headers))


def signed_request(body: str, *, secret: str, timestamp: int | None = None) -> BoltRequest:
    """``bolt_request`` of ``body`` signed now; JSON bodies get the JSON content type."""
    ctype = JSON_TYPE if body.startswith("{") else FORM_TYPE
    return bolt_request(body, signed(body, secret=secret, content_type=ctype, timestamp=timestamp))


def wsgi_environ(
    body: str, headers: dict[str, str], *, path: str = "/slack/events", method: str = "POST"
) -> dict[str, Any]:
    """A WSGI environ as a server would build it for this request (headers as HTTP_*)."""
    raw = body.encode()
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path}
    environ["CONTENT_LENGTH"], environ["wsgi.input"] = str(len(raw)), io.BytesIO(raw)
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    setup_testing_defaults(environ)
    return environ


@dataclass(frozen=True)
class WsgiResult:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: str


def call_wsgi(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> WsgiResult:
    """Call a WSGI app (e.g. SlackRequestHandler) the way a server does; collect its answer."""
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started.append((status, headers))

    body = b"".join(app(environ, start_response))
    status, headers = started[0]
    return WsgiResult(int(status.split()[0]), {k.lower(): v for k, v in headers}, body.decode())


# -- what Slack accepts from the SDK (the fake Web API's side) ----------------------------------
class SlackError(Exception):
    """An ``{"ok": false, "error": ...}`` answer (plus fields such as response_metadata)."""

    def __init__(self, error: str, status: int = 200, **extra: Any) -> None:
        super().__init__(error)
        self.body: JSON = {"ok": False, "error": error, **extra}
        self.status = status


def need(params: JSON, name: str, *, error: str) -> Any:
    if params.get(name) in (None, ""):
        raise SlackError(error)
    return params[name]


def read_params(
    headers: dict[str, str], body: bytes, *, query: str, webhook: bool
) -> tuple[JSON, str | None]:
    """Parameters as Slack reads them (token removed), and the token: the Authorization bearer,
    else a form or query ``token`` (Slack ignores one inside a JSON body)."""
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    params = dict(parse_qsl(query, keep_blank_values=True))
    token = params.pop("token", None)
    try:
        if ctype == JSON_TYPE and body:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise SlackError("json_not_object")
            data.pop("token", None)
            params.update(data)
        elif ctype == FORM_TYPE or not body:
            form = dict(parse_qsl(body.decode(), keep_blank_values=True))
            token = form.pop("token", token)
            params.update(form)
        else:
            raise SlackError("invalid_form_data")
        for name in ("blocks", "attachments", "view"):  # form bodies carry these as JSON text
            if isinstance(params.get(name), str):
                params[name] = json.loads(params[name])
    except ValueError as e:  # includes UnicodeDecodeError and JSONDecodeError
        raise SlackError("invalid_payload", 400) if webhook else SlackError("invalid_json") from e
    auth = headers.get("authorization", "")
    return params, auth[7:] if auth.startswith("Bearer ") else token


def check_blocks(blocks: Any, *, kind: str, pointer: str) -> None:
    """The Block Kit limits Slack enforces server-side (the SDK does not check plain dicts)."""
    meta = "[ERROR] must be {} [json-pointer:" + pointer + "{}]"

    def bad(what: str, where: str = "") -> SlackError:
        messages = {"messages": [meta.format(what, where)]}
        if kind == "message":
            errors = [meta.format(what, where)[8:]]
            return SlackError("invalid_blocks", errors=errors, response_metadata=messages)
        return SlackError("invalid_arguments", response_metadata=messages)

    if not isinstance(blocks, list) or not all(isinstance(b, dict) and "type" in b for b in blocks):
        raise bad("a list of blocks")
    if len(blocks) > BLOCK_LIMITS[kind]:
        raise bad(f"less than {BLOCK_LIMITS[kind] + 1} items")
    for i, block in enumerate(blocks):
        text = block.get("text")
        if block["type"] == "section" and isinstance(text, dict) and len(text["text"]) > 3000:
            raise bad("less than 3001 characters", f"/{i}/text/text")


def message_content(params: JSON) -> JSON:
    """The content fields of chat.postMessage/update/postEphemeral, checked like Slack does."""
    if "blocks" in params:
        check_blocks(params["blocks"], kind="message", pointer="/blocks")
    elif not params.get("text") and not params.get("attachments"):
        raise SlackError("no_text")
    if len(str(params.get("text", ""))) > 40_000:
        raise SlackError("msg_too_long")
    return {k: params[k] for k in ("text", "blocks", "attachments", "thread_ts") if k in params}
