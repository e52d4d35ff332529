"""Listeners, one module per Slack surface, each wired by its ``register(app, services)``.

Nothing registers at import time: ``build_app`` calls ``register_all`` on the App it has
just made. Listener bodies stay short (parse, call a service, render with a pure
builder, reply); errors are left to the app's one ``@app.error`` handler.
"""

from __future__ import annotations

from slack_bolt import App

from bot.slack.listeners.actions import register as register_actions
from bot.slack.listeners.commands import register as register_commands
from bot.slack.listeners.events import register as register_events
from bot.slack.listeners.remediation import register as register_requests
from bot.slack.services import SlackServices


def register_all(app: App, services: SlackServices) -> None:
    """Register the slash command, the buttons and the App Home event."""
    register_commands(app, services)
    register_actions(app, services)
    register_events(app, services)
    register_requests(app, services)
