"""build_jobs: the job table from settings and clusters; stable, spread scan offsets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.kube.config import KubeTarget
from bot.scheduler.jobs import EPOCH, build_jobs, scan_offset, spread_offsets
from bot.scheduler.slots import latest_fire
from tests.scheduler.conftest import Calls, make_jobs, settings

SIX_HOURS = timedelta(hours=6)


def test_job_table_from_settings_and_clusters() -> None:
    calls = Calls()
    targets = [KubeTarget(name="prod"), KubeTarget(name="edge", scan_interval=timedelta(hours=1))]
    jobs = build_jobs(settings=settings(), targets=targets, actions=calls.actions())
    assert [(j.id, j.description, j.claim, j.grace) for j in jobs] == [
        ("scan:edge", "scan cluster edge every 1h", True, timedelta(hours=1)),
        ("scan:prod", "scan cluster prod every 6h", True, SIX_HOURS),
        ("digest", "daily digest at 09:00 Europe/Berlin", True, timedelta(hours=6)),
        ("outbox", "send due messages every 5s", False, timedelta(seconds=5)),
        ("expiry", "expire silences every 1m", False, timedelta(seconds=60)),
    ]
    edge, prod, digest, outbox, expiry = (j.trigger for j in jobs)
    assert (edge.interval, prod.interval) == (timedelta(hours=1), SIX_HOURS)
    assert edge.timezone is UTC and prod.timezone is UTC
    assert outbox.timezone is UTC and expiry.timezone is UTC
    assert digest.timezone == ZoneInfo("Europe/Berlin")
    assert str(digest) == "cron[hour='9', minute='0']"
    assert (outbox.interval, expiry.interval) == (timedelta(seconds=5), timedelta(seconds=60))
    assert outbox.start_date == expiry.start_date == EPOCH


def test_job_callables_reach_the_actions() -> None:
    calls = Calls()
    jobs = {j.id: j for j in make_jobs(calls, "prod")}
    fire = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    for job_id in ("scan:prod", "digest", "outbox", "expiry"):
        jobs[job_id].run(fire)
    assert calls.scans == ["prod"]
    assert calls.digests == [fire]
    assert calls.dispatches == 1
    assert calls.expiries == [fire]


def test_scan_offsets_are_stable_per_cluster_and_within_the_interval() -> None:
    jobs = make_jobs(Calls(), "prod-1", "prod-2")
    again = make_jobs(Calls(), "prod-2", "prod-1")
    starts = {j.id: j.trigger.start_date for j in jobs if j.id.startswith("scan:")}
    assert starts == {j.id: j.trigger.start_date for j in again if j.id.startswith("scan:")}
    # sha256("prod-1") mod 21600 s, anchored at the epoch: the phase survives restarts.
    assert scan_offset("prod-1", SIX_HOURS) == 11620
    assert scan_offset("prod-2", SIX_HOURS) == 10215
    assert starts["scan:prod-1"] == EPOCH + timedelta(seconds=11620)
    assert starts["scan:prod-2"] == EPOCH + timedelta(seconds=10215)
    # Fire times are the offset past every 6-hour mark since the epoch.
    prod1 = next(j for j in jobs if j.id == "scan:prod-1")
    fire = latest_fire(prod1.trigger, datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    assert fire == datetime(2026, 11, 29, 9, 13, 40, tzinfo=UTC)
    assert (fire - EPOCH) % SIX_HOURS == timedelta(seconds=11620)


def test_two_hundred_clusters_do_not_share_a_start_second() -> None:
    names = [f"harvester-{i:03d}" for i in range(200)]
    offsets = spread_offsets(dict.fromkeys(names, SIX_HOURS))
    seconds = [int(offsets[n].total_seconds()) for n in names]
    assert len(set(seconds)) == 200
    assert all(0 <= s < 21600 for s in seconds)
    assert all(s == int(s) for s in seconds)
    per_hour = [sum(1 for s in seconds if h * 3600 <= s < (h + 1) * 3600) for h in range(6)]
    assert sum(per_hour) == 200
    assert min(per_hour) >= 20 and max(per_hour) <= 50  # spread, not bunched


def test_colliding_hashes_move_to_the_next_free_second() -> None:
    ten = timedelta(seconds=10)
    by_offset: dict[int, list[str]] = {}
    for i in range(100):
        by_offset.setdefault(scan_offset(f"c{i}", ten), []).append(f"c{i}")
    first, second = sorted(next(names for names in by_offset.values() if len(names) > 1))[:2]
    offsets = spread_offsets({first: ten, second: ten})
    base = scan_offset(first, ten)
    assert offsets == {
        first: timedelta(seconds=base),
        second: timedelta(seconds=(base + 1) % 10),
    }
    # More clusters than seconds: every second is used, the rest share.
    crowd = spread_offsets({f"c{i}": ten for i in range(12)})
    assert {int(v.total_seconds()) for v in crowd.values()} == set(range(10))


def test_duplicate_cluster_names_are_refused() -> None:
    with pytest.raises(ValueError, match="repeated: prod"):
        make_jobs(Calls(), "prod", "prod")
