"""Every Slack command that reads a cluster works with the bot's read-only roles: the bot
is built as `secbot serve` builds it (tests/slack/conftest.py), over two fake clusters
that grant only what deploy/kubernetes binds to the service account secbot."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine

from tests.deploy.manifests import rendered
from tests.deploy.rbac import RbacKubeAPI, rules_for
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import (
    OPERATOR,
    Bot,
    Fleet,
    engine,  # noqa: F401  (a fixture this module's tests use)
    lab_objects,
    make_bot,
    prod_objects,
    slack,  # noqa: F401
    text_of,
)

COMMANDS = (
    "status prod",
    "certs prod",
    "findings prod",
    "show F-1",
    "get setting http-proxy prod",
    "get setting ssl-parameters lab",
)


@pytest.fixture
def rbac_fleet(tmp_path: Path) -> Iterator[Fleet]:
    rules = rules_for(rendered("postgres"), "secbot", "secbot")
    with ExitStack() as stack:
        prod = stack.enter_context(RbacKubeAPI(rules, objects=prod_objects()))
        lab = stack.enter_context(RbacKubeAPI(rules, objects=lab_objects()))
        folder = tmp_path / "kube"
        folder.mkdir()
        entries = [
            {"name": "prod", "kubeconfig": str(prod.write_kubeconfig(folder / "prod"))},
            {"name": "lab", "kubeconfig": str(lab.write_kubeconfig(folder / "lab"))},
        ]
        path = tmp_path / "clusters.yaml"
        path.write_text(yaml.safe_dump({"clusters": entries}))
        yield Fleet(prod=prod, lab=lab, clusters_file=path)


@pytest.fixture
def rbac_bot(slack: FakeSlackAPI, rbac_fleet: Fleet, engine: Engine) -> Iterator[Bot]:  # noqa: F811
    yield from make_bot(slack, rbac_fleet, engine)


def test_every_read_command_works_with_the_read_role(rbac_bot: Bot, rbac_fleet: Fleet) -> None:
    rbac_bot.ack("scan all", user=OPERATOR)
    scanned = text_of(rbac_bot.posted()[0].params)
    assert "prod" in scanned and "lab" in scanned
    assert "forbidden" not in scanned.lower(), scanned
    for command in COMMANDS:
        answer = text_of(rbac_bot.reply(command))
        for refusal in ("forbidden", "could not read", "cannot list", "cannot get"):
            assert refusal not in answer.lower(), (command, answer)
    assert "proxy.example" in text_of(rbac_bot.reply("get setting http-proxy prod"))
    for api in (rbac_fleet.prod, rbac_fleet.lab):
        assert isinstance(api, RbacKubeAPI)
        assert api.refusals() == []
