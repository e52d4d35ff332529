"""Remediation refusals through the Slack app, on SQLite and PostgreSQL: each is audited
with who, what and why, and none reaches the cluster. A fix whose action does not fit
the finding, or whose server dry run is refused; a vote on a request that does not
exist (by anyone); a vote while the approver user-group lookup fails (said as such, not
"only approvers"); an approval of a plan edited in the store, which ends failed and is
announced in the approval message like any outcome.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.audit.log import verify
from bot.notify.dispatcher import Dispatcher
from bot.store import db
from bot.store.repos import remediation as remediation_repo
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import OPERATOR, Bot, text_of
from tests.slack.test_app_audit import records
from tests.slack.test_app_remediation import APPROVER, _click, remediation_bot
from tests.store.conftest import BACKENDS, migrated_engine

APPROVER_GROUP = "SAPPR1"
KEY = b"s" * 32  # remediation_bot's audit HMAC key

Setup = tuple[Bot, FakeKubeAPI, Dispatcher, int]


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request.param, tmp_path) as eng:
        yield eng


@pytest.fixture
def setup(engine: Engine, slack: FakeSlackAPI, tmp_path: Path) -> Iterator[Setup]:
    with remediation_bot(engine, slack, tmp_path) as built:
        yield built


def _audited(engine: Engine) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [r[1:] for r in records(engine)]


def _writes(api: FakeKubeAPI) -> list[Any]:
    return [r for r in api.requests if r.method == "PATCH" and "dryRun" not in r.query]


def test_a_fix_whose_action_does_not_fit_is_audited(setup: Setup, engine: Engine) -> None:
    bot, api, _dispatcher, fid = setup
    bot.ack(f"fix F-{fid} harden-ssl-protocols", user=OPERATOR)
    why = "harden-ssl-protocols fixes ssl-weak-protocols findings, not auto-rotate-disabled"
    assert why in text_of(bot.posted()[0].params)
    assert _audited(engine) == [
        (
            OPERATOR,
            "remediation.denied",
            f"F-{fid}",
            {"action": "harden-ssl-protocols", "reason": why},
        )
    ]
    assert not [r for r in api.requests if r.method == "PATCH"]  # not even a dry run
    assert verify(engine, hmac_key=KEY).ok


def test_a_fix_whose_dry_run_the_server_refuses_is_audited(setup: Setup, engine: Engine) -> None:
    bot, api, _dispatcher, fid = setup
    api.on_patch = lambda _old, _new: "auto-rotate needs a newer Harvester"
    bot.ack(f"fix F-{fid}", user=OPERATOR)
    assert "nothing to approve" in text_of(bot.posted()[0].params)
    ((actor, action, subject, payload),) = _audited(engine)
    assert (actor, action, subject) == (OPERATOR, "remediation.denied", f"F-{fid}")
    assert payload["action"] == "enable-auto-rotate"
    assert payload["reason"].startswith("the server refused the change in a dry run: ")
    assert "auto-rotate needs a newer Harvester" in payload["reason"]
    assert _writes(api) == []


def test_a_vote_on_a_request_that_does_not_exist_is_audited(setup: Setup, engine: Engine) -> None:
    bot, _api, _dispatcher, _fid = setup
    assert "R-999 does not exist" in text_of(bot.reply("approve R-999", user=APPROVER))
    assert "R-998 does not exist" in text_of(bot.reply("reject R-998 why not", user="UNOBODY"))
    assert _audited(engine) == [
        (APPROVER, "remediation.denied", "R-999", {"reason": "no such request"}),
        ("UNOBODY", "remediation.denied", "R-998", {"reason": "no such request"}),
    ]


def test_a_failed_approver_group_lookup_is_said_and_audited(
    engine: Engine, slack: FakeSlackAPI, tmp_path: Path
) -> None:
    slack.groups[APPROVER_GROUP] = [APPROVER]
    with remediation_bot(engine, slack, tmp_path, approvers=(APPROVER_GROUP,)) as built:
        bot, api, _dispatcher, fid = built
        bot.ack(f"fix F-{fid}", user=OPERATOR)
        bot.posted()
        slack.fail("usergroups.users.list", 500)
        reply = text_of(bot.reply("approve R-1", user=APPROVER))
        why = (
            "user-group lookup failed: I could not check with Slack whether you are an "
            "approver; try again soon"
        )
        assert f"R-1: {why}" in reply and "only approvers" not in reply
        assert _audited(engine)[-1] == (APPROVER, "remediation.denied", "R-1", {"reason": why})
        with db.session_scope(engine) as s:
            row = remediation_repo.get(s, 1)
            assert row is not None and row.state == "pending"
        assert _writes(api) == []


def test_an_approved_plan_edited_in_the_store_fails_and_is_announced(
    setup: Setup, engine: Engine
) -> None:
    bot, api, dispatcher, fid = setup
    bot.ack(f"fix F-{fid}", user=OPERATOR)
    bot.posted()
    dispatcher.run_once()
    (post,) = bot.slack.calls_to("chat.postMessage")
    actions = [b for b in post.params["blocks"] if b["type"] == "actions"]
    bound = actions[0]["elements"][0]["value"]  # the approver's button: R-1:<hash prefix>
    with db.session_scope(engine) as s:  # someone edits the patch behind the bot's back
        row = remediation_repo.get(s, 1)
        assert row is not None
        row.plan = {**row.plan, "patch": {**row.plan["patch"], "metadata": {"labels": {"x": "y"}}}}
    sent = len(api.requests)
    why = "not run: the stored plan no longer matches what was approved"
    done = text_of(_click(bot, bound, APPROVER, "ok"))
    assert "*failed*" in done and why in done
    assert len(api.requests) == sent  # nothing at all reached the cluster
    dispatcher.run_once()
    update = bot.slack.calls_to("chat.update")[-1]
    assert update.params["ts"] == post.answer["ts"]
    assert not [b for b in update.params["blocks"] if b["type"] == "actions"]  # no buttons
    thread = bot.slack.calls_to("chat.postMessage")[1:]
    assert any(why in text_of(c.params) for c in thread)
    assert _audited(engine)[-1] == ("system", "remediation.failed", "R-1", {"reason": why})
    assert verify(engine, hmac_key=KEY).ok
