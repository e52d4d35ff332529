"""The digest composer on SQLite and PostgreSQL: what changed since the last digest per
channel, silences ending soon, certificates expiring within 30 days from the inventory,
overdue rotations; one digest per channel per day."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, select, update

from bot.audit.log import AuditLog
from bot.checks.registry import get_check
from bot.checks.runner import CheckRun, run_checks
from bot.core.finding import Finding
from bot.core.policy import CheckPolicy
from bot.core.resources import ResourceRef
from bot.findings.service import record_scan
from bot.findings.silences import silence
from bot.notify.digest import SETTLE, compose_digest, plan_digests
from bot.notify.digest_payloads import Digest
from bot.notify.routing import Routing
from bot.slack.blocks.digest import digest_message
from bot.slack.blocks.digest_layout import sev
from bot.sources.manifests import read_manifests
from bot.store import db
from bot.store.models_ops import OutboxRow
from tests.notify import INFO, ROUTING, T0, C, W, cert, proxy, scan
from tests.sources import b64, ec_key, key_pem, make_cert, pem
from tests.store.conftest import BACKENDS, migrated_engine


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request.param, tmp_path) as eng:
        yield eng


def _secret(name: str, days: float) -> dict[str, object]:
    key = ec_key(name)
    certificate = make_cert(f"{name}.example", key=key, not_after=T0 + timedelta(days=days))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"tls.crt": b64(pem(certificate)), "tls.key": b64(key_pem(key))},
    }


def _inventory(
    engine: Engine,
    tmp_path: Path,
    cluster: str,
    certs: dict[str, float],
    policy: CheckPolicy | None = None,
) -> CheckRun:
    """A real manifests scan, so the certificate inventory holds these certificates."""
    path = tmp_path / f"{cluster}.yaml"
    items = [_secret(n, d) for n, d in certs.items()]
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    snap = replace(read_manifests([path], cluster=cluster, scanned_at=T0), source="manifests")
    checks = [get_check("cert-expiring"), get_check("cert-expired")]
    checked = run_checks(snap, checks, policy)
    with db.session_scope(engine) as s:
        record_scan(session=s, run=checked, started_at=T0, finished_at=T0)
    return checked


def test_changes_since_the_last_digest_and_what_needs_attention(
    engine: Engine, tmp_path: Path
) -> None:
    _inventory(engine, tmp_path, "prod", {"web": 5, "api": 20, "far": 200, "old": -2})
    first = scan(engine, [proxy()], at=T0 + timedelta(hours=1))
    pid = first.ids[proxy().fingerprint]
    with db.session_scope(engine) as s:
        silence(
            session=s,
            finding_id=pid,
            duration=timedelta(days=2),
            reason="change CHG-1",
            owner="U1",
            now=T0 + timedelta(hours=2),
            audit=AuditLog(),
        )
    now = T0 + timedelta(hours=3)
    with db.session_scope(engine) as s:
        digest = compose_digest(
            session=s,
            channel="#alerts",
            clusters=["prod"],
            since=T0 + timedelta(minutes=30),
            now=now,
            day="2026-11-28",
        )
    # the inventory scan at T0 is before "since": only the proxy's new + silenced show
    assert [(c.event, c.finding_id, c.actor) for c in digest.changes] == [
        ("new", pid, None),
        ("silenced", pid, "U1"),
    ]
    assert [(x.finding_id, x.owner, x.reason) for x in digest.silences_expiring] == [
        (pid, "U1", "change CHG-1")
    ]
    # soonest first, expired included, 200 days left out
    assert [c.subject for c in digest.certs] == [
        "CN=old.example",
        "CN=web.example",
        "CN=api.example",
    ]
    assert all(c.cluster == "prod" for c in digest.certs)
    assert digest.open_counts == {"critical": 2, "warning": 1, "info": 0}  # proxy silenced
    # a round trip through the outbox's JSON keeps everything
    assert Digest.from_json(digest.to_json()) == digest


def test_overdue_rotations_are_listed(engine: Engine) -> None:
    overdue = Finding(
        check_id="credential-rotation-overdue",
        cluster="prod",
        resource=ResourceRef("Node", "harv1", "", "password"),
        severity=W,
        message="the password of harv1 was last rotated 400 days ago",
    )
    with db.session_scope(engine) as s:
        from tests.notify import run

        record_scan(session=s, run=run([overdue]), started_at=T0, finished_at=T0)
        digest = compose_digest(
            session=s,
            channel="#alerts",
            clusters=["prod"],
            since=T0 - timedelta(days=1),
            now=T0,
            day="2026-11-28",
        )
    assert [(r.cluster, r.message) for r in digest.rotations] == [
        ("prod", "the password of harv1 was last rotated 400 days ago")
    ]


def test_one_digest_per_channel_per_day_each_with_its_clusters(engine: Engine) -> None:
    scan(engine, [proxy()], at=T0)
    scan(engine, [cert("edge-web", 10, severity=C, cluster="edge")], cluster="edge", at=T0)
    day_one = T0 + timedelta(hours=1)
    with db.session_scope(engine) as s:
        planned = plan_digests(
            session=s, routing=ROUTING, clusters=["prod", "edge"], day="2026-11-28", now=day_one
        )
    assert sorted((d.channel, d.clusters) for d in planned) == [
        ("#alerts", ("prod",)),
        ("#edge-ops", ("edge",)),
    ]
    with db.session_scope(engine) as s:  # a second scheduler, or a re-run: nothing new
        assert (
            plan_digests(
                session=s,
                routing=ROUTING,
                clusters=["prod", "edge"],
                day="2026-11-28",
                now=day_one + timedelta(minutes=1),
            )
            == []
        )
    # the next day covers only what happened since the first digest
    scan(engine, [], at=T0 + timedelta(hours=5))
    with db.session_scope(engine) as s:
        nxt = plan_digests(
            session=s,
            routing=ROUTING,
            clusters=["prod", "edge"],
            day="2026-11-29",
            now=T0 + timedelta(days=1),
        )
    prod = next(d for d in nxt if d.channel == "#alerts")
    assert prod.since == day_one - SETTLE  # where the first digest's window ended
    assert prod.until == T0 + timedelta(days=1) - SETTLE
    assert [c.event for c in prod.changes] == ["resolved"]
    with db.session_scope(engine) as s:
        keys = s.scalars(select(OutboxRow.dedupe_key).where(OutboxRow.kind == "digest")).all()
    assert sorted(keys) == [
        "digest:#alerts:2026-11-28",
        "digest:#alerts:2026-11-29",
        "digest:#edge-ops:2026-11-28",
        "digest:#edge-ops:2026-11-29",
    ]


def test_a_cluster_no_longer_scanned_drops_out_of_the_digest(engine: Engine) -> None:
    """Renamed in the clusters file ("prod" -> "prod-eu"): the old name is listed while it
    may still matter, then no more (FORGET_AFTER), instead of forever."""
    scan(engine, [proxy()], at=T0)  # cluster "prod", never scanned again
    routing = Routing(alert_channel="#alerts")

    def clusters_on(day: int) -> tuple[str, ...]:
        with db.session_scope(engine) as s:
            (digest,) = plan_digests(
                session=s,
                routing=routing,
                clusters=["prod-eu"],
                day=f"2026-12-{day:02d}",
                now=T0 + timedelta(days=day),
            )
        return digest.clusters

    assert clusters_on(1) == ("prod", "prod-eu")
    assert clusters_on(6) == ("prod", "prod-eu")
    assert clusters_on(8) == ("prod-eu",)


def test_no_channel_means_no_digest(engine: Engine) -> None:
    scan(engine, [proxy()], at=T0, routing=None)
    with db.session_scope(engine) as s:
        assert (
            plan_digests(session=s, routing=Routing(), clusters=["prod"], day="2026-11-28", now=T0)
            == []
        )


def test_a_change_recorded_while_the_digest_is_composed_is_in_the_next_one(
    engine: Engine,
) -> None:
    # A scan started 08:59 records its results at 09:01; the 09:00 digest cannot see them
    # (not committed yet, and inside its settle time); the next day's digest has them.
    scan(engine, [proxy()], at=T0 - timedelta(days=1))
    with db.session_scope(engine) as s:
        plan_digests(session=s, routing=ROUTING, clusters=["prod"], day="2026-11-27", now=T0)
    with db.session_scope(engine) as s:
        from bot.findings.service import record_scan
        from tests.notify import run

        record_scan(
            session=s,
            run=run([proxy(), cert("web", 20)], at=T0),
            started_at=T0 - timedelta(minutes=1),
            finished_at=T0 + timedelta(minutes=1),
        )
    with db.session_scope(engine) as s:
        (nxt,) = plan_digests(
            session=s,
            routing=ROUTING,
            clusters=["prod"],
            day="2026-11-28",
            now=T0 + timedelta(days=1),
        )
    assert [(c.event, c.check_id) for c in nxt.changes] == [("new", "cert-expiring")]


def test_an_expired_silence_is_listed_as_unsilenced(engine: Engine) -> None:
    from bot.findings.silences import record_expiries

    first = scan(engine, [proxy()], at=T0)
    pid = first.ids[proxy().fingerprint]
    with db.session_scope(engine) as s:
        silence(
            session=s,
            finding_id=pid,
            duration=timedelta(hours=3),
            reason="window",
            owner="U1",
            now=T0,
            audit=AuditLog(),
        )
    expired = T0 + timedelta(hours=3)
    with db.session_scope(engine) as s:
        assert (
            record_expiries(session=s, now=expired + timedelta(minutes=1), window=timedelta(days=2))
            == 1
        )
        assert (
            record_expiries(session=s, now=expired + timedelta(minutes=2), window=timedelta(days=2))
            == 0
        )  # once
        digest = compose_digest(
            session=s,
            channel="#alerts",
            clusters=["prod"],
            since=T0 - timedelta(minutes=1),
            now=T0 + timedelta(hours=4),
            day="2026-11-28",
        )
    assert [(c.event, c.actor, c.at) for c in digest.changes] == [
        ("new", None, T0),
        ("silenced", "U1", T0),
        ("unsilenced", "secbot:expired", expired),
    ]


def test_old_digests_are_pruned_pending_ones_never(engine: Engine) -> None:
    from bot.store.repos import outbox as outbox_repo

    scan(engine, [proxy()], at=T0)
    with db.session_scope(engine) as s:
        plan_digests(session=s, routing=ROUTING, clusters=["prod"], day="2026-11-28", now=T0)
        assert outbox_repo.prune(s, kind="digest", before=T0 + timedelta(days=1)) == 0
        s.execute(update(OutboxRow).values(state="sent"))
        assert outbox_repo.prune(s, kind="digest", before=T0) == 0  # not older
        assert outbox_repo.prune(s, kind="digest", before=T0 + timedelta(days=1)) == 1
        assert outbox_repo.counts(s) == {"pending": 0, "sent": 1, "dead": 0}  # the alert


def _credential_finding(
    check: str, name: str, *, days: int | None, users: tuple[str, ...] = ()
) -> Finding:
    evidence: dict[str, object] = {"credential": name, "token": f"kubeconfig-user-{name}"}
    if days is not None:
        evidence["expires_at"] = (T0 + timedelta(days=days)).isoformat()
    if users:
        evidence["guest_clusters"] = users
    return Finding(
        check_id=check,
        cluster="rancher",
        resource=ResourceRef(
            "Secret",
            f"cc-{name}",
            "cattle-global-data",
            "data.harvestercredentialConfig-kubeconfigContent",
        ),
        severity=C,
        message=f"cloud credential {name!r}",
        evidence=evidence,  # type: ignore[arg-type]
    )


def test_cloud_credentials_to_renew_are_listed_gone_and_expired_first(engine: Engine) -> None:
    findings = [
        _credential_finding(
            "cloud-credential-expiring", "soon", days=5, users=("fleet-default/web",)
        ),
        _credential_finding("cloud-credential-expiring", "later", days=60),  # beyond 30 days
        _credential_finding("cloud-credential-expired", "old", days=-3),
        _credential_finding("cloud-credential-token-missing", "gone", days=None),
    ]
    scan(engine, findings, cluster="rancher", at=T0)
    with db.session_scope(engine) as s:
        digest = compose_digest(
            session=s,
            channel="#alerts",
            clusters=["rancher"],
            since=T0 - timedelta(days=1),
            now=T0,
            day="2026-11-28",
        )
    assert [(c.name, c.state, c.guest_clusters) for c in digest.credentials] == [
        ("gone", "missing", ()),
        ("old", "expired", ()),
        ("soon", "expiring", ("fleet-default/web",)),
    ]
    assert Digest.from_json(digest.to_json()) == digest


def test_certificates_are_labelled_as_cert_expiring_labels_them_under_the_policy(
    engine: Engine, tmp_path: Path
) -> None:
    # SECBOT_EXPIRY_WARNING_DAYS=21: cert-expiring calls a 25-day certificate info; the
    # digest, composed under the same policy, must not call it warning.
    policy = CheckPolicy(expiry_critical_days=14, expiry_warning_days=21, expiry_info_days=90)
    certs = {"mid": 25, "soon": 18, "web": 5}
    checked = _inventory(engine, tmp_path, "prod", certs, policy=policy)
    found = {f.resource.name: f.severity for f in checked.findings}
    assert found == {"mid": INFO, "soon": W, "web": C}
    with db.session_scope(engine) as s:
        (planned,) = plan_digests(
            session=s,
            routing=ROUTING,
            clusters=["prod"],
            day="2026-11-28",
            now=T0 + timedelta(hours=1),
            policy=policy,
        )
        stored = s.scalars(select(OutboxRow.payload).where(OutboxRow.kind == "digest")).one()
    # the thresholds travel in the outbox row, so the dispatcher renders with them
    assert (stored["critical_days"], stored["warning_days"], stored["info_days"]) == (14, 21, 90)
    digest = Digest.from_json(stored)
    assert digest == planned
    text = "\n".join(
        b["text"]["text"]
        for b in digest_message(digest, tz=UTC)["blocks"]
        if b["type"] == "section"
    )
    for name, severity in found.items():
        (line,) = [x for x in text.splitlines() if f"CN={name}.example" in x]
        assert line.startswith(f"{sev(severity)} · *expires in "), line
