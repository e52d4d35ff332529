"""The dispatcher on SQLite and PostgreSQL, sending through the real slack_sdk WebClient
to the fake Slack Web API: once per message, in order, threads for resolutions, Retry-After
honoured on 429, backoff on 5xx, dead letters for what cannot be sent, no doubles when
two dispatchers race."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from bot.notify.dispatcher import Dispatcher, Policy
from bot.slack.blocks.render import SlackRenderer
from bot.slack.sink import slack_sink
from bot.store import db
from bot.store.models_ops import OutboxRow
from tests.fakes.slack_api import FakeSlackAPI
from tests.notify import T0, C, Clock, cert, proxy, scan
from tests.store.conftest import BACKENDS, migrated_engine


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request.param, tmp_path) as eng:
        yield eng


@pytest.fixture
def slack() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI() as fake:
        yield fake


def _dispatcher(engine: Engine, slack: FakeSlackAPI, clock: Clock, **policy: object) -> Dispatcher:
    return Dispatcher(
        engine=engine,
        sink=slack_sink(token=slack.token, base_url=slack.url),
        renderer=SlackRenderer(tz=ZoneInfo("Europe/Berlin")),
        clock=clock,
        policy=Policy(**policy),  # type: ignore[arg-type]
    )


def _states(engine: Engine) -> list[tuple[str, str, int]]:
    with db.session_scope(engine) as s:
        rows = s.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()
        return [(r.kind, r.state, r.attempts) for r in rows]


def test_sends_each_message_once_and_records_the_ts(engine: Engine, slack: FakeSlackAPI) -> None:
    clock = Clock(T0)
    scan(engine, [proxy(), cert("web", 10, severity=C)], at=T0)
    dispatcher = _dispatcher(engine, slack, clock)
    stats = dispatcher.run_once()
    assert (stats.sent, stats.retried, stats.dead) == (2, 0, 0)
    assert dispatcher.run_once().sent == 0  # nothing twice
    posts = slack.calls_to("chat.postMessage")
    assert len(posts) == 2
    assert [p.params["channel"] for p in posts] == ["#alerts", "#alerts"]
    with db.session_scope(engine) as s:
        ts = s.scalars(select(OutboxRow.slack_ts).order_by(OutboxRow.id)).all()
    assert ts == [p.answer["ts"] for p in posts]


def test_resolved_replies_in_the_thread_and_updates_the_alert(
    engine: Engine, slack: FakeSlackAPI
) -> None:
    clock = Clock(T0)
    dispatcher = _dispatcher(engine, slack, clock)
    scan(engine, [proxy()], at=T0)
    dispatcher.run_once()
    root = slack.calls_to("chat.postMessage")[0].answer
    clock.advance(hours=6)
    scan(engine, [], at=clock.now)
    assert dispatcher.run_once().sent == 1
    reply = slack.calls_to("chat.postMessage")[1]
    assert reply.params["thread_ts"] == root["ts"]
    update = slack.calls_to("chat.update")
    assert [(u.params["channel"], u.params["ts"]) for u in update] == [
        (root["channel"], root["ts"])
    ]
    assert update[0].params["text"].startswith("RESOLVED on prod: ")
    assert ":white_check_mark: *Resolved*" in str(update[0].params["blocks"])


def test_a_resolution_waits_for_its_alert(engine: Engine, slack: FakeSlackAPI) -> None:
    # The alert and its resolution are both pending; the alert fails first (500): the
    # resolution must not go out as an orphan before it.
    clock = Clock(T0 + timedelta(minutes=1))
    scan(engine, [proxy()], at=T0)
    scan(engine, [], at=T0 + timedelta(minutes=1))
    slack.fail("chat.postMessage", 500)
    dispatcher = _dispatcher(engine, slack, clock)
    stats = dispatcher.run_once()
    assert (stats.sent, stats.retried, stats.deferred) == (0, 1, 1)
    clock.advance(minutes=5)
    assert dispatcher.run_once().sent == 2
    alert, reply = slack.calls_to("chat.postMessage")
    assert reply.params["thread_ts"] == alert.answer["ts"]


def test_429_then_success_sends_once_after_retry_after(engine: Engine, slack: FakeSlackAPI) -> None:
    clock = Clock(T0)
    scan(engine, [proxy()], at=T0)
    slack.fail("chat.postMessage", 429, retry_after=7)
    dispatcher = _dispatcher(engine, slack, clock)
    assert dispatcher.run_once().retried == 1
    assert len(slack.calls) == 1  # no hidden retry inside the client
    clock.advance(seconds=6)
    assert dispatcher.run_once().sent == 0  # Retry-After not over yet
    clock.advance(seconds=1)
    assert dispatcher.run_once().sent == 1
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert _states(engine) == [("alert", "sent", 1)]  # being told to wait is no failure


def test_a_429_pauses_the_channel_for_the_rest_of_the_round(
    engine: Engine, slack: FakeSlackAPI
) -> None:
    clock = Clock(T0)
    scan(engine, [proxy(), cert("web", 10, severity=C), cert("api", 12, severity=C)], at=T0)
    slack.fail("chat.postMessage", 429, retry_after=3)
    stats = _dispatcher(engine, slack, clock).run_once()
    assert (stats.sent, stats.retried, stats.deferred) == (0, 1, 2)
    assert len(slack.calls) == 1
    clock.advance(seconds=3)
    assert _dispatcher(engine, slack, clock).run_once().sent == 3
    assert [s for _, s, _ in _states(engine)] == ["sent"] * 3


def test_5xx_backs_off_and_gives_up_into_a_dead_letter_after_a_day(
    engine: Engine, slack: FakeSlackAPI, caplog: pytest.LogCaptureFixture
) -> None:
    """Slack failing is an outage, not a bad message: after its attempts a message still
    waits out ``give_up_after`` (24 h) before it is given up."""
    clock = Clock(T0)
    scan(engine, [proxy()], at=T0)
    slack.fail("chat.postMessage", 500, times=1000)
    dispatcher = _dispatcher(engine, slack, clock, max_attempts=3)
    assert dispatcher.run_once().retried == 1
    assert dispatcher.run_once().retried == 0  # backing off: not due yet
    clock.advance(minutes=2)
    assert dispatcher.run_once().retried == 1
    clock.advance(minutes=5)
    assert dispatcher.run_once().retried == 1  # three attempts, but not a day yet
    assert _states(engine) == [("alert", "pending", 3)]
    clock.advance(hours=24)
    stats = dispatcher.run_once()
    assert stats.dead == 1
    assert _states(engine) == [("alert", "dead", 4)]
    assert "dead letter alert:#alerts" in caplog.text
    clock.advance(hours=1)
    assert dispatcher.run_once().sent == 0  # dead stays dead


def test_an_alert_outlives_a_long_slack_outage(engine: Engine, slack: FakeSlackAPI) -> None:
    """70 minutes of 503s (more than the eight attempts' backoff): the alert that a
    certificate expires in five days still goes out once Slack is back."""
    clock = Clock(T0)
    scan(engine, [cert("web", 5, severity=C)], at=T0)
    slack.fail("chat.postMessage", 503, times=10_000)
    dispatcher = _dispatcher(engine, slack, clock)
    for _ in range(70):
        dispatcher.run_once()
        clock.advance(minutes=1)
    assert [(kind, state) for kind, state, _ in _states(engine)] == [("alert", "pending")]
    slack.clear_failures()
    clock.advance(minutes=15)
    assert dispatcher.run_once().sent == 1
    assert [state for _, state, _ in _states(engine)] == ["sent"]


def test_a_permanent_error_dead_letters_at_once_without_the_token(
    engine: Engine, slack: FakeSlackAPI
) -> None:
    clock = Clock(T0)
    scan(engine, [proxy()], at=T0)
    slack.fail("chat.postMessage", 200, error="channel_not_found")
    assert _dispatcher(engine, slack, clock).run_once().dead == 1
    with db.session_scope(engine) as s:
        error = s.scalars(select(OutboxRow.last_error)).one()
    assert error is not None and "channel_not_found" in error
    assert slack.token not in error


def test_two_dispatchers_racing_send_each_message_once(engine: Engine, slack: FakeSlackAPI) -> None:
    clock = Clock(T0 + timedelta(minutes=12))
    for i in range(12):  # one new finding per scan: twelve alerts, no summary
        scan(
            engine,
            [cert(f"web{j}", 10, severity=C) for j in range(i + 1)],
            at=T0 + timedelta(minutes=i),
        )
    slack.latency = 0.01
    dispatchers = [_dispatcher(engine, slack, clock) for _ in range(2)]
    barrier = threading.Barrier(2)

    def go(d: Dispatcher) -> None:
        barrier.wait()
        d.run_once()

    threads = [threading.Thread(target=go, args=(d,)) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    posts = slack.calls_to("chat.postMessage")
    assert len(posts) == 12
    assert [s for _, s, _ in _states(engine)] == ["sent"] * 12


class _SlowSink:
    """The real Slack sink, taking 30 s (of the test clock) per message; on the fifth
    message a second dispatcher runs, as an overlapping leader would."""

    def __init__(self, inner: Any, clock: Clock) -> None:
        self.inner, self.clock, self.posts = inner, clock, 0
        self.other: Dispatcher | None = None

    def post(self, **kw: Any) -> Any:
        self.clock.advance(seconds=30)
        self.posts += 1
        if self.posts == 5 and self.other is not None:
            self.other.run_once()
        return self.inner.post(**kw)

    def update(self, **kw: Any) -> None:
        self.inner.update(**kw)


def test_a_slow_batch_is_never_sent_twice_by_an_overlapping_dispatcher(
    engine: Engine, slack: FakeSlackAPI
) -> None:
    # Ten messages at 30 s each outlast the 2-minute claim lease; each row is claimed just
    # before it is sent, so the second dispatcher takes over the rest instead of resending.
    clock = Clock(T0 + timedelta(minutes=10))
    for i in range(10):
        scan(
            engine,
            [proxy(), *[cert(f"web{j}", 10, severity=C) for j in range(i)]],
            at=T0 + timedelta(minutes=i),
        )
    sink = _SlowSink(slack_sink(token=slack.token, base_url=slack.url), clock)
    first = Dispatcher(
        engine=engine, sink=sink, renderer=SlackRenderer(tz=ZoneInfo("UTC")), clock=clock
    )
    sink.other = _dispatcher(engine, slack, clock)
    first.run_once()
    texts = [p.params["text"] for p in slack.calls_to("chat.postMessage")]
    assert len(texts) == 10 and len(set(texts)) == 10
    assert [s for _, s, _ in _states(engine)] == ["sent"] * 10
