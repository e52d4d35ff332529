"""The whole flow — scan, fix, approve, execute, verify by re-scan — for each settings
action of the catalog, on a fake cluster holding the objects of that check's failing
fixture (tests/fixtures/checks): the finding must be gone after the fix, on SQLite and
PostgreSQL, with one PATCH and an intact audit chain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine

from bot.audit.log import verify
from tests.fakes.kube_api import FakeKubeAPI
from tests.remediation.test_flow import AUDIT, World
from tests.store.conftest import BACKENDS, migrated_engine

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checks"
CASES = [
    ("enable-auto-rotate", "auto-rotate-disabled", None),
    ("fix-auto-rotate-window", "auto-rotate-window", "auto-rotate-window/loop-fail.yaml"),
    ("harden-ssl-protocols", "ssl-weak-protocols", "ssl-weak-protocols/tls10-fail.yaml"),
    ("harden-tls-options", "tls-options-weak", "tls-options-weak/tls10-fail.yaml"),
    (
        "add-noproxy-node-ips",
        "http-proxy-noproxy-missing-nodes",
        "http-proxy-noproxy-missing-nodes/hostnames-only-fail.yaml",
    ),
]


def _objects(fixture: str | None) -> list[dict[str, Any]]:
    if fixture is None:
        from tests.remediation.test_flow import _objects as auto_rotate_off

        return auto_rotate_off()
    doc = yaml.safe_load((FIXTURES / fixture).read_text())
    return list(doc["items"])


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request.param, tmp_path) as eng:
        yield eng


@pytest.mark.parametrize(("action", "check_id", "fixture"), CASES, ids=[c[0] for c in CASES])
def test_fix_resolves_the_finding(
    engine: Engine, tmp_path: Path, action: str, check_id: str, fixture: str | None
) -> None:
    with FakeKubeAPI(objects=_objects(fixture)) as api:
        world = World(engine, api, tmp_path)
        world.scan()
        client = world.connect(world.target)
        try:
            from bot.remediation.planner import plan_remediation

            plan = plan_remediation(
                client, action_id=None, finding=world.finding(check_id), now=world.clock()
            )
        finally:
            client.close()
        assert (plan.action, plan.dry_run) == (action, "accepted")
        from bot.remediation import requests
        from bot.store import db

        with db.session_scope(engine) as s:
            rid = requests.request(
                session=s, plan=plan, requester="U1", now=world.clock(), audit=AUDIT
            ).id
        world.vote(rid, "U2").raise_if_denied()
        view = world.executor.run(rid)
        assert view is not None and view.state == "done", view
        assert len(world.patches()) == 1
        patch = world.patches()[0]
        assert patch.path.startswith("/apis/harvesterhci.io/v1beta1/settings/")
    assert verify(engine, hmac_key=AUDIT.hmac_key).ok
