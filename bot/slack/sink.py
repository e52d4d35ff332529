"""``SlackSink``: the dispatcher's ``Sink`` (bot.notify.sinks) over the Slack Web API.

``post`` is chat.postMessage (link and media unfurling off: an alert is not a place for
previews), ``update`` is chat.update. Failures come back in the bot's terms, so the
dispatcher decides about retries without knowing Slack:

- HTTP 429 → ``TemporaryError(delay=Retry-After)``. The client must not retry 429 itself
  (slack_sdk's ``RateLimitErrorRetryHandler`` sleeps in the calling thread, here the
  dispatcher, and then still gives up); the dispatcher schedules the next attempt from
  ``delay`` and sends other channels' messages meanwhile. ``SlackSink`` refuses a client
  that carries that handler; ``slack_sink`` builds one without it.
- HTTP 5xx, connection errors and timeouts → ``TemporaryError`` (after the one
  immediate retry of a dropped connection that ``ConnectionErrorRetryHandler`` makes).
- Slack error codes that retrying cannot fix (channel_not_found, not_in_channel,
  invalid_auth, invalid_blocks, …) → ``PermanentError`` naming the code, so the message is
  dead-lettered at once; ``ratelimited`` and codes we do not know → ``TemporaryError``
  (an unknown code may be a new transient one; the attempt limit still ends it).

Error messages carry the method, HTTP status and Slack's error code, never the token
(it travels in the Authorization header only; messages are scrubbed anyway).
"""

from __future__ import annotations

import http.client
from collections.abc import Callable, Mapping
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.web import SlackResponse

from bot.errors import BotError, PermanentError, RateLimited, TemporaryError
from bot.notify.sinks import Message, Posted

DEFAULT_TIMEOUT_SECONDS = 10
SERVER_ERROR_DELAY = 30.0  # seconds; Slack's 5xx are usually over within a minute
CONNECTION_ERROR_DELAY = 30.0
UNKNOWN_ERROR_DELAY = 60.0
# Slack error codes that no retry can fix: the channel, the token, its scopes, or the
# message itself is wrong (docs.slack.dev, chat.postMessage / chat.update "Errors").
PERMANENT_CODES = frozenset(
    {
        # where
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "messages_tab_disabled",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "restricted_action_thread_locked",
        "team_access_not_granted",
        "cannot_reply_to_message",
        # who
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "not_allowed_token_type",
        "access_denied",
        "ekm_access_denied",
        "enterprise_is_restricted",
        "org_login_required",
        "two_factor_setup_required",
        "as_user_not_supported",
        # what
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "no_text",
        "too_many_attachments",
        "attachment_payload_limit_exceeded",
        "invalid_arguments",
        "invalid_arg_name",
        "invalid_array_arg",
        "invalid_charset",
        "invalid_form_data",
        "invalid_post_type",
        "missing_post_type",
        "invalid_json",
        "json_not_object",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        # updates
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "method_deprecated",
        "deprecated_endpoint",
        "unknown_method",
    }
)
# What to do about the commonest ones, for the dead-letter log line.
_HINTS = {
    "channel_not_found": "check the channel name or id in the configuration",
    "not_in_channel": "invite the bot to the channel",
    "is_archived": "the channel is archived",
    "invalid_auth": "check SLACK_BOT_TOKEN",
    "token_revoked": "the bot token was revoked; reinstall the app",
    "missing_scope": "add the scope to the Slack app and reinstall it",
}


def _header(headers: Any, name: str) -> str | None:
    """A response header, whatever the case of its name."""
    if not isinstance(headers, Mapping):
        return None
    for key, value in headers.items():
        if str(key).lower() == name:
            return str(value[0] if isinstance(value, list | tuple) and value else value)
    return None


def _retry_after(headers: Any) -> float:
    """Retry-After in seconds (at least 1; a missing or unreadable one counts as 1)."""
    try:
        seconds = int(_header(headers, "retry-after") or "")
    except ValueError:
        return 1.0
    return float(max(seconds, 1))


