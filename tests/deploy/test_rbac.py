"""The RBAC of deploy/kubernetes against what the code really does: a scan, the leader
Lease, the node agent and every remediation run against the fake API server granting only
the rules the rendered manifests bind to that service account. Nothing may be refused, and
every rule must have been needed: the roles are exactly as wide as the code's use."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.clusters import check_cluster
from bot.core.snapshot import CoverageStatus, Snapshot
from bot.kube.client import KubeClient, KubeTarget, Timeouts
from bot.kube.errors import KubeForbidden
from bot.kube.lease import LeaseLock
from bot.sources.live import ProbeOptions, read_live
from tests.deploy.manifests import rendered
from tests.deploy.rbac import Grant, RbacKubeAPI, Rule, rules_for
from tests.sources.test_live import apiserver_endpoints, healthy_objects, vip_configmap
from tests.store.conftest import migrated_engine

FAST = Timeouts(connect=2, read=5, retries=0)
NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
# Probe planning reads its targets (Endpoints, the VIP ConfigMap); with no ports to dial it
# stops there, so the test needs no TLS listeners.
PLAN_ONLY = ProbeOptions(enabled=True, ports={})


AGENT_NS = "secbot-agent"
BOT_OVERLAYS = ("sqlite", "postgres", "remediation")


def _bot_rules(overlay: str) -> list[Any]:
    return rules_for(rendered(overlay), "secbot", "secbot")


def _target(api: RbacKubeAPI, tmp_path: Path, role: str = "harvester") -> KubeTarget:
    kubeconfig = api.write_kubeconfig(tmp_path / "kc.yaml", context="local")
    return KubeTarget(name="local", kubeconfig=kubeconfig, role=role)


def _connect(api: RbacKubeAPI, tmp_path: Path) -> KubeClient:
    return KubeClient.connect(_target(api, tmp_path), timeouts=FAST)


def _cluster_objects() -> list[dict[str, Any]]:
    return [*healthy_objects(), apiserver_endpoints("10.0.0.10"), vip_configmap("10.0.0.100")]


def _scan_and_check(api: RbacKubeAPI, tmp_path: Path, role: str = "harvester") -> Snapshot:
    """A live scan (probe planned, not dialled) and `secbot clusters check`, as the bot
    does them; nothing may be refused and every permission the check asks about granted."""
    target = _target(api, tmp_path, role)
    with KubeClient.connect(target, timeouts=FAST) as c:
        snap = read_live(
            c, cluster="local", scanned_at=NOW, probe=PLAN_ONLY, agent_namespace=AGENT_NS
        )
    check = check_cluster(target, timeouts=FAST, agent_namespace=AGENT_NS)
    assert check.missing == () and check.harvester_version == "v1.5.1"
    assert api.refusals() == []
    assert [c for c in snap.coverage if c.status == CoverageStatus.FORBIDDEN] == []
    return snap


def _lead(api: RbacKubeAPI, tmp_path: Path) -> None:
    """The leader election of SECBOT_LEADER=kubernetes: create, then renew (get + update)."""
    with _connect(api, tmp_path) as c:
        lock = LeaseLock(
            c,
            namespace="secbot",
            name="secbot-leader",
            holder="pod-a",
            duration=timedelta(seconds=15),
            clock=lambda: NOW,
        )
        assert lock.try_acquire_or_renew()
        assert lock.try_acquire_or_renew()


@pytest.mark.parametrize("overlay", BOT_OVERLAYS)
def test_the_bot_roles_grant_exactly_what_a_scan_and_the_leader_use(
    overlay: str, tmp_path: Path
) -> None:
    rules = _bot_rules(overlay)
    with RbacKubeAPI(rules, objects=_cluster_objects()) as api:
        _scan_and_check(api, tmp_path)
        leads = any(r.role.endswith("secbot-leader") for r in rules)
        assert leads == (overlay != "sqlite")  # one replica on SQLite: no election
        if leads:
            _lead(api, tmp_path)
    assert api.refusals() == []
    # The write role is proven by the remediation test below.
    assert [u for u in api.unused() if "remediate" not in u] == []


def test_a_role_wider_than_its_use_fails_the_check(tmp_path: Path) -> None:
    """The harness itself: one extra verb on one rule is reported as unused."""
    rules = _bot_rules("sqlite")
    nodes = next(r for r in rules if r.resources == frozenset({"nodes"}))
    wider = replace(nodes, verbs=nodes.verbs | {"watch"})
    with RbacKubeAPI(
        [wider if r is nodes else r for r in rules], objects=_cluster_objects()
    ) as api:
        _scan_and_check(api, tmp_path)
    assert api.unused() == [f"{nodes.role} rule {nodes.index}: watch core/nodes"]


def test_a_scan_without_the_read_role_is_refused_and_says_so(tmp_path: Path) -> None:
    """The harness itself: with no rules, the scan is refused and reports it."""
    with RbacKubeAPI([], objects=_cluster_objects()) as api, _connect(api, tmp_path) as c:
        snap = read_live(c, cluster="local", scanned_at=NOW, probe=PLAN_ONLY)
    statuses = {c.subject: c.status for c in snap.coverage}
    assert statuses["settings"] == statuses["secrets"] == CoverageStatus.FORBIDDEN
    assert any(r.startswith("list /secrets") for r in api.refusals())


def _fix_setting(engine: Engine, api: RbacKubeAPI, tmp_path: Path, check_id: str) -> str:
    """Scan, plan (dry-run patch), approve and execute the fix of ``check_id``."""
    from bot.remediation import requests
    from bot.remediation.planner import plan_remediation
    from bot.store import db
    from tests.remediation.test_flow import AUDIT, World

    world = World(engine, api, tmp_path)
    world.scan()
    with world.connect(world.target) as client:
        plan = plan_remediation(
            client, action_id=None, finding=world.finding(check_id), now=world.clock()
        )
    assert plan.accepted, plan.dry_run
    with db.session_scope(engine) as s:
        rid = requests.request(
            session=s, plan=plan, requester="U1", now=world.clock(), audit=AUDIT
        ).id
    world.vote(rid, "U2").raise_if_denied()
    view = world.executor.run(rid)
    assert view is not None
    return view.state


def test_every_remediation_needs_exactly_the_remediate_roles(tmp_path: Path) -> None:
    from tests.remediation.test_each_action import CASES, _objects
    from tests.remediation.test_rotate_flow import _objects as rotate_objects
    from tests.remediation.test_rotate_flow import _setup as rotate_setup

    rules = _bot_rules("remediation")
    used: dict[Rule, set[Grant]] = {}

    def merge(api: RbacKubeAPI) -> None:
        for rule, grants in api.used.items():
            used.setdefault(rule, set()).update(grants)

    for action, check_id, fixture in CASES:
        folder = tmp_path / action
        folder.mkdir()
        with (
            migrated_engine("sqlite", folder) as engine,
            RbacKubeAPI(rules, objects=_objects(fixture)) as api,
        ):
            assert _fix_setting(engine, api, folder, check_id) == "done", action
        assert api.refusals() == [], action
        merge(api)
    folder = tmp_path / "rotate"
    folder.mkdir()
    with (
        migrated_engine("sqlite", folder) as engine,
        RbacKubeAPI(rules, objects=rotate_objects()) as api,
    ):
        executor, rid, _clock = rotate_setup(engine, api, folder, renews=True)
        view = executor.run(rid)
        assert view is not None and view.state == "done", view
    assert api.refusals() == []
    merge(api)
    assert [u for u in api.unused(used) if "remediate" in u] == []


def test_without_the_remediation_overlay_a_fix_is_refused_by_the_cluster(
    tmp_path: Path,
) -> None:
    """The postgres overlay grants no write: planning's dry-run patch is refused (403)."""
    from bot.remediation.planner import plan_remediation
    from tests.remediation.test_each_action import _objects
    from tests.remediation.test_flow import World

    with (
        migrated_engine("sqlite", tmp_path) as engine,
        RbacKubeAPI(_bot_rules("postgres"), objects=_objects(None)) as api,
    ):
        world = World(engine, api, tmp_path)
        world.scan()
        with world.connect(world.target) as client, pytest.raises(KubeForbidden) as refused:
            plan_remediation(client, action_id=None, finding=world.finding(), now=world.clock())
    assert 'cannot patch resource "settings"' in str(refused.value)
    assert api.refusals() == ["patch harvesterhci.io/settings /auto-rotate-rke2-certs"]


