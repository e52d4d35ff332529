"""Events: ``app_home_opened`` publishes the App Home tab (the fleet at a glance).

The view is rebuilt from the store each time the tab is opened rather than pushed to
everybody after every scan: ``views.publish`` is per user (reference/libraries.md §1.5).
Bolt acks events by itself; the store is read on the worker, off Bolt's listener pool.
Slack sends the event for the Messages tab too, which gets no view.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.findings.queries import cluster_statuses
from bot.slack.blocks.home import home_view
from bot.slack.services import SlackServices
from bot.store.db import read_scope


def register(app: App, services: SlackServices) -> None:
    def app_home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        user = str(event["user"])

        def view() -> dict[str, Any]:
            now = services.clock()
            with read_scope(services.engine) as session:
                statuses = cluster_statuses(session=session, now=now)
            return home_view(statuses, now=now, tz=services.tz, command=services.command)

        def publish(home: dict[str, Any]) -> None:
            if home.get("type") == "home":  # not the text of an error reply
                client.views_publish(user_id=user, view=home)

        services.worker.submit(view, reply=publish, what="app_home_opened", key="home")

    app.event("app_home_opened")(app_home_opened)
