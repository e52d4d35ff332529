"""The composed scheduler, end to end on SQLite and PostgreSQL: the job table that
``secbot serve`` builds (bot.wiring.scheduling), run by JobRunners on a controllable clock,
planning real digests from the store and sending them through the real WebClient to the
fake Slack Web API.

Covers issue #5's scheduling promises as a user sees them: the 09:00 Europe/Berlin digest
on both sides of a DST change, a missed digest after three days down sent once, two
schedulers racing for one digest sending one, a finding escalating from 30 to 14 days
posting once, a resolution answered in the alert's thread, and silence expiry announced.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from bot.audit.log import AuditLog
from bot.config import Settings
from bot.errors import UserError
from bot.findings.silences import silence
from bot.kube.client import KubeTarget
from bot.notify.digest_payloads import Digest
from bot.scan import ScanReport
from bot.scheduler.runner import JobRunner, Outcome
from bot.slack.sink import slack_sink
from bot.store import db
from bot.store.models_ops import OutboxRow
from bot.wiring import scheduling
from tests.fakes.slack_api import FakeSlackAPI
from tests.notify import C, Clock, cert, proxy, scan
from tests.store.conftest import BACKENDS, migrated_engine

BERLIN = "Europe/Berlin"

AUDIT = AuditLog()  # no HMAC key: these tests are about the change, not the chain


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request.param, tmp_path) as eng:
        yield eng


@pytest.fixture
def slack() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI() as fake:
        yield fake


def _settings() -> Settings:
    return Settings(alert_channel="#alerts", timezone=BERLIN, digest_at="09:00", digest_grace="6h")


def _no_scans(_targets: Sequence[KubeTarget]) -> ScanReport:
    raise AssertionError("no cluster is configured: nothing may be scanned")


def _runner(
    engine: Engine,
    slack: FakeSlackAPI,
    clock: Clock,
    holder: str = "a",
    settings: Settings | None = None,
) -> JobRunner:
    settings = settings or _settings()
    sink = slack_sink(token=slack.token, base_url=slack.url)
    jobs = scheduling.scheduler_jobs(
        settings,
        engine=engine,
        targets=[],
        dispatch=scheduling.dispatcher(settings, engine=engine, sink=sink, clock=clock),
        runner=_no_scans,
        clock=clock,
    )
    return JobRunner(engine, clock, holder, jobs)


def _digests(slack: FakeSlackAPI) -> list[str]:
    """The day of every digest Slack accepted, in order."""
    texts = [str(c.params.get("text", "")) for c in slack.calls_to("chat.postMessage")]
    return [t.split()[2].rstrip(":") for t in texts if t.startswith("Harvester digest")]


def test_digest_at_nine_in_berlin_on_both_sides_of_the_spring_dst_change(
    engine: Engine, slack: FakeSlackAPI
) -> None:
    scan(engine, [proxy()], at=datetime(2026, 3, 27, 12, tzinfo=UTC))
    clock = Clock(datetime(2026, 3, 28, 8, 0, 2, tzinfo=UTC))  # 09:00:02 CET
    runner = _runner(engine, slack, clock)
    assert runner.run_due("digest") is Outcome.RAN
    clock.now = datetime(2026, 3, 29, 7, 0, 2, tzinfo=UTC)  # 09:00:02 CEST
    assert runner.run_due("digest") is Outcome.RAN
    clock.now = datetime(2026, 3, 29, 8, 0, 2, tzinfo=UTC)  # 10:00 CEST: not a new slot
    assert runner.run_due("digest") is Outcome.SKIPPED
    assert _digests(slack) == ["2026-03-28", "2026-03-29"]


def test_a_missed_digest_after_three_days_down_is_sent_once(
    engine: Engine, slack: FakeSlackAPI
) -> None:
    scan(engine, [proxy()], at=datetime(2026, 11, 1, 12, tzinfo=UTC))
    clock = Clock(datetime(2026, 11, 2, 8, 0, 1, tzinfo=UTC))  # Mon 09:00 CET
    runner = _runner(engine, slack, clock)
    assert runner.run_due("digest") is Outcome.RAN
    # Down from Monday 09:01 until Thursday 10:30: Tue, Wed and Thu were missed.
    clock.now = datetime(2026, 11, 5, 9, 30, tzinfo=UTC)
    restarted = _runner(engine, slack, clock, holder="b")
    assert ("digest", Outcome.RAN) in restarted.catch_up()
    assert restarted.catch_up() == []  # and only once
    assert _digests(slack) == ["2026-11-02", "2026-11-05"]
    # and the one digest covers all three days: its window starts where Monday's ended
    with db.read_scope(engine) as session:
        rows = session.scalars(
            select(OutboxRow).where(OutboxRow.kind == "digest").order_by(OutboxRow.id)
        ).all()
        monday, thursday = (Digest.from_json(r.payload) for r in rows)
    assert thursday.since == monday.until
    assert monday.until is not None and monday.until.date().isoformat() == "2026-11-02"


def test_two_schedulers_racing_send_one_digest(engine: Engine, slack: FakeSlackAPI) -> None:
    scan(engine, [proxy()], at=datetime(2026, 11, 1, 12, tzinfo=UTC))
    clock = Clock(datetime(2026, 11, 2, 8, 0, 1, tzinfo=UTC))
    runners = [_runner(engine, slack, clock, holder=h) for h in ("a", "b")]
    barrier = threading.Barrier(2)
    outcomes: list[Outcome] = []

    def go(runner: JobRunner) -> None:
        barrier.wait()
        outcomes.append(runner.run_due("digest"))

    threads = [threading.Thread(target=go, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == sorted([Outcome.RAN, Outcome.SKIPPED])
    assert _digests(slack) == ["2026-11-02"]


def test_alerts_go_out_once_per_transition_through_the_outbox_job(
    engine: Engine, slack: FakeSlackAPI
) -> None:
    t0 = datetime(2026, 11, 2, 6, tzinfo=UTC)
    clock = Clock(t0)
    runner = _runner(engine, slack, clock)
    scan(engine, [cert("web", 29)], at=t0)  # warning, 30d tier
    runner.run_now("outbox")
    for day in (1, 2, 14):  # 28, 27 and 15 days left: the same 30d tier, nothing to say
        clock.now = t0 + timedelta(days=day)
        scan(engine, [cert("web", 29 - day)], at=clock.now)
        runner.run_now("outbox")
    clock.now = t0 + timedelta(days=16)
    scan(engine, [cert("web", 13, severity=C)], at=clock.now)  # crosses into 14d
    runner.run_now("outbox")
    clock.now = t0 + timedelta(days=17)
    scan(engine, [cert("web", 12, severity=C)], at=clock.now)
    runner.run_now("outbox")
    posts = slack.calls_to("chat.postMessage")
    assert [p.params["text"].split()[:2] for p in posts] == [
        ["WARNING", "new"],
        ["CRITICAL", "escalated"],
    ]
    # the escalation is a reply in the alert's thread, shown in the channel too, and the
    # alert itself now shows the finding as it is
    root = posts[0].answer["ts"]
    assert posts[1].params["thread_ts"] == root
    assert posts[1].params["reply_broadcast"] in (True, "true", "1")
    updates = slack.calls_to("chat.update")
    assert [u.params["ts"] for u in updates] == [root]
    assert updates[0].params["text"].startswith("CRITICAL escalated on prod: ")
    # renewed: the finding resolves, answered in the same thread; the alert says so
    clock.now = t0 + timedelta(days=18)
    scan(engine, [], at=clock.now)
    runner.run_now("outbox")
    reply = slack.calls_to("chat.postMessage")[-1]
    assert reply.params["thread_ts"] == root
    assert "reply_broadcast" not in reply.params
    assert reply.params["text"].startswith("RESOLVED on prod: ")
    updates = slack.calls_to("chat.update")
    assert [u.params["ts"] for u in updates] == [root, root]
    assert updates[-1].params["text"].startswith("RESOLVED on prod: ")
    assert ":white_check_mark: *Resolved*" in str(updates[-1].params["blocks"])


def test_an_expired_silence_is_announced_by_the_expiry_job(
    engine: Engine, slack: FakeSlackAPI
) -> None:
    t0 = datetime(2026, 11, 2, 6, tzinfo=UTC)
    clock = Clock(t0)
    runner = _runner(engine, slack, clock)
    fid = next(iter(scan(engine, [proxy()], at=t0).ids.values()))
    runner.run_now("outbox")
    with db.session_scope(engine) as s:
        silence(
            session=s,
            finding_id=fid,
            duration=timedelta(days=1),
            reason="change window",
            owner="U1",
            now=t0,
            audit=AUDIT,
        )
    clock.now = t0 + timedelta(hours=23)
    runner.run_due("expiry")
    runner.run_now("outbox")
    assert len(slack.calls_to("chat.postMessage")) == 1  # still silenced
    clock.now = t0 + timedelta(days=1, minutes=1)
    runner.run_due("expiry")
    runner.run_now("outbox")
    runner.run_due("expiry")
    runner.run_now("outbox")
    posts = slack.calls_to("chat.postMessage")
    assert len(posts) == 2
    assert posts[1].params["text"].startswith("WARNING silence expired on prod: ")
    assert posts[1].params["thread_ts"] == posts[0].answer["ts"]  # in the alert's thread


def test_an_expiring_certificate_that_expires_escalates_in_its_thread(
    engine: Engine, slack: FakeSlackAPI
) -> None:
    # cert-expiring stops and cert-expired starts on the same certificate: one story.
    t0 = datetime(2026, 11, 2, 6, tzinfo=UTC)
    clock = Clock(t0)
    runner = _runner(engine, slack, clock)
    expiring = cert("web", 1, severity=C)
    scan(engine, [expiring], at=t0)
    runner.run_now("outbox")
    clock.now = t0 + timedelta(days=2)
    expired = replace(
        expiring, check_id="cert-expired", tier="expired", message="certificate expired"
    )
    scan(engine, [expired], at=clock.now)
    runner.run_now("outbox")
    first, second = slack.calls_to("chat.postMessage")
    assert second.params["text"].startswith("CRITICAL escalated on prod: ")
    assert "(was critical, 1d)" in second.params["text"]
    assert second.params["thread_ts"] == first.answer["ts"]
    assert not any("RESOLVED" in str(c.params) for c in slack.calls_to("chat.postMessage"))
    (update,) = slack.calls_to("chat.update")
    assert update.params["ts"] == first.answer["ts"]
    assert "Certificate has expired" in update.params["text"]
    # renewed at last: the expired finding resolves in the same thread
    clock.now = t0 + timedelta(days=3)
    scan(engine, [], at=clock.now)
    runner.run_now("outbox")
    reply = slack.calls_to("chat.postMessage")[-1]
    assert reply.params["text"].startswith("RESOLVED on prod: ")
    assert reply.params["thread_ts"] == first.answer["ts"]


def test_a_digest_run_by_hand_leaves_the_scheduled_one_its_day(
    engine: Engine, slack: FakeSlackAPI
) -> None:
    scan(engine, [proxy()], at=datetime(2026, 11, 1, 12, tzinfo=UTC))
    clock = Clock(datetime(2026, 11, 2, 6, 30, tzinfo=UTC))  # 07:30 CET, before the digest
    runner = _runner(engine, slack, clock)
    assert runner.run_now("digest") is Outcome.RAN
    clock.now = datetime(2026, 11, 2, 8, 0, 1, tzinfo=UTC)
    assert runner.run_due("digest") is Outcome.RAN
    assert _digests(slack) == ["2026-11-02", "2026-11-02"]


def test_the_digest_job_carries_the_configured_expiry_thresholds(
    engine: Engine, slack: FakeSlackAPI
) -> None:
    # SECBOT_EXPIRY_WARNING_DAYS=21: the queued digest carries it, so the dispatcher labels
    # its certificates as cert-expiring does (bot/slack/blocks/digest.py cert_line).
    scan(engine, [proxy()], at=datetime(2026, 11, 1, 12, tzinfo=UTC))
    clock = Clock(datetime(2026, 11, 2, 8, 0, 1, tzinfo=UTC))
    settings = _settings().model_copy(update={"expiry_warning_days": 21})
    runner = _runner(engine, slack, clock, settings=settings)
    assert runner.run_due("digest") is Outcome.RAN
    assert _digests(slack) == ["2026-11-02"]
    with db.read_scope(engine) as session:
        row = session.scalars(select(OutboxRow).where(OutboxRow.kind == "digest")).one()
    digest = Digest.from_json(row.payload)
    assert (digest.critical_days, digest.warning_days, digest.info_days) == (14, 21, 90)


def test_expiry_thresholds_out_of_order_stop_the_job_table(
    engine: Engine, slack: FakeSlackAPI
) -> None:
    settings = _settings().model_copy(update={"expiry_warning_days": 10})  # < critical 14
    with pytest.raises(UserError, match=r"fix SECBOT_EXPIRY_\*_DAYS"):
        _runner(engine, slack, Clock(), settings=settings)
