"""LeaseLock against the fake kube-apiserver: create, renew, take over after expiry, lose
races with 409 (real interleavings, real resourceVersion checks), release; and the
KubeLeaseLeader gate that keeps leading through a short API outage only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.kube.client import KubeClient, KubeTarget, Timeouts
from bot.kube.lease import LeaseLock, micro_time, parse_micro_time
from bot.scheduler.leader import KubeLeaseLeader
from tests.fakes.kube_api import FakeKubeAPI

FAST = Timeouts(connect=1.0, read=2.0, retries=0)
T0 = datetime(2026, 11, 29, 1, 2, 3, tzinfo=UTC)
COORD = "coordination.k8s.io/v1"
PATH = "/apis/coordination.k8s.io/v1/namespaces/secbot/leases/secbot-leader"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class RaceClient:
    """The real client, with another replica's move slipped in before our first write."""

    def __init__(self, client: KubeClient, before_write: Callable[[], object]) -> None:
        self._client, self._before = client, before_write
        self.host = client.host

    def get(self, **kw: Any) -> dict[str, Any]:
        return self._client.get(**kw)

    def create(self, **kw: Any) -> dict[str, Any]:
        self._interleave()
        return self._client.create(**kw)

    def replace(self, **kw: Any) -> dict[str, Any]:
        self._interleave()
        return self._client.replace(**kw)

    def _interleave(self) -> None:
        before, self._before = self._before, lambda: None
        before()


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as fake:
        yield fake


@pytest.fixture
def client(api: FakeKubeAPI, tmp_path: Path) -> Iterator[KubeClient]:
    path = api.write_kubeconfig(tmp_path / "kubeconfig")
    with KubeClient.connect(KubeTarget(name="home", kubeconfig=path), timeouts=FAST) as c:
        yield c


def lock(client: Any, holder: str, clock: Clock) -> LeaseLock:
    return LeaseLock(
        client,
        namespace="secbot",
        name="secbot-leader",
        holder=holder,
        duration=timedelta(seconds=15),
        clock=clock,
    )


def stored(api: FakeKubeAPI) -> dict[str, Any]:
    obj = api.get(COORD, "Lease", "secbot-leader", "secbot")
    assert obj is not None
    return obj


def held_by(api: FakeKubeAPI, holder: str, renewed: datetime, transitions: int = 0) -> None:
    api.add(
        {
            "apiVersion": COORD,
            "kind": "Lease",
            "metadata": {"name": "secbot-leader", "namespace": "secbot"},
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": 15,
                "acquireTime": micro_time(renewed - timedelta(minutes=5)),
                "renewTime": micro_time(renewed),
                "leaseTransitions": transitions,
            },
        }
    )


def test_micro_time() -> None:
    assert micro_time(T0) == "2026-11-29T01:02:03.000000Z"
    assert parse_micro_time("2026-11-29T01:02:03.000000Z") == T0
    assert parse_micro_time("2026-11-29T02:02:03+01:00") == T0
    assert parse_micro_time("yesterday") is None
    assert parse_micro_time("2026-11-29T01:02:03") is None  # no zone: not a MicroTime
    assert parse_micro_time(None) is None
    with pytest.raises(ValueError, match="naive"):
        micro_time(datetime(2026, 11, 29))


def test_create_when_missing(api: FakeKubeAPI, client: KubeClient) -> None:
    assert lock(client, "A", Clock(T0)).try_acquire_or_renew() is True
    assert stored(api)["spec"] == {
        "holderIdentity": "A",
        "leaseDurationSeconds": 15,
        "acquireTime": "2026-11-29T01:02:03.000000Z",
        "renewTime": "2026-11-29T01:02:03.000000Z",
        "leaseTransitions": 0,
    }
    assert [r.method for r in api.requests_to(PATH.rsplit("/", 1)[0])] == ["GET", "POST"]


def test_renew_carries_the_resource_version(api: FakeKubeAPI, client: KubeClient) -> None:
    clock = Clock(T0)
    a = lock(client, "A", clock)
    assert a.try_acquire_or_renew() is True
    version = stored(api)["metadata"]["resourceVersion"]
    clock.now = T0 + timedelta(seconds=5)
    assert a.try_acquire_or_renew() is True
    lease = stored(api)
    assert lease["spec"]["renewTime"] == "2026-11-29T01:02:08.000000Z"
    assert lease["spec"]["acquireTime"] == "2026-11-29T01:02:03.000000Z"
    assert lease["spec"]["holderIdentity"] == "A"
    assert lease["metadata"]["resourceVersion"] != version
    assert [r.method for r in api.requests_to(PATH)] == ["GET", "GET", "PUT"]


def test_other_holder_not_expired(api: FakeKubeAPI, client: KubeClient) -> None:
    held_by(api, "A", renewed=T0)
    version = stored(api)["metadata"]["resourceVersion"]
    # renewTime + 15 s == now is not yet past: still A's.
    assert lock(client, "B", Clock(T0 + timedelta(seconds=15))).try_acquire_or_renew() is False
    assert stored(api)["spec"]["holderIdentity"] == "A"
    assert stored(api)["metadata"]["resourceVersion"] == version
    assert [r.method for r in api.requests_to(PATH)] == ["GET"]


