"""Credential rotations on SQLite and PostgreSQL: recording (and refusing), reading the
latest per node and kind, loading them into a snapshot, and the check end to end through
the store: record -> load_rotations -> credential-rotation-overdue -> record_scan."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, select

from bot.audit.log import AuditLog
from bot.checks.registry import get_check
from bot.checks.runner import run_checks
from bot.core.policy import CheckPolicy
from bot.core.snapshot import CoverageItem, CoverageStatus, RotationRecord, Snapshot
from bot.errors import UserError
from bot.findings import queries
from bot.findings.rotations import CREDENTIAL_KINDS, load_rotations, record_rotation, rotations_for
from bot.findings.service import record_scan
from bot.sources.manifests import read_manifests
from bot.store import db
from bot.store.models import CredentialRotation
from bot.store.repos import clusters
from tests.store.conftest import BACKENDS, migrated_engine

T0 = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)
CHECK = get_check("credential-rotation-overdue")

AUDIT = AuditLog()  # no HMAC key: these tests are about the change, not the chain


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request.param, tmp_path) as eng:
        with db.session_scope(eng) as s:
            clusters.get_or_create(s, name="prod", now=T0 - 400 * DAY)
            clusters.get_or_create(s, name="edge", now=T0 - 400 * DAY)
        yield eng


def _rotate(engine: Engine, node: str, kind: str, when: datetime, cluster: str = "prod") -> None:
    with db.session_scope(engine) as s:
        record_rotation(
            session=s, cluster=cluster, node=node, kind=kind, by="U1", now=when, audit=AUDIT
        )


def _nodes_snapshot(tmp_path: Path, *names: str, cluster: str = "prod") -> Snapshot:
    items = [
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": n}, "status": {}} for n in names
    ]
    path = tmp_path / "nodes.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    return read_manifests([path], cluster=cluster, scanned_at=T0)


def test_kinds_match_the_core_vocabulary() -> None:
    assert CREDENTIAL_KINDS == ("password", "ssh-keys", "proxy-credentials")


def test_record_and_read_the_latest_per_node_and_kind(engine: Engine) -> None:
    _rotate(engine, "all", "password", T0 - 300 * DAY)
    _rotate(engine, "all", "password", T0 - 10 * DAY)
    _rotate(engine, "harv1", "ssh-keys", T0 - 5 * DAY)
    _rotate(engine, "harv1", "ssh-keys", T0 - 50 * DAY)  # recorded late, older: not latest
    _rotate(engine, "harv2", "password", T0 - DAY, cluster="edge")
    with db.session_scope(engine) as s:
        assert rotations_for(session=s, cluster="prod") == (
            RotationRecord("all", "password", T0 - 10 * DAY),
            RotationRecord("harv1", "ssh-keys", T0 - 5 * DAY),
        )
        assert rotations_for(session=s, cluster="edge") == (
            RotationRecord("harv2", "password", T0 - DAY),
        )
        assert rotations_for(session=s, cluster="never-scanned") == ()
        rows = s.scalars(select(CredentialRotation).order_by(CredentialRotation.id)).all()
        assert [(r.node, r.kind, r.recorded_by) for r in rows][:2] == [
            ("all", "password", "U1"),
            ("all", "password", "U1"),
        ]


@pytest.mark.parametrize(
    ("cluster", "node", "kind", "message"),
    [
        ("prod", "all", "token", "unknown credential 'token'; use one of: "
         "password, ssh-keys, proxy-credentials"),
        ("prod", "all", "Password", "unknown credential 'Password'; use one of: "
         "password, ssh-keys, proxy-credentials"),
        ("prod", "Harv1", "password", "'Harv1' is not a node name; give a node name or `all`"),
        ("prod", "", "password", "'' is not a node name; give a node name or `all`"),
        ("prod", "a b", "password", "'a b' is not a node name; give a node name or `all`"),
        ("nope", "all", "password", "no cluster 'nope' in the store; known: edge, prod"),
    ],
)  # fmt: skip
def test_record_refuses(engine: Engine, cluster: str, node: str, kind: str, message: str) -> None:
    with db.session_scope(engine) as s:
        with pytest.raises(UserError) as err:
            record_rotation(
                session=s, cluster=cluster, node=node, kind=kind, by="U1", now=T0, audit=AUDIT
            )
        assert str(err.value) == message
        assert s.scalars(select(CredentialRotation)).all() == []


def test_load_rotations_marks_coverage_read(engine: Engine, tmp_path: Path) -> None:
    _rotate(engine, "all", "password", T0 - DAY)
    snap = _nodes_snapshot(tmp_path, "harv1")
    assert snap.coverage_of("rotations").status is CoverageStatus.MISSING
    stale = CoverageItem("rotations", CoverageStatus.ERROR, "x")
    with db.session_scope(engine) as s:
        loaded = load_rotations(session=s, snapshot=snap)
        again = load_rotations(
            session=s, snapshot=Snapshot("new", "live", "ctx", T0, coverage=(stale,))
        )
    assert loaded.rotations == (RotationRecord("all", "password", T0 - DAY),)
    assert loaded.coverage_of("rotations") == CoverageItem(
        "rotations", CoverageStatus.READ, "1 record(s) in the store"
    )
    assert loaded.nodes == snap.nodes and loaded.coverage[:-1] == snap.coverage
    assert again.rotations == ()
    assert again.coverage == (
        CoverageItem("rotations", CoverageStatus.READ, "0 record(s) in the store"),
    )


def test_the_check_end_to_end_through_the_store(engine: Engine, tmp_path: Path) -> None:
    snap = _nodes_snapshot(tmp_path, "harv1", "harv2")
    # Nothing recorded yet: info findings for password and SSH keys (no proxy here).
    with db.session_scope(engine) as s:
        run = run_checks(load_rotations(session=s, snapshot=snap), [CHECK])
        record_scan(session=s, run=run, started_at=T0, finished_at=T0)
    assert [(f.resource.key, f.severity.value) for f in run.findings] == [
        ("Cluster//prod#credentials.password", "info"),
        ("Cluster//prod#credentials.ssh-keys", "info"),
    ]
    assert (
        run.findings[0].message == "password of user rancher: no rotation recorded on harv1, harv2"
    )
    # An old "all" password rotation and one fresh node: harv2 is overdue (warning).
    _rotate(engine, "all", "password", T0 - 200 * DAY)
    _rotate(engine, "harv1", "password", T0 - DAY)
    _rotate(engine, "all", "ssh-keys", T0 - 10 * DAY)
    with db.session_scope(engine) as s:
        run = run_checks(load_rotations(session=s, snapshot=snap), [CHECK])
        out = record_scan(session=s, run=run, started_at=T0, finished_at=T0)
    (only,) = run.findings
    assert (only.severity.value, only.message) == (
        "warning",
        "password of user rancher: not rotated for more than 180 days on harv2 (last 2025-11-13)",
    )
    assert dict(only.evidence) == {
        "kind": "password",
        "max_age_days": 180,
        "overdue_nodes": ("harv2",),
        "never_recorded_nodes": (),
        "oldest_rotation": "2025-11-13T00:00:00+00:00",
    }
    assert [r.resource_key for r in out.resolved] == ["Cluster//prod#credentials.ssh-keys"]
    # A 1-day policy makes the 10-day-old SSH keys overdue too; a 365-day one clears all.
    with db.session_scope(engine) as s:
        loaded = load_rotations(session=s, snapshot=snap)
        views = queries.list_findings(session=s, now=T0, cluster="prod")
    strict = run_checks(loaded, [CHECK], CheckPolicy(rotation_max_age_days=1))
    assert {f.evidence["overdue_nodes"] for f in strict.findings} == {
        ("harv2",),
        ("harv1", "harv2"),
    }
    assert run_checks(loaded, [CHECK], CheckPolicy(rotation_max_age_days=365)).findings == ()
    assert [v.title for v in views] == ["Node credentials not rotated within the policy"]


def test_policy_refuses_a_non_positive_age() -> None:
    with pytest.raises(ValueError, match="rotation_max_age_days must be positive, got 0"):
        CheckPolicy(rotation_max_age_days=0)
