"""Leader election with a Kubernetes Lease (coordination.k8s.io/v1), over our KubeClient.

The protocol is client-go's resource lock, done by hand because the library's
``LeaderElection`` builds its API client on the global default configuration, exits the
process on bad settings and returns for good after one lost term (reference/libraries.md
§2.6). One call of ``try_acquire_or_renew`` is one round:

- no Lease (404): create it with us as holder; a 409 means another replica created it
  first, and we lost the race;
- we hold it: renew (``renewTime`` = now) with a PUT carrying the ``resourceVersion`` we
  read, so a concurrent writer makes one of us fail with 409;
- another replica holds it and ``renewTime + leaseDurationSeconds`` is in the past (or the
  holder is empty: it was released): take over the same way, counting a transition;
- another replica holds a live Lease: not us.

Times are ``MicroTime`` strings ("2026-11-29T01:02:03.000000Z") from the injected clock.
Expiry is judged by our clock against the holder's ``renewTime``, so replica clocks must
agree to well within the lease duration (NTP). Correctness never rests on this alone:
every job slot is also claimed in the database.

RBAC: ``get``, ``create`` and ``update`` on ``leases`` in the Lease's namespace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.kube.client import KubeClient, Timeouts
from bot.kube.errors import KubeConflict, KubeNotFound

__all__ = ["API_VERSION", "KIND", "LEASE_TIMEOUTS", "LeaseLock", "micro_time", "parse_micro_time"]

log = logging.getLogger(__name__)

API_VERSION = "coordination.k8s.io/v1"
KIND = "Lease"
# For the client that holds the Lease: one round must finish well within the lease
# duration, or a slow API server costs us leadership while we wait.
LEASE_TIMEOUTS = Timeouts(connect=2.0, read=4.0, retries=0)


def micro_time(at: datetime) -> str:
    """``at`` as a Kubernetes MicroTime: UTC, microseconds, ``Z``."""
    if at.tzinfo is None:
        raise ValueError("a naive datetime has no place in a Lease; use aware UTC")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(value: object) -> datetime | None:
    """A MicroTime (or plain RFC 3339 Time) as aware UTC; None if absent or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


class LeaseLock:
    """One Lease as a leader lock for ``holder``; ``duration`` is how long a renewal counts."""

    def __init__(
        self,
        client: KubeClient,
        *,
        namespace: str,
        name: str,
        holder: str,
        duration: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        if duration < timedelta(seconds=1):
            raise ValueError("a lease duration must be at least one second")
        # The other holder's record as last read, and when (our clock) it last changed.
        self._seen: tuple[str, str] | None = None
        self._seen_at = clock()
        self._client = client
        self.namespace = namespace
        self.name = name
        self.holder = holder
        self.duration = duration
        self._clock = clock

    def describe(self) -> str:
        return f"Kubernetes Lease {self.namespace}/{self.name} on {self._client.host}"

    def try_acquire_or_renew(self) -> bool:
        """One round of the election; True if we hold the Lease now.

        A lost race (409) is False; other API failures raise KubeError for the caller,
        who decides how long it may still trust its last renewal.
        """
        now = self._clock()
        try:
            current = self._get()
        except KubeNotFound:
            return self._create(now)
        spec: dict[str, Any] = dict(current.get("spec") or {})
        holder = spec.get("holderIdentity") or ""
        seconds = int(self.duration.total_seconds())
        if holder == self.holder:
            spec.update(renewTime=micro_time(now), leaseDurationSeconds=seconds)
        elif holder and not self._expired(spec, now):
            return False
        else:
            log.info("lease %s/%s: taking over from %r", self.namespace, self.name, holder)
            spec.update(
                holderIdentity=self.holder,
                leaseDurationSeconds=seconds,
                acquireTime=micro_time(now),
                renewTime=micro_time(now),
                leaseTransitions=_int(spec.get("leaseTransitions")) + 1,
            )
        return self._replace(current, spec)

    def release(self) -> bool:
        """Give the Lease up if we hold it (empty holder, 1 s duration), so a follower
        takes over at its next round instead of waiting out the duration."""
        now = self._clock()
        try:
            current = self._get()
        except KubeNotFound:
            return False
        spec: dict[str, Any] = dict(current.get("spec") or {})
        if spec.get("holderIdentity") != self.holder:
            return False
        spec.update(
            holderIdentity="",
            leaseDurationSeconds=1,
            acquireTime=micro_time(now),
            renewTime=micro_time(now),
        )
        return self._replace(current, spec)

    def _get(self) -> dict[str, Any]:
        return self._client.get(
            api_version=API_VERSION, kind=KIND, name=self.name, namespace=self.namespace
        )

    def _create(self, now: datetime) -> bool:
        body = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.holder,
                "leaseDurationSeconds": int(self.duration.total_seconds()),
                "acquireTime": micro_time(now),
                "renewTime": micro_time(now),
                "leaseTransitions": 0,
            },
        }
        try:
            self._client.create(
                api_version=API_VERSION, kind=KIND, body=body, namespace=self.namespace
            )
        except KubeConflict:
            return False  # another replica created it between our GET and POST
        return True

    def _replace(self, current: dict[str, Any], spec: dict[str, Any]) -> bool:
        # The read metadata carries its resourceVersion: the PUT is a compare-and-set.
        body = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": dict(current.get("metadata") or {}),
            "spec": spec,
        }
        try:
            self._client.replace(
                api_version=API_VERSION,
                kind=KIND,
                name=self.name,
                body=body,
                namespace=self.namespace,
            )
        except KubeConflict:
            return False
        return True

    def _expired(self, spec: dict[str, Any], now: datetime) -> bool:
        """Has the holder's record gone unchanged for its duration, by OUR clock?

        Like client-go, expiry counts from when this replica saw the record last change,
        not from the holder's renewTime: clocks of two replicas may disagree, and a
        renewTime from a fast clock would otherwise let a follower take over a live
        leader. A first sighting therefore waits one full duration.
        """
        stamp = spec.get("renewTime") or spec.get("acquireTime")
        if parse_micro_time(stamp) is None:
            return True  # a holder that never renewed holds nothing
        record = (str(spec.get("holderIdentity") or ""), str(stamp))
        if record != self._seen:
            self._seen, self._seen_at = record, now
        seconds = _int(spec.get("leaseDurationSeconds")) or int(self.duration.total_seconds())
        return self._seen_at + timedelta(seconds=seconds) < now


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
