"""Who runs the jobs: one leader among the replicas of ``secbot serve``.

``LeaderGate`` is asked once per leader-loop tick; ``acquire`` never blocks and answers
"am I the leader now?" (taking or renewing leadership as needed). Backends
(reference/libraries.md §2.6):

- ``AlwaysLeader``: one replica (SQLite, or ``SECBOT_LEADER=none``).
- ``PostgresLeader``: a session advisory lock on a dedicated connection
  (bot.store.lock); leadership ends when that connection does.
- ``KubeLeaseLeader``: a coordination.k8s.io Lease (bot.kube.lease). A failed renewal
  keeps leadership only until two thirds of the lease duration after the last good
  one, so we step down before anyone else may take over.

Correctness never rests on the gate: every slot is also claimed in the database, so a
brief overlap of two leaders runs nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from bot.errors import UserError
from bot.kube.errors import KubeError
from bot.kube.lease import LeaseLock
from bot.store.lock import AdvisoryLock

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.kube.client import KubeClient
    from bot.store.db import Engine

log = logging.getLogger(__name__)

LEASE_DURATION = timedelta(seconds=15)


class LeaderGate(Protocol):
    def acquire(self) -> bool:
        """Non-blocking: take or keep leadership; True while this replica leads."""
        ...

    def release(self) -> None:
        """Give leadership up (clean shutdown); safe when not leading."""
        ...

    def describe(self) -> str:
        """One line for logs and ``scheduler list``: what the gate is."""
        ...


class AlwaysLeader:
    """The only replica always leads."""

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None

    def describe(self) -> str:
        return "no leader election (single replica)"


class PostgresLeader:
    """Leads while it holds the PostgreSQL advisory lock (see bot.store.lock)."""

    def __init__(self, engine: Engine) -> None:
        self._lock = AdvisoryLock(engine)

    def acquire(self) -> bool:
        # Held: health-check the lock's connection; free: try to take it.
        return self._lock.try_acquire()

    def release(self) -> None:
        self._lock.release()

    def describe(self) -> str:
        return self._lock.describe()


class KubeLeaseLeader:
    """Leads while it holds the Kubernetes Lease ``namespace/name``."""

    def __init__(
        self,
        *,
        connect: Callable[[], KubeClient],
        namespace: str,
        name: str,
        holder: str,
        clock: Callable[[], datetime],
        duration: timedelta = LEASE_DURATION,
    ) -> None:
        self._connect = connect
        self.namespace = namespace
        self.name = name
        self._holder = holder
        self._clock = clock
        self._duration = duration
        self._renew_deadline = duration * 2 / 3
        self._client: KubeClient | None = None
        self._lock: LeaseLock | None = None
        self._renewed: datetime | None = None  # our last successful round

    def acquire(self) -> bool:
        now = self._clock()
        try:
            ok = self._lease().try_acquire_or_renew()
        except KubeError as e:
            if self._renewed is not None and now < self._renewed + self._renew_deadline:
                log.warning("leader lease: renewal failed, still leading: %s", e)
                return True
            if self._renewed is not None:
                log.warning("leader lease: renewal failed, stepping down: %s", e)
            else:
                log.info("leader lease: %s", e)
            self._renewed = None
            return False
        self._renewed = now if ok else None
        return ok

    def release(self) -> None:
        if self._lock is not None and self._renewed is not None:
            try:
                self._lock.release()
            except KubeError as e:
                log.warning("leader lease: release failed (it expires on its own): %s", e)
        self._renewed = None
        if self._client is not None:
            self._client.close()
            self._client, self._lock = None, None

    def describe(self) -> str:
        if self._lock is not None:
            return self._lock.describe()
        return f"Kubernetes Lease {self.namespace}/{self.name}"

    def _lease(self) -> LeaseLock:
        if self._lock is None:
            self._client = self._connect()
            self._lock = LeaseLock(
                self._client,
                namespace=self.namespace,
                name=self.name,
                holder=self._holder,
                duration=self._duration,
                clock=self._clock,
            )
        return self._lock


def _utc_now() -> datetime:
    return datetime.now(UTC)


def choose_gate(
    settings: Settings,
    engine: Engine,
    *,
    holder: str,
    connect_lease: Callable[[], KubeClient] | None,
    clock: Callable[[], datetime] = _utc_now,
) -> LeaderGate:
    """The gate ``SECBOT_LEADER`` asks for; ``auto``: the PostgreSQL lock on PostgreSQL,
    no election on SQLite (one replica per SQLite file)."""
    mode = settings.leader
    dialect = engine.dialect.name
    if mode == "auto":
        mode = "postgres" if dialect == "postgresql" else "none"
    if mode == "none":
        return AlwaysLeader()
    if mode == "postgres":
        if dialect != "postgresql":
            raise UserError(
                f"SECBOT_LEADER=postgres needs a PostgreSQL database, not {dialect}; "
                "use SECBOT_LEADER=auto or none with SQLite (one replica)"
            )
        return PostgresLeader(engine)
    if connect_lease is None:
        raise UserError("SECBOT_LEADER=kubernetes needs a cluster to hold the Lease")
    namespace, name = settings.leader_lease.split("/", 1)
    return KubeLeaseLeader(
        connect=connect_lease, namespace=namespace, name=name, holder=holder, clock=clock
    )