def api_error(method: str, error: SlackApiError) -> BotError:
    """The bot's error for a Slack API failure (HTTP status and Slack's error code)."""
    response = error.response
    if isinstance(response, Mapping):  # the SDK's raw dict for a body it could not read
        status, headers, data = response.get("status"), response.get("headers"), {}
    else:
        status, headers, data = response.status_code, response.headers, response.data
    data = data if isinstance(data, Mapping) else {}
    code = " ".join(str(data.get("error") or "unknown_error").split())[:100]
    if status == 429 or code == "ratelimited":
        delay = _retry_after(headers)
        return RateLimited(f"Slack {method}: rate limited, retry in {delay:.0f}s", delay=delay)
    if isinstance(status, int) and status >= 500:
        return TemporaryError(
            f"Slack {method}: HTTP {status} ({code}), retrying later", delay=SERVER_ERROR_DELAY
        )
    if code in PERMANENT_CODES:
        detail = ""
        if code == "missing_scope" and data.get("needed"):
            detail = f" (needs {' '.join(str(data['needed']).split())[:100]})"
        hint = f": {_HINTS[code]}" if code in _HINTS else ""
        return PermanentError(f"Slack {method}: {code}{detail}{hint}")
    return TemporaryError(f"Slack {method}: {code} (HTTP {status})", delay=UNKNOWN_ERROR_DELAY)


class SlackSink:
    """Posts and updates messages through ``client``; errors as Temporary/PermanentError."""

    def __init__(self, client: WebClient) -> None:
        if any(isinstance(h, RateLimitErrorRetryHandler) for h in client.retry_handlers):
            raise ValueError(
                "SlackSink needs a WebClient without RateLimitErrorRetryHandler: the "
                "dispatcher honours Retry-After itself (use slack_sink())"
            )
        self.client = client

    def post(
        self,
        *,
        channel: str,
        message: Message,
        thread_ts: str | None = None,
        broadcast: bool = False,
    ) -> Posted:
        answer = self._call(
            "chat.postMessage",
            self.client.chat_postMessage,
            channel=channel,
            text=message["text"],
            blocks=message.get("blocks"),
            thread_ts=thread_ts,
            reply_broadcast=True if thread_ts and broadcast else None,
            unfurl_links=False,
            unfurl_media=False,
        )
        return Posted(channel_id=str(answer["channel"]), ts=str(answer["ts"]))

    def update(self, *, channel_id: str, ts: str, message: Message) -> None:
        self._call(
            "chat.update",
            self.client.chat_update,
            channel=channel_id,
            ts=ts,
            text=message["text"],
            blocks=message.get("blocks"),
        )

    def _call(
        self, method: str, call: Callable[..., SlackResponse], **params: Any
    ) -> Mapping[str, Any]:
        """``call(**params)`` (None values left out); failures translated."""
        try:
            answer = call(**{k: v for k, v in params.items() if v is not None})
        except SlackApiError as e:
            raise self._scrubbed(api_error(method, e)) from e
        except SlackRequestError as e:  # the SDK refused to build the request
            raise self._scrubbed(PermanentError(f"Slack {method}: bad request: {e}")) from e
        except (OSError, http.client.HTTPException) as e:  # refused, reset, timed out
            text = f"Slack {method}: {type(e).__name__}: {e}"
            raise self._scrubbed(TemporaryError(text, delay=CONNECTION_ERROR_DELAY)) from e
        data = answer.data
        if not isinstance(data, Mapping):
            raise TemporaryError(f"Slack {method}: unreadable answer", delay=UNKNOWN_ERROR_DELAY)
        return data

    def _scrubbed(self, error: BotError) -> BotError:
        """``error`` with the token cut out of its message, should anything have echoed it."""
        token = self.client.token
        if token and token in str(error):
            error.args = (str(error).replace(token, "[token]"),)
        return error


def slack_sink(
    *, token: str, base_url: str | None, timeout: int = DEFAULT_TIMEOUT_SECONDS
) -> SlackSink:
    """A ``SlackSink`` over its own WebClient: one quick retry of a dropped connection,
    no retry of 429 or 5xx (the dispatcher schedules those)."""
    url = base_url or WebClient.BASE_URL
    client = WebClient(
        token=token,
        base_url=url if url.endswith("/") else url + "/",
        timeout=timeout,
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1)],
    )
    return SlackSink(client)
