"""Silences on SQLite and PostgreSQL: the rules (reason, expiry, 90 days, critical 7 days,
no resolved finding), replacement of the silence in force, unsilence, expiry by time,
masked reasons, and two operators silencing one finding at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from bot.audit.log import AuditLog
from bot.checks.runner import CheckRun
from bot.core.finding import Finding
from bot.core.resources import ResourceRef
from bot.core.severity import Severity
from bot.core.snapshot import CoverageItem, CoverageStatus, Snapshot
from bot.errors import UserError
from bot.findings import queries
from bot.findings.service import record_scan
from bot.findings.silences import active_silences, silence, unsilence
from bot.findings.views import SilenceView
from bot.store import db
from bot.store.models import Silence
from tests.store.conftest import BACKENDS, migrated_engine

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
RANGE = "a silence lasts more than 0 and at most 90 days, e.g. 7d"

AUDIT = AuditLog()  # no HMAC key: these tests are about the change, not the chain


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request.param, tmp_path) as eng:
        yield eng


def _f(name: str, severity: Severity, cluster: str = "prod") -> Finding:
    return Finding("ssl-weak-ciphers", cluster, ResourceRef("Setting", name), severity, "m")


def _record(
    engine: Engine, findings: list[Finding], cluster: str = "prod", hours: int = 0
) -> dict[str, int]:
    at = T0 + timedelta(hours=hours)
    run = CheckRun(
        Snapshot(
            cluster,
            "bundle",
            "b.zip",
            at,
            coverage=(CoverageItem("settings", CoverageStatus.READ),),
        ),
        tuple(findings),
        (),
        frozenset({"ssl-weak-ciphers"}),
    )
    with db.session_scope(engine) as s:
        out = record_scan(session=s, run=run, started_at=at, finished_at=at)
    return {f.resource.name: out.ids[f.fingerprint] for f in findings}


WARN, CRIT = _f("warn", Severity.WARNING), _f("crit", Severity.CRITICAL)


def _silence(engine: Engine, finding_id: int, duration: timedelta, reason: str = "known",
             owner: str = "U1", now: datetime = T0) -> SilenceView:  # fmt: skip
    with db.session_scope(engine) as s:
        return silence(
            session=s,
            finding_id=finding_id,
            duration=duration,
            reason=reason,
            owner=owner,
            now=now,
            audit=AUDIT,
        )


def _rows(engine: Engine) -> list[tuple[int, str, datetime | None, str | None]]:
    with db.session_scope(engine) as s:
        rows = s.scalars(select(Silence).order_by(Silence.id))
        return [(r.finding_id, r.owner, r.removed_at, r.removed_by) for r in rows]


def test_silence_stores_and_returns_the_view(engine: Engine) -> None:
    ids = _record(engine, [WARN, CRIT])
    view = _silence(engine, ids["warn"], 30 * DAY, reason="  vendor\nfix due  in March ")
    assert view == SilenceView(
        id=view.id,
        finding_id=ids["warn"],
        cluster="prod",
        reason="vendor fix due in March",
        owner="U1",
        created_at=T0,
        expires_at=T0 + 30 * DAY,
    )
    with db.session_scope(engine) as s:
        assert active_silences(session=s, cluster="prod", now=T0) == [view]
        assert active_silences(session=s, cluster=None, now=T0 + 30 * DAY) == []


@pytest.mark.parametrize(
    ("target", "duration", "reason", "message"),
    [
        ("missing", DAY, "r", "no finding F-999999; `/harvester findings` lists them"),
        ("warn", DAY, "   ", "a silence needs a reason: silence F-{id} 7d <reason>"),
        ("warn", timedelta(0), "r", RANGE),
        ("warn", -DAY, "r", RANGE),
        ("warn", 90 * DAY + SECOND, "r", RANGE),
        ("crit", 7 * DAY + SECOND, "r", "critical findings can be silenced for at most 7 days"),
        ("warn", DAY, "x" * 501, "the reason is too long (501 characters, at most 500)"),
        ("resolved", DAY, "r", "F-{id} is resolved; there is nothing to silence"),
    ],
)  # fmt: skip
def test_silence_refuses_with_one_clear_line(
    engine: Engine, target: str, duration: timedelta, reason: str, message: str
) -> None:
    ids = _record(engine, [WARN, CRIT, _f("resolved", Severity.INFO)])
    _record(engine, [WARN, CRIT], hours=1)  # resolves "resolved"
    finding_id = ids.get(target, 999_999)
    with pytest.raises(UserError) as err:
        _silence(engine, finding_id, duration, reason=reason)
    assert str(err.value) == message.format(id=finding_id)
    assert _rows(engine) == []


def test_the_limits_themselves_are_allowed(engine: Engine) -> None:
    ids = _record(engine, [WARN, CRIT])
    assert _silence(engine, ids["crit"], 7 * DAY).expires_at == T0 + 7 * DAY
    assert _silence(engine, ids["warn"], 90 * DAY).expires_at == T0 + 90 * DAY


def test_a_new_silence_replaces_the_one_in_force(engine: Engine) -> None:
    ids = _record(engine, [WARN])
    first = _silence(engine, ids["warn"], 7 * DAY, owner="U1")
    later = T0 + DAY
    second = _silence(engine, ids["warn"], 3 * DAY, owner="U2", now=later)
    assert _rows(engine) == [(ids["warn"], "U1", later, "U2"), (ids["warn"], "U2", None, None)]
    with db.session_scope(engine) as s:
        assert active_silences(session=s, cluster=None, now=later) == [second]
        view = queries.get_finding(session=s, finding_id=ids["warn"], now=later)
    assert view is not None and view.silenced_until == later + 3 * DAY != first.expires_at


def test_an_expired_silence_is_not_replaced_but_left_as_it_was(engine: Engine) -> None:
    ids = _record(engine, [WARN])
    _silence(engine, ids["warn"], DAY, owner="U1")
    _silence(engine, ids["warn"], DAY, owner="U2", now=T0 + 2 * DAY)
    assert _rows(engine) == [(ids["warn"], "U1", None, None), (ids["warn"], "U2", None, None)]


def test_unsilence(engine: Engine) -> None:
    ids = _record(engine, [WARN, CRIT])
    _silence(engine, ids["warn"], 7 * DAY)
    with db.session_scope(engine) as s:
        assert (
            unsilence(session=s, finding_id=ids["crit"], owner="U2", now=T0, audit=AUDIT) is False
        )
        assert (
            unsilence(session=s, finding_id=ids["warn"], owner="U2", now=T0 + DAY, audit=AUDIT)
            is True
        )
        assert (
            unsilence(session=s, finding_id=ids["warn"], owner="U2", now=T0 + DAY, audit=AUDIT)
            is False
        )
        with pytest.raises(UserError, match=r"^no finding F-4242; "):
            unsilence(session=s, finding_id=4242, owner="U2", now=T0, audit=AUDIT)
    assert _rows(engine) == [(ids["warn"], "U1", T0 + DAY, "U2")]
    with db.session_scope(engine) as s:
        assert active_silences(session=s, cluster="prod", now=T0 + DAY) == []


def test_active_silences_by_cluster_soonest_first(engine: Engine) -> None:
    prod = _record(engine, [WARN, CRIT])
    edge = _record(engine, [_f("warn", Severity.WARNING, "edge")], cluster="edge")
    a = _silence(engine, prod["warn"], 5 * DAY)
    b = _silence(engine, prod["crit"], 2 * DAY)
    c = _silence(engine, edge["warn"], 3 * DAY)
    with db.session_scope(engine) as s:
        assert active_silences(session=s, cluster=None, now=T0) == [b, c, a]
        assert active_silences(session=s, cluster="edge", now=T0) == [c]
        assert active_silences(session=s, cluster="prod", now=T0 + 3 * DAY) == [a]
        with pytest.raises(UserError, match=r"^no cluster 'x' in the store; known: edge, prod$"):
            active_silences(session=s, cluster="x", now=T0)


def test_a_reason_with_a_proxy_password_is_masked(engine: Engine) -> None:
    ids = _record(engine, [WARN])
    view = _silence(engine, ids["warn"], DAY, reason="proxy http://bob:Canary-77@p:3128 is down")
    assert view.reason == "proxy http://bob:****@p:3128 is down"
    with db.session_scope(engine) as s:
        assert [r.reason for r in s.scalars(select(Silence))] == [view.reason]


def test_two_operators_at_once_leave_one_silence_in_force(engine: Engine) -> None:
    # A holds its transaction open after silencing; B silences meanwhile. B must wait for
    # A (row lock on PostgreSQL, BEGIN IMMEDIATE on SQLite) and then replace A's silence;
    # without the lock both would see "none in force" and two would stay active.
    ids = _record(engine, [WARN])
    a_done, errors = threading.Event(), []

    def operator_a() -> None:
        try:
            with db.session_scope(engine) as s:
                silence(session=s, finding_id=ids["warn"], duration=DAY, reason="a", owner="UA",
                        now=T0, audit=AUDIT)  # fmt: skip
                a_done.set()
                threading.Event().wait(0.5)
        except Exception as e:  # reported below
            errors.append(e)
            a_done.set()

    thread = threading.Thread(target=operator_a)
    thread.start()
    assert a_done.wait(10)
    _silence(engine, ids["warn"], DAY, reason="b", owner="UB", now=T0 + timedelta(seconds=1))
    thread.join(10)
    assert errors == []
    assert _rows(engine) == [
        (ids["warn"], "UA", T0 + timedelta(seconds=1), "UB"),
        (ids["warn"], "UB", None, None),
    ]