def test_a_remote_cluster_grants_exactly_what_a_scan_reads(tmp_path: Path) -> None:
    rules = rules_for(rendered("remote"), "secbot", "secbot")
    with RbacKubeAPI(rules, objects=_cluster_objects()) as api:
        _scan_and_check(api, tmp_path)
    assert api.unused() == []


def test_a_rancher_cluster_grants_exactly_what_a_rancher_scan_reads(tmp_path: Path) -> None:
    from tests.sources.test_live_rancher import rancher_objects

    rules = rules_for(rendered("remote-rancher"), "secbot", "secbot")
    objects = [*_cluster_objects(), *rancher_objects()]
    with RbacKubeAPI(rules, objects=objects) as api:
        snap = _scan_and_check(api, tmp_path, role="rancher")
    assert snap.coverage_of("cloud-credentials").status == CoverageStatus.READ
    assert api.unused() == []


@pytest.mark.parametrize("overlay", ["sqlite", "remote"])
def test_the_node_agent_needs_exactly_its_own_role(overlay: str, tmp_path: Path) -> None:
    """First round creates the inventory ConfigMap, the next finds it (409) and replaces
    it. No other right is needed or granted."""
    from bot.agent.publish import publish
    from bot.sources.pki_inventory import build_inventory
    from tests.agent import rke2_folder

    folder = rke2_folder(tmp_path / "node-0", links=False)
    rules = rules_for(rendered(overlay), AGENT_NS, "secbot-agent")
    assert {r.namespace for r in rules} == {AGENT_NS}  # nothing cluster-wide
    with RbacKubeAPI(rules) as api, _connect(api, tmp_path) as c:
        for hours in (0, 6):
            document = build_inventory(
                folder.root,
                node="node-0",
                now=NOW + timedelta(hours=hours),
                interval_seconds=6 * 3600,
            )
            publish(c, namespace=AGENT_NS, document=document)
    assert api.refusals() == []
    assert api.unused() == []
