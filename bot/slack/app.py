"""The Bolt app factory and its one error handler.

``build_app`` makes the ``App`` (never at import time): a ``WebClient`` pointed at
``SLACK_API_URL`` when set, with retry handlers for 429 (Retry-After honoured), 5xx and
dropped connections; a listener executor sized for acks only (slow work goes to the
services' worker); the listeners (``listeners.register_all``); and the global
``@app.error`` handler:

* ``UserError`` (usage errors, unknown clusters, a full worker...): the message, shown
  ephemerally to the person who asked;
* anything else: an error id, shown to the person and logged with the traceback under
  the same id; the request still gets a 200, so Slack shows the answer rather than
  "dispatch_failed".

Before the ack the answer rides on the HTTP response itself; after it, on the request's
``response_url``.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.error import BoltError
from slack_sdk import WebClient

from bot.config import Settings
from bot.errors import UserError
from bot.slack.blocks.notices import error_message
from bot.slack.commands import subcommand_of
from bot.slack.listeners import register_all
from bot.slack.services import SlackServices
from bot.slack.worker import Busy, Message, new_error_id, responder, retry_handlers, user_reply

log = logging.getLogger(__name__)

# Bolt runs listener bodies on this pool; they only parse, hand slow work to the
# services' worker and ack, so a few threads serve many concurrent requests.
LISTENER_THREADS = 16
WEB_API_TIMEOUT_SECONDS = 15


def make_client(settings: Settings) -> WebClient:
    """The Web API client: bot token, optional base URL, retrying handlers."""
    if settings.slack_bot_token is None:
        raise UserError("SLACK_BOT_TOKEN is not set")
    base_url = settings.slack_api_url or WebClient.BASE_URL
    return WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        timeout=WEB_API_TIMEOUT_SECONDS,
        retry_handlers=retry_handlers(),
    )


def _with_retries(client: WebClient) -> WebClient:
    """Add the retry handlers a caller-supplied client lacks (by type)."""
    have = {type(h) for h in client.retry_handlers}
    client.retry_handlers.extend(h for h in retry_handlers() if type(h) not in have)
    return client


def build_app(
    *,
    settings: Settings,
    services: SlackServices,
    client: WebClient | None = None,
    process_before_response: bool = False,
) -> App:
    """The Bolt app with every listener and the error handler registered.

    Calls ``auth.test`` once (Bolt's token verification): a bad token fails here, at
    start-up, rather than on the first command.
    """
    secret = settings.slack_signing_secret
    try:
        app = App(
            name="secbot",
            client=_with_retries(client) if client is not None else make_client(settings),
            signing_secret=secret.get_secret_value() if secret is not None else None,
            process_before_response=process_before_response,
            listener_executor=ThreadPoolExecutor(
                max_workers=LISTENER_THREADS, thread_name_prefix="bolt-listener"
            ),
        )
    except BoltError as e:  # auth.test failed: a bad or revoked token, or Slack unreachable
        raise UserError(f"Slack did not accept SLACK_BOT_TOKEN: {e}") from None
    register_all(app, services)

    def handle_error(
        error: Exception, body: dict[str, Any], response: BoltResponse | None
    ) -> BoltResponse | None:
        return _answer_error(
            error, body=body if isinstance(body, dict) else {}, response=response, services=services
        )

    app.error(handle_error)
    return app


def describe_request(body: dict[str, Any]) -> str:
    """What was asked, for a log line: the subcommand, action or event type, nothing more."""
    if "command" in body:
        return f"command {subcommand_of(str(body.get('text') or ''))}"
    actions = body.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        return f"action {actions[0].get('action_id')}"
    event = body.get("event")
    if isinstance(event, dict):
        return f"event {event.get('type')}"
    return f"request {body.get('type')}"


def user_of(body: dict[str, Any]) -> str | None:
    """The Slack user id of a command, action or event (never a display name)."""
    user, event = body.get("user"), body.get("event")
    for found in (
        body.get("user_id"),  # slash command
        user.get("id") if isinstance(user, dict) else None,  # button click
        event.get("user") if isinstance(event, dict) else None,  # event
    ):
        if isinstance(found, str):
            return found
    return None


def error_reply(error: Exception, *, body: dict[str, Any]) -> Message:
    """The message for ``error``; an unexpected one is logged under a new error id."""
    if isinstance(error, UserError):
        return user_reply(error)
    error_id = new_error_id()
    log.exception(
        "internal error %s in %s from user %s",
        error_id,
        describe_request(body),
        user_of(body),
        exc_info=error,
    )
    return error_message(error_id)


def _answer_error(
    error: Exception,
    *,
    body: dict[str, Any],
    response: BoltResponse | None,
    services: SlackServices,
) -> BoltResponse | None:
    message = error_reply(error, body=body)
    if "command" in body and response is not None:
        # Not acked yet: the reply is the HTTP answer itself (ephemeral to the requester).
        return BoltResponse(
            status=200,
            body=json.dumps({"response_type": "ephemeral", **message}),
            headers={"content-type": "application/json;charset=utf-8"},
        )
    url = body.get("response_url") or next(
        (u.get("response_url") for u in body.get("response_urls") or [] if isinstance(u, dict)),
        None,
    )
    if isinstance(url, str) and url:
        try:
            services.worker.submit(lambda: message, reply=responder(url), what="error reply")
        except Busy:
            log.warning("could not queue the error reply: the worker is full")
    if response is not None and "actions" in body:  # a click: acked, answered above
        return BoltResponse(status=200, body="")
    return None
