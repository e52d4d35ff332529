"""Remediation through the Slack app, on SQLite and PostgreSQL: `/harvester fix F-n` by an
operator plans against the (fake) cluster and posts the plan with Approve / Reject to the
approval channel; the requester's own click is refused (and audited), and so is an
outsider's click of a finding's Fix button; an approver's click executes it once,
re-scans, and the approval message's buttons give way to the outcome, with the result in
its thread. Without SECBOT_APPROVERS the commands answer "not enabled".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from bot.audit.log import AuditLog, verify
from bot.core.policy import CheckPolicy
from bot.kube.client import KubeClient, KubeTarget, Timeouts
from bot.notify.dispatcher import Dispatcher
from bot.remediation import flow
from bot.remediation.executor import Executor
from bot.slack.app import build_app
from bot.slack.auth import Operators
from bot.slack.blocks.render import SlackRenderer
from bot.slack.services import RemediationServices, build_services, fleet_scanner
from bot.slack.sink import slack_sink
from bot.slack.worker import Worker
from bot.sources.tlsprobe import ProbeOptions
from bot.store import db
from bot.store.repos import findings as findings_repo
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_requests import block_action, signed_request
from tests.remediation.test_flow import _objects
from tests.slack.conftest import GROUP, GROUP_MEMBER, OPERATOR, SECRET, Bot, settings_for, text_of
from tests.slack.test_app_audit import records
from tests.store.conftest import BACKENDS, migrated_engine

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
APPROVER = "UAPP1"
FAST = Timeouts(connect=2, read=5, retries=0)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request.param, tmp_path) as eng:
        yield eng


@pytest.fixture
def slack() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI() as api:
        yield api


class Fleet:  # the shape settings_for wants
    def __init__(self, clusters_file: Path) -> None:
        self.clusters_file = clusters_file


@pytest.fixture
def setup(
    engine: Engine, slack: FakeSlackAPI, tmp_path: Path
) -> Iterator[tuple[Bot, FakeKubeAPI, Dispatcher, int]]:
    with remediation_bot(engine, slack, tmp_path) as built:
        yield built


@contextmanager
def remediation_bot(
    engine: Engine, slack: FakeSlackAPI, tmp_path: Path, *, approvers: tuple[str, ...] = (APPROVER,)
) -> Iterator[tuple[Bot, FakeKubeAPI, Dispatcher, int]]:
    """The app with remediation on (approval channel #approvals), one cluster behind the
    fake API with auto-rotation off and scanned: (bot, api, dispatcher, that finding)."""
    with FakeKubeAPI(objects=_objects()) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kc.yaml", context="prod")
        clusters = tmp_path / "clusters.yaml"
        clusters.write_text(f"clusters:\n  - name: prod\n    kubeconfig: {kubeconfig}\n")
        settings = settings_for(slack, Fleet(clusters))  # type: ignore[arg-type]
        connect = partial(KubeClient.connect, timeouts=FAST)
        runner = fleet_scanner(
            policy=CheckPolicy(),
            connect=connect,
            probe=ProbeOptions(enabled=False),
            concurrency=1,
            engine=engine,
            clock=lambda: NOW,
        )
        target = KubeTarget(name="prod", kubeconfig=kubeconfig)
        runner([target])
        audit = AuditLog(hmac_key=b"s" * 32)
        executor = Executor(
            engine=engine,
            connect=connect,
            targets=lambda: [target],
            rescan=lambda t: runner([t]),
            clock=lambda: NOW,
            audit=audit,
            announce=flow.announce_finish("#approvals"),
        )
        services = build_services(
            settings,
            engine=engine,
            clock=lambda: NOW,
            scan_runner=runner,
            connect=connect,
            worker=Worker(threads=2),
            remediation=RemediationServices(
                approvers=Operators(approvers), channel="#approvals", executor=executor
            ),
        )
        from dataclasses import replace

        services = replace(services, audit=audit)
        app = build_app(settings=settings, services=services, process_before_response=True)
        slack.clear()
        dispatcher = Dispatcher(
            engine=engine,
            sink=slack_sink(token=slack.token, base_url=slack.url),
            renderer=SlackRenderer(tz=ZoneInfo("UTC")),
            clock=lambda: NOW,
        )
        with db.session_scope(engine) as s:
            fid = next(
                r.id for r in findings_repo.list_open(s) if r.check_id == "auto-rotate-disabled"
            )
        try:
            yield Bot(app, slack, services), api, dispatcher, fid
        finally:
            services.worker.shutdown(wait=True)


def _click(
    bot: Bot, value: str, user: str, key: str, action: str = "request-approve"
) -> dict[str, Any]:
    body = block_action(action, value, user=user, response_url=bot.slack.response_url(key))
    response = bot.app.dispatch(signed_request(body, secret=SECRET))
    assert response.status == 200
    return bot.posted(key)[0].params


def test_fix_approve_by_button_execute_and_report(
    setup: tuple[Bot, FakeKubeAPI, Dispatcher, int], engine: Engine
) -> None:
    bot, api, dispatcher, fid = setup
    ack = bot.ack(f"fix F-{fid}", user=OPERATOR)
    assert f"Planning the fix of F-{fid}" in ack["text"]
    planned = text_of(bot.posted()[0].params)
    assert "R-1" in planned and "planned (posted to #approvals)" in planned
    assert "server dry run: accepted" in planned
    dispatcher.run_once()
    (post,) = bot.slack.calls_to("chat.postMessage")
    assert post.params["channel"] == "#approvals"
    buttons = [e for b in post.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [e["action_id"] for e in buttons] == ["request-approve", "request-reject"]
    bound = buttons[0]["value"]
    assert bound.startswith("R-1:") and len(bound) == len("R-1:") + 16
    stale = _click(bot, "R-1:0000000000000000", APPROVER, "stale")
    assert "the plan changed since you saw it" in text_of(stale)
    # the requester cannot approve their own request; a reason-less reject asks for one
    denied = _click(bot, "R-1", OPERATOR, "own")
    assert "you asked for it; someone else must approve or reject it" in text_of(denied)
    reject = _click(bot, "R-1", APPROVER, "rej", action="request-reject")
    assert "/harvester reject R-1 &lt;reason&gt;" in text_of(reject)
    done = _click(bot, bound, APPROVER, "ok")
    assert "R-1" in text_of(done) and "*done*" in text_of(done)
    assert [r for r in api.requests if r.method == "PATCH" and "dryRun" not in r.query]
    dispatcher.run_once()
    replies = bot.slack.calls_to("chat.postMessage")[1:]
    assert {r.params["thread_ts"] for r in replies} == {post.answer["ts"]}
    assert any("Done" in text_of(r.params) for r in replies)
    update = bot.slack.calls_to("chat.update")[-1]
    assert update.params["ts"] == post.answer["ts"]
    assert not [b for b in update.params["blocks"] if b["type"] == "actions"]  # no buttons
    assert verify(engine, hmac_key=b"s" * 32).ok
    # and a second click changes nothing
    again = _click(bot, "R-1", APPROVER, "again")
    assert "it is done, not waiting for a decision" in text_of(again)


def test_reject_by_command_needs_an_approver_and_a_reason(
    setup: tuple[Bot, FakeKubeAPI, Dispatcher, int],
) -> None:
    bot, api, _dispatcher, fid = setup
    bot.ack(f"fix F-{fid}", user=OPERATOR)
    bot.posted()
    reply = bot.reply("reject R-1 not in the change window", user=OPERATOR)
    assert "you asked for it" in json.dumps(reply)
    reply = bot.reply("reject R-1 not in the change window", user=APPROVER)
    assert "R-1" in text_of(reply) and "rejected" in text_of(reply)
    listed = bot.reply("requests", user="U1")
    assert "R-1" in text_of(listed) and "rejected" in text_of(listed)
    assert not [r for r in api.requests if r.method == "PATCH" and "dryRun" not in r.query]


def test_the_fix_button_plans_for_operators_only(
    setup: tuple[Bot, FakeKubeAPI, Dispatcher, int], engine: Engine
) -> None:
    bot, api, _dispatcher, fid = setup
    bot.slack.groups[GROUP] = [GROUP_MEMBER]  # the outsider is in no operator group
    denied = _click(bot, f"F-{fid}", "UOUTSIDER", "out", action="finding-fix")
    assert "SECBOT_OPERATORS" in text_of(denied)
    assert (denied["response_type"], denied["replace_original"]) == ("ephemeral", False)
    # audited like `/harvester fix` by a non-operator, naming the finding as well
    payload = {"command": "/harvester fix", "user": "UOUTSIDER", "why": "not an operator"}
    assert [r[1:] for r in records(engine)] == [
        ("UOUTSIDER", "command.denied", "command:fix", {**payload, "finding": f"F-{fid}"})
    ]
    assert not [r for r in api.requests if r.method == "PATCH"]  # not even a dry run
    planned = _click(bot, f"F-{fid}", OPERATOR, "ops", action="finding-fix")
    assert "R-1" in text_of(planned) and "planned (posted to #approvals)" in text_of(planned)
    after = records(engine)[1:]
    assert after and all(r[1] == OPERATOR and r[2] != "command.denied" for r in after)
    assert verify(engine, hmac_key=b"s" * 32).ok


def test_the_fix_button_audits_a_failed_group_lookup_as_a_denial(
    setup: tuple[Bot, FakeKubeAPI, Dispatcher, int], engine: Engine
) -> None:
    bot, _api, _dispatcher, fid = setup
    bot.slack.fail("usergroups.users.list", 500)
    denied = _click(bot, f"F-{fid}", GROUP_MEMBER, "grp", action="finding-fix")
    assert "could not check your user-group membership" in text_of(denied)  # as the command
    assert [r[1:] for r in records(engine)] == [
        (
            GROUP_MEMBER,
            "command.denied",
            "command:fix",
            {
                "command": "/harvester fix",
                "user": GROUP_MEMBER,
                "why": "user-group lookup failed",
                "finding": f"F-{fid}",
            },
        )
    ]


def test_a_plan_the_server_refuses_is_shown_and_not_stored(
    setup: tuple[Bot, FakeKubeAPI, Dispatcher, int], engine: Engine
) -> None:
    bot, api, dispatcher, fid = setup
    api.on_patch = lambda _old, _new: "auto-rotate needs a newer Harvester"
    bot.ack(f"fix F-{fid}", user=OPERATOR)
    reply = text_of(bot.posted()[0].params)
    assert "The server refused this change in a dry run, so there is nothing to approve" in reply
    assert "auto-rotate needs a newer Harvester" in reply
    dispatcher.run_once()
    assert bot.slack.calls_to("chat.postMessage") == []
    listed = bot.reply("requests", user="U1")
    assert "No remediation requests" in text_of(listed)
