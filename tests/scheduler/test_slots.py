"""Fire times and slots: the 09:00 Europe/Berlin digest across both DST changes of 2026,
the autumn fold, interval anchors, manual slots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.interval import IntervalTrigger

from bot.scheduler.jobs import JobSpec
from bot.scheduler.slots import latest_fire, manual_slot, next_fire, slot_of
from tests.scheduler.conftest import Calls, make_jobs

BERLIN = ZoneInfo("Europe/Berlin")


def _job(jobs: list[JobSpec], job_id: str) -> JobSpec:
    return next(job for job in jobs if job.id == job_id)


@pytest.mark.parametrize(
    ("day", "fire_utc"),
    [
        # Spring forward on Sunday 2026-03-29 (CET +01:00 -> CEST +02:00).
        ("2026-03-27", "2026-03-27T08:00:00+00:00"),
        ("2026-03-28", "2026-03-28T08:00:00+00:00"),
        ("2026-03-29", "2026-03-29T07:00:00+00:00"),
        ("2026-03-30", "2026-03-30T07:00:00+00:00"),
        # Fall back on Sunday 2026-10-25 (CEST +02:00 -> CET +01:00).
        ("2026-10-24", "2026-10-24T07:00:00+00:00"),
        ("2026-10-25", "2026-10-25T08:00:00+00:00"),
        ("2026-10-26", "2026-10-26T08:00:00+00:00"),
    ],
)
def test_digest_fires_at_nine_berlin_time_across_dst(day: str, fire_utc: str) -> None:
    digest = _job(make_jobs(Calls()), "digest")
    noon = datetime.fromisoformat(f"{day}T12:00:00+00:00")
    fire = latest_fire(digest.trigger, noon)
    assert fire is not None
    assert fire.isoformat() == fire_utc
    assert fire.tzinfo is UTC
    assert fire.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M") == f"{day} 09:00"
    assert slot_of(digest, fire) == day
    # The next one is the following day's 09:00 local.
    following = next_fire(digest.trigger, noon)
    assert following is not None
    assert following.astimezone(BERLIN).strftime("%H:%M") == "09:00"
    assert following.astimezone(BERLIN).date() - fire.astimezone(BERLIN).date() == timedelta(1)


def test_latest_fire_is_inclusive_and_looks_back_to_yesterday() -> None:
    digest = _job(make_jobs(Calls()), "digest")
    at_fire = datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    assert latest_fire(digest.trigger, at_fire) == at_fire
    before = at_fire - timedelta(microseconds=1)
    assert latest_fire(digest.trigger, before) == datetime(2026, 3, 28, 8, 0, tzinfo=UTC)
    assert next_fire(digest.trigger, before) == at_fire


def test_autumn_fold_fires_twice_but_is_one_slot() -> None:
    digest = _job(make_jobs(Calls(), digest_at="02:30"), "digest")
    first = latest_fire(digest.trigger, datetime(2026, 10, 25, 1, 0, tzinfo=UTC))
    second = latest_fire(digest.trigger, datetime(2026, 10, 25, 2, 0, tzinfo=UTC))
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert second == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert slot_of(digest, first) == slot_of(digest, second) == "2026-10-25"


def test_spring_gap_fires_once_at_the_shifted_time() -> None:
    digest = _job(make_jobs(Calls(), digest_at="02:30"), "digest")
    fire = latest_fire(digest.trigger, datetime(2026, 3, 29, 3, 0, tzinfo=UTC))
    assert fire == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 02:30 does not exist that day
    assert slot_of(digest, fire) == "2026-03-29"
    assert latest_fire(digest.trigger, datetime(2026, 3, 29, 1, 29, tzinfo=UTC)) == datetime(
        2026, 3, 28, 1, 30, tzinfo=UTC
    )


def test_interval_latest_fire_from_the_anchor() -> None:
    start = datetime(2026, 11, 29, 0, 0, 7, tzinfo=UTC)
    trigger = IntervalTrigger(hours=6, start_date=start, timezone=UTC)
    assert latest_fire(trigger, start - timedelta(seconds=1)) is None
    assert latest_fire(trigger, start) == start
    assert latest_fire(trigger, start + timedelta(hours=13)) == start + timedelta(hours=12)
    assert next_fire(trigger, start + timedelta(hours=13)) == start + timedelta(hours=18)
    ended = IntervalTrigger(
        hours=6, start_date=start, end_date=start + timedelta(hours=7), timezone=UTC
    )
    assert latest_fire(ended, start + timedelta(days=3)) == start + timedelta(hours=6)


def test_interval_slot_is_the_utc_second() -> None:
    scan = _job(make_jobs(Calls(), "prod"), "scan:prod")
    fire = latest_fire(scan.trigger, datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    assert fire is not None
    assert slot_of(scan, fire) == fire.strftime("%Y-%m-%dT%H:%M:%SZ")
    berlin_fire = fire.astimezone(BERLIN)  # the same moment in another zone: the same slot
    assert slot_of(scan, berlin_fire) == slot_of(scan, fire)


def test_manual_slot_and_naive_now() -> None:
    now = datetime(2026, 11, 29, 1, 2, 3, 4, tzinfo=UTC)
    assert manual_slot(now) == "manual:2026-11-29T01:02:03.000004+00:00"
    digest = _job(make_jobs(Calls()), "digest")
    with pytest.raises(ValueError, match="aware"):
        latest_fire(digest.trigger, datetime(2026, 11, 29, 1, 2, 3))
