"""Planning on SQLite and PostgreSQL: transitions become outbox rows in the scan's own
transaction, states do not; silences, routing and severities decide who hears what."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from bot.audit.log import AuditLog
from bot.findings.silences import silence
from bot.notify.payloads import FindingNotice, ScanSummary
from bot.notify.plan import plan_expired_silences, plan_scan
from bot.notify.routing import Routing
from bot.store import db
from bot.store.models import FindingRow
from bot.store.models_ops import FindingEvent, OutboxRow
from tests.notify import INFO, ROUTING, T0, C, W, cert, proxy, scan
from tests.store.conftest import BACKENDS, migrated_engine

AUDIT = AuditLog()  # no HMAC key: these tests are about the change, not the chain


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request.param, tmp_path) as eng:
        yield eng


def _rows(engine: Engine) -> list[tuple[str, str, str, int | None]]:
    """(kind, channel, notice event, finding id) of every outbox row, oldest first."""
    with db.session_scope(engine) as s:
        rows = s.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()
        return [(r.kind, r.channel, str(r.payload.get("event")), r.finding_id) for r in rows]


def test_new_then_unchanged_posts_once(engine: Engine) -> None:
    first = scan(engine, [cert("web", 25), proxy()], at=T0)
    ids = sorted(first.ids.values())
    assert _rows(engine) == [
        ("alert", "#alerts", "new", ids[0]),
        ("alert", "#alerts", "new", ids[1]),
    ]
    scan(engine, [cert("web", 25), proxy()], at=T0 + timedelta(hours=6))
    assert len(_rows(engine)) == 2  # unchanged: nothing new


def test_escalation_from_30_to_14_days_posts_once(engine: Engine) -> None:
    scan(engine, [cert("web", 29)], at=T0)
    scan(engine, [cert("web", 20)], at=T0 + timedelta(days=1))  # same 30d tier: quiet
    scan(engine, [cert("web", 13, severity=C)], at=T0 + timedelta(days=2))  # 14d: news
    scan(engine, [cert("web", 12, severity=C)], at=T0 + timedelta(days=3))  # same tier
    rows = _rows(engine)
    assert [r[2] for r in rows] == ["new", "escalated"]
    with db.session_scope(engine) as s:
        payload = s.scalars(select(OutboxRow.payload).order_by(OutboxRow.id.desc())).first()
    notice = FindingNotice.from_json(payload or {})
    assert (notice.severity, notice.tier) == (C, "14d")
    assert (notice.previous_severity, notice.previous_tier) == (W, "30d")
    assert notice.expires_at == T0 + timedelta(days=13)


def test_replanning_the_same_transition_adds_nothing(engine: Engine) -> None:
    outcome = scan(engine, [proxy()], at=T0)
    with db.session_scope(engine) as s:
        assert plan_scan(session=s, outcome=outcome, routing=ROUTING, at=T0) == 0
    assert len(_rows(engine)) == 1


def test_resolution_replies_only_where_an_alert_went(engine: Engine) -> None:
    first = scan(engine, [proxy(), cert("api", 60, severity=INFO)], at=T0)
    scan(engine, [], at=T0 + timedelta(hours=6))
    pid = first.ids[proxy().fingerprint]
    # info never alerted, so its resolution is digest-only
    assert _rows(engine) == [
        ("alert", "#alerts", "new", pid),
        ("resolved", "#alerts", "resolved", pid),
    ]


def test_reopened_finding_alerts_again(engine: Engine) -> None:
    scan(engine, [proxy()], at=T0)
    scan(engine, [], at=T0 + timedelta(hours=6))
    scan(engine, [proxy()], at=T0 + timedelta(hours=12))
    assert [r[2] for r in _rows(engine)] == ["new", "resolved", "reopened"]


def test_info_and_unrouted_findings_post_nothing(engine: Engine) -> None:
    scan(engine, [cert("api", 60, severity=INFO)], at=T0)
    scan(engine, [proxy(cluster="lab")], cluster="lab", at=T0, routing=Routing())  # no channel
    assert _rows(engine) == []
    with db.session_scope(engine) as s:  # the transitions are still recorded
        assert len(s.scalars(select(FindingEvent)).all()) == 2


def test_per_cluster_channel_override(engine: Engine) -> None:
    scan(engine, [proxy(cluster="edge")], cluster="edge", at=T0)
    assert [r[1] for r in _rows(engine)] == ["#edge-ops"]


def test_silenced_finding_is_quiet_until_the_silence_expires(engine: Engine) -> None:
    first = scan(engine, [cert("web", 25)], at=T0)
    fid = next(iter(first.ids.values()))
    with db.session_scope(engine) as s:
        silence(
            session=s,
            finding_id=fid,
            duration=timedelta(days=3),
            reason="renewal booked",
            owner="U1",
            now=T0 + timedelta(minutes=1),
            audit=AUDIT,
        )
    scan(engine, [cert("web", 24)], at=T0 + timedelta(days=1))
    assert [r[2] for r in _rows(engine)] == ["new"]
    expired = T0 + timedelta(days=3, minutes=1)
    with db.session_scope(engine) as s:
        before = expired - timedelta(seconds=1)
        assert plan_expired_silences(session=s, routing=ROUTING, now=before) == 0  # not yet
        after = expired + timedelta(seconds=30)
        assert plan_expired_silences(session=s, routing=ROUTING, now=after) == 1
        later = expired + timedelta(minutes=5)
        assert plan_expired_silences(session=s, routing=ROUTING, now=later) == 0  # once
    assert [r[2] for r in _rows(engine)] == ["new", "unsilenced"]


def test_a_silenced_finding_resolves_quietly_and_reopening_ends_the_silence(
    engine: Engine,
) -> None:
    first = scan(engine, [proxy()], at=T0)
    fid = next(iter(first.ids.values()))
    with db.session_scope(engine) as s:
        silence(
            session=s,
            finding_id=fid,
            duration=timedelta(days=3),
            reason="change window",
            owner="U1",
            now=T0,
            audit=AUDIT,
        )
    scan(engine, [], at=T0 + timedelta(hours=6))
    assert [r[2] for r in _rows(engine)] == ["new"]
    # A silence covers the finding as it was; coming back is news (bot.findings.service).
    scan(engine, [proxy()], at=T0 + timedelta(hours=12))
    assert [r[2] for r in _rows(engine)] == ["new", "reopened"]


def test_escalation_ends_the_silence_and_posts(engine: Engine) -> None:
    first = scan(engine, [cert("web", 29)], at=T0)
    fid = next(iter(first.ids.values()))
    with db.session_scope(engine) as s:
        silence(
            session=s,
            finding_id=fid,
            duration=timedelta(days=30),
            reason="known",
            owner="U1",
            now=T0,
            audit=AUDIT,
        )
    scan(engine, [cert("web", 13, severity=C)], at=T0 + timedelta(days=1))
    assert [r[2] for r in _rows(engine)] == ["new", "escalated"]


def test_the_outbox_row_is_part_of_the_scan_transaction(engine: Engine) -> None:
    with pytest.raises(RuntimeError), db.session_scope(engine) as s:
        from bot.findings.service import record_scan
        from tests.notify import run

        outcome = record_scan(session=s, run=run([proxy()]), started_at=T0, finished_at=T0)
        plan_scan(session=s, outcome=outcome, routing=ROUTING, at=T0)
        raise RuntimeError("crash before commit")
    assert _rows(engine) == []


def test_many_new_findings_from_one_scan_become_one_summary(engine: Engine) -> None:
    many = [cert(f"web{i}", 20 + i % 5) for i in range(11)] + [proxy(severity=C)]
    first = scan(engine, many, at=T0)
    assert _rows(engine) == [("summary", "#alerts", "None", None)]
    with db.session_scope(engine) as s:
        payload = s.scalars(select(OutboxRow.payload)).one()
    summary = ScanSummary.from_json(payload)
    assert summary.cluster == "prod"
    assert [i.severity for i in summary.items][:1] == [C]  # worst first
    assert sorted(i.finding_id for i in summary.items) == sorted(first.ids.values())
    # an escalation is always its own message (it has a thread to start)
    scan(
        engine,
        [*many[:10], cert("web10", 13, severity=C), proxy(severity=C)],
        at=T0 + timedelta(days=1),
    )
    assert [r[2] for r in _rows(engine)] == ["None", "escalated"]
    # their resolution has no thread to reply in: digest news only
    scan(engine, [], at=T0 + timedelta(days=2))
    assert [r[0] for r in _rows(engine)] == ["summary", "alert", "resolved"]


def test_ten_new_findings_still_post_one_by_one(engine: Engine) -> None:
    scan(engine, [cert(f"web{i}", 20) for i in range(10)], at=T0)
    assert [r[0] for r in _rows(engine)] == ["alert"] * 10


def test_an_older_scan_recorded_after_a_newer_one_changes_nothing(engine: Engine) -> None:
    # A scheduled scan (started 10:00) and a /harvester scan (started 10:05) overlap; the
    # later one records first. The older one must not reopen what the newer resolved.
    first = scan(engine, [proxy()], at=T0)
    pid = first.ids[proxy().fingerprint]
    scan(engine, [], at=T0 + timedelta(hours=2))  # resolved
    from bot.findings.service import record_scan
    from tests.notify import run

    with db.session_scope(engine) as s:
        late = record_scan(
            session=s,
            run=run([proxy()], at=T0 + timedelta(hours=1)),
            started_at=T0 + timedelta(hours=1),
            finished_at=T0 + timedelta(hours=3),
        )
        plan_scan(session=s, outcome=late, routing=ROUTING, at=T0 + timedelta(hours=1))
        row = s.get(FindingRow, pid)
        assert row is not None and (row.state, row.last_seen) == ("resolved", T0)
    assert (late.status, late.events, late.ids) == ({}, {}, {})
    assert [r[2] for r in _rows(engine)] == ["new", "resolved"]
