"""Scheduler fixtures: a controllable clock, recorded job actions, migrated databases.

The clock is a callable returning an aware UTC datetime that tests move by hand; nothing
here sleeps. ``engine`` runs every database test on SQLite and on PostgreSQL (see
tests/store/conftest.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.config import Settings
from bot.scheduler.jobs import JobActions, JobSpec, build_jobs
from bot.store.db import read_scope
from bot.store.models_ops import JobClaim
from tests.store.conftest import BACKENDS, migrated_engine


class Clock:
    """A clock the test moves: ``clock()`` is now, ``advance(hours=1)`` moves it."""

    def __init__(self, now: datetime) -> None:
        assert now.tzinfo is not None
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class Calls:
    """What the jobs did, recorded (thread-safe: runners may run in threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.scans: list[str] = []
        self.digests: list[datetime] = []
        self.dispatches = 0
        self.expiries: list[datetime] = []
        self.fail_digest: Exception | None = None
        self.gate: threading.Event | None = None  # digest waits for it when set

    def scan(self, name: str) -> None:
        with self._lock:
            self.scans.append(name)

    def digest(self, fire: datetime) -> None:
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail_digest is not None:
            raise self.fail_digest
        with self._lock:
            self.digests.append(fire)

    def dispatch(self) -> None:
        with self._lock:
            self.dispatches += 1

    def expire(self, at: datetime) -> None:
        with self._lock:
            self.expiries.append(at)

    def actions(self) -> JobActions:
        return JobActions(
            scan=self.scan, digest=self.digest, dispatch=self.dispatch, expire=self.expire
        )


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "timezone": "Europe/Berlin",
        "digest_at": "09:00",
        "digest_grace": "6h",
        "scan_interval": "6h",
        "outbox_interval_seconds": 5,
    }
    values.update(overrides)
    return Settings(**values)


def make_jobs(calls: Calls, *clusters: str, **overrides: Any) -> list[JobSpec]:
    from bot.kube.config import KubeTarget

    targets = [KubeTarget(name=name) for name in clusters]
    return build_jobs(settings=settings(**overrides), targets=targets, actions=calls.actions())


def claim_rows(engine: Engine, job_id: str | None = None) -> list[tuple[str, str, str]]:
    """(job_id, slot, holder) of every claim, in insertion order."""
    from sqlalchemy import select

    with read_scope(engine) as session:
        query = select(JobClaim).order_by(JobClaim.id)
        if job_id is not None:
            query = query.where(JobClaim.job_id == job_id)
        return [(c.job_id, c.slot, c.holder) for c in session.scalars(query)]


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request.param, tmp_path) as eng:
        yield eng


@pytest.fixture
def calls() -> Calls:
    return Calls()
