"""Leader gates: choose_gate per SECBOT_LEADER and database; two PostgresLeaders on one
database (one leads, release hands over)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.errors import UserError
from bot.kube.client import KubeClient
from bot.scheduler.leader import (
    AlwaysLeader,
    KubeLeaseLeader,
    PostgresLeader,
    choose_gate,
)
from bot.store.db import make_engine
from tests.scheduler.conftest import settings
from tests.store.conftest import migrated_engine


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine("postgres", tmp_path) as eng:
        yield eng


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'secbot.db'}")
    yield engine
    engine.dispose()


def _no_lease() -> KubeClient:
    raise AssertionError("the Lease must not be connected for this gate")


def test_sqlite_gets_the_always_leader(sqlite: Engine) -> None:
    for mode in ("auto", "none"):
        gate = choose_gate(settings(leader=mode), sqlite, holder="A", connect_lease=_no_lease)
        assert isinstance(gate, AlwaysLeader)
        assert gate.acquire() is True and gate.acquire() is True
        gate.release()
        assert gate.describe() == "no leader election (single replica)"


def test_postgres_leader_on_sqlite_is_refused(sqlite: Engine) -> None:
    with pytest.raises(UserError) as info:
        choose_gate(settings(leader="postgres"), sqlite, holder="A", connect_lease=None)
    assert str(info.value) == (
        "SECBOT_LEADER=postgres needs a PostgreSQL database, not sqlite; "
        "use SECBOT_LEADER=auto or none with SQLite (one replica)"
    )


def test_kubernetes_leader(sqlite: Engine) -> None:
    with pytest.raises(UserError, match="needs a cluster to hold the Lease"):
        choose_gate(settings(leader="kubernetes"), sqlite, holder="A", connect_lease=None)
    gate = choose_gate(
        settings(leader="kubernetes", leader_lease="ops/secbot-lock"),
        sqlite,
        holder="A",
        connect_lease=_no_lease,
    )
    assert isinstance(gate, KubeLeaseLeader)
    assert (gate.namespace, gate.name) == ("ops", "secbot-lock")
    assert gate.describe() == "Kubernetes Lease ops/secbot-lock"


@pytest.mark.postgres
def test_auto_on_postgres_is_the_advisory_lock(pg: Engine) -> None:
    gate = choose_gate(settings(leader="auto"), pg, holder="A", connect_lease=_no_lease)
    assert isinstance(gate, PostgresLeader)
    assert gate.describe().startswith("PostgreSQL advisory lock ")
    none = choose_gate(settings(leader="none"), pg, holder="A", connect_lease=_no_lease)
    assert isinstance(none, AlwaysLeader)


@pytest.mark.postgres
def test_two_postgres_gates_one_leads_release_hands_over(pg: Engine) -> None:
    first, second = PostgresLeader(pg), PostgresLeader(pg)
    try:
        assert first.acquire() is True
        assert second.acquire() is False
        assert first.acquire() is True  # keeps leading
        assert second.acquire() is False
        first.release()
        assert second.acquire() is True
        assert first.acquire() is False
    finally:
        first.release()
        second.release()