def test_take_over_after_expiry(api: FakeKubeAPI, client: KubeClient) -> None:
    held_by(api, "A", renewed=T0, transitions=3)
    clock = Clock(T0)
    b = lock(client, "B", clock)
    assert b.try_acquire_or_renew() is False  # seen; A's record must now stay unchanged
    clock.now = T0 + timedelta(seconds=15)
    assert b.try_acquire_or_renew() is False  # exactly the duration: not yet
    clock.now = T0 + timedelta(seconds=15, microseconds=1)
    assert b.try_acquire_or_renew() is True
    assert stored(api)["spec"] == {
        "holderIdentity": "B",
        "leaseDurationSeconds": 15,
        "acquireTime": "2026-11-29T01:02:18.000001Z",
        "renewTime": "2026-11-29T01:02:18.000001Z",
        "leaseTransitions": 4,
    }


def test_lost_race_on_take_over_is_409(api: FakeKubeAPI, client: KubeClient) -> None:
    held_by(api, "A", renewed=T0)
    later = Clock(T0)
    a = lock(client, "A", later)
    # B reads the expired Lease, then A renews before B writes: B's PUT carries a stale
    # resourceVersion and the server answers 409.
    b = lock(RaceClient(client, a.try_acquire_or_renew), "B", later)
    assert b.try_acquire_or_renew() is False  # first sighting: nothing written yet
    later.now = T0 + timedelta(seconds=20)
    assert b.try_acquire_or_renew() is False
    assert stored(api)["spec"]["holderIdentity"] == "A"
    assert stored(api)["spec"]["renewTime"] == "2026-11-29T01:02:23.000000Z"


def test_lost_race_on_create_is_409(api: FakeKubeAPI, client: KubeClient) -> None:
    clock = Clock(T0)
    a = lock(client, "A", clock)
    b = lock(RaceClient(client, a.try_acquire_or_renew), "B", clock)
    assert b.try_acquire_or_renew() is False
    assert stored(api)["spec"]["holderIdentity"] == "A"


def test_a_skewed_clock_cannot_take_over_a_live_leader(
    api: FakeKubeAPI, client: KubeClient
) -> None:
    # A's clock runs an hour slow: its renewTime looks an hour stale to B. B judges by
    # what it sees change, so A, renewing every few seconds, keeps the Lease.
    slow = Clock(T0 - timedelta(hours=1))
    fast = Clock(T0)
    a, b = lock(client, "A", slow), lock(client, "B", fast)
    assert a.try_acquire_or_renew() is True
    for step in range(1, 6):
        fast.now = T0 + timedelta(seconds=10 * step)
        slow.now = T0 - timedelta(hours=1) + timedelta(seconds=10 * step)
        assert b.try_acquire_or_renew() is False
        assert a.try_acquire_or_renew() is True
    assert stored(api)["spec"]["holderIdentity"] == "A"


def test_release_lets_a_follower_take_over_at_once(api: FakeKubeAPI, client: KubeClient) -> None:
    clock = Clock(T0)
    a, b = lock(client, "A", clock), lock(client, "B", clock)
    assert a.try_acquire_or_renew() is True
    assert b.release() is False  # not B's to give up
    clock.now = T0 + timedelta(seconds=1)
    assert a.release() is True
    assert stored(api)["spec"]["holderIdentity"] == ""
    assert stored(api)["spec"]["leaseDurationSeconds"] == 1
    clock.now = T0 + timedelta(seconds=2)  # no need to wait out the 15 s
    assert b.try_acquire_or_renew() is True
    assert stored(api)["spec"]["holderIdentity"] == "B"
    assert stored(api)["spec"]["leaseTransitions"] == 1


def test_gate_keeps_leading_through_a_short_outage_only(api: FakeKubeAPI, tmp_path: Path) -> None:
    path = api.write_kubeconfig(tmp_path / "kubeconfig")
    connects: list[KubeClient] = []

    def connect() -> KubeClient:
        connects.append(KubeClient.connect(KubeTarget(name="home", kubeconfig=path), timeouts=FAST))
        return connects[-1]

    clock = Clock(T0)
    gate = KubeLeaseLeader(
        connect=connect, namespace="secbot", name="secbot-leader", holder="A", clock=clock
    )
    assert connects == []  # nothing is connected before the first round
    assert gate.acquire() is True
    assert gate.describe() == f"Kubernetes Lease secbot/secbot-leader on {api.url}"
    api.fail(PATH, 503)
    clock.now = T0 + timedelta(seconds=9)  # within 2/3 of 15 s of the last renewal
    assert gate.acquire() is True
    clock.now = T0 + timedelta(seconds=10)
    assert gate.acquire() is False  # step down before anyone may take over
    api.clear_failures()
    clock.now = T0 + timedelta(seconds=11)
    assert gate.acquire() is True  # still our Lease (not expired): renewed
    assert stored(api)["spec"]["renewTime"] == "2026-11-29T01:02:14.000000Z"
    gate.release()
    assert stored(api)["spec"]["holderIdentity"] == ""
    assert len(connects) == 1


def test_gate_without_a_reachable_api_is_not_leader(api: FakeKubeAPI, tmp_path: Path) -> None:
    path = api.write_kubeconfig(tmp_path / "kubeconfig")
    api.fail(PATH, 403)
    gate = KubeLeaseLeader(
        connect=lambda: KubeClient.connect(KubeTarget(name="home", kubeconfig=path), timeouts=FAST),
        namespace="secbot",
        name="secbot-leader",
        holder="A",
        clock=Clock(T0),
    )
    assert gate.acquire() is False
    gate.release()
    assert api.get(COORD, "Lease", "secbot-leader", "secbot") is None
