"""bot.agent.loop: rounds against the fake kube-apiserver with a scripted clock and wait.

A round that fails is logged as one line without secrets and retried after 1, 2, 4...
minutes (never later than the interval); a success goes back to the interval; nothing a
round raises ends the loop; only ``wait`` returning True does. Nothing here sleeps.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from bot.agent.loop import AgentConfig, one_round, run_loop
from bot.agent.publish import DocumentTooLarge, Published
from bot.kube.client import KubeClient, KubeTarget, Timeouts
from tests.agent import rke2_folder
from tests.fakes.kube_api import FakeKubeAPI
from tests.sources import NOW

FAST = Timeouts(connect=2, read=5, retries=0)
CM = "/api/v1/namespaces/secbot/configmaps"
TOKEN = "sha256~Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg"  # what must never be logged


class Script:
    """The loop's ``wait``: records each delay, advances the clock, runs the next step;
    True (stop) once the steps are used up."""

    def __init__(self, steps: list[Callable[[], None]]) -> None:
        self.steps = steps
        self.delays: list[float] = []
        self.now = NOW

    def clock(self) -> datetime:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.delays.append(seconds)
        self.now += timedelta(seconds=seconds)
        if not self.steps:
            return True
        self.steps.pop(0)()
        return False


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as fake:
        yield fake
    assert fake.server_errors == []


def setup(
    api: FakeKubeAPI, tmp_path: Path, interval: timedelta
) -> tuple[AgentConfig, Callable[[], KubeClient]]:
    folder = rke2_folder(tmp_path)
    target = KubeTarget(name="agent", kubeconfig=api.write_kubeconfig(tmp_path / "kc"))
    config = AgentConfig(root=folder.root, node="node-1", namespace="secbot", interval=interval)
    return config, partial(KubeClient.connect, target, timeouts=FAST)


def updated_at(api: FakeKubeAPI) -> str:
    obj = api.get("v1", "ConfigMap", "secbot-pki-node-1", "secbot")
    assert obj is not None
    return str(json.loads(obj["data"]["inventory.json"])["updatedAt"])


def test_failures_back_off_and_success_returns_to_the_interval(
    api: FakeKubeAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config, connect = setup(api, tmp_path, timedelta(hours=1))
    seen: list[str] = []
    script = Script(
        [
            lambda: api.fail(CM, 503, message=f"etcd down, Authorization: Bearer {TOKEN}"),
            lambda: None,  # still failing
            lambda: None,
            api.clear_failures,
            lambda: seen.append(updated_at(api)),
        ]
    )
    caplog.set_level(logging.INFO, logger="bot.agent.loop")
    run_loop(
        lambda: one_round(config, connect=connect, clock=script.clock),
        config=config,
        wait=script.wait,
    )
    assert script.delays == [3600, 60, 120, 240, 3600, 3600]
    assert seen == ["2026-06-01T01:07:00Z"]  # the round after the outage
    assert updated_at(api) == "2026-06-01T02:07:00Z"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert warnings[0].startswith(
        "publishing ConfigMap secbot/secbot-pki-node-1 failed: 503 ServiceUnavailable: etcd down"
    )
    assert warnings[0].endswith("; next try in 60s")
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos[0].startswith("created ConfigMap secbot/secbot-pki-node-1")
    assert infos[1].startswith("updated ConfigMap secbot/secbot-pki-node-1")
    for line in caplog.messages:
        assert "\n" not in line and TOKEN not in line and "PRIVATE KEY" not in line


def test_backoff_never_exceeds_the_interval(api: FakeKubeAPI, tmp_path: Path) -> None:
    config, connect = setup(api, tmp_path, timedelta(minutes=2))
    api.deny(verb="create", resource="configmaps")
    script = Script([lambda: None] * 3)
    run_loop(
        lambda: one_round(config, connect=connect, clock=script.clock),
        config=config,
        wait=script.wait,
    )
    assert script.delays == [60, 120, 120, 120]
    assert len(api.requests_to(CM, "POST")) == 4


def test_nothing_a_round_raises_ends_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    config = AgentConfig(Path("/nowhere"), "node-1", "secbot", timedelta(hours=6))
    errors: list[Exception] = [
        ValueError(f"boom with Bearer {TOKEN}"),
        DocumentTooLarge("the inventory is 1000 KiB"),
    ]

    def round_() -> Published:
        raise errors.pop(0)

    script = Script([lambda: None])
    run_loop(round_, config=config, wait=script.wait)
    assert script.delays == [60, 6 * 3600]  # too large: retrying soon would not help
    assert [r.getMessage() for r in caplog.records] == [
        "publishing ConfigMap secbot/secbot-pki-node-1 failed: ValueError: boom with Bearer "
        "<redacted>; next try in 60s",
        "publishing ConfigMap secbot/secbot-pki-node-1 failed: the inventory is 1000 KiB; "
        "next try in 21600s",
    ]


def test_an_unreadable_folder_is_still_published(api: FakeKubeAPI, tmp_path: Path) -> None:
    config, connect = setup(api, tmp_path, timedelta(hours=6))
    gone = AgentConfig(tmp_path / "missing", "node-1", "secbot", config.interval)
    published = one_round(gone, connect=connect, clock=lambda: NOW)
    assert (published.certificates, published.problems) == (0, 1)
    obj = api.get("v1", "ConfigMap", "secbot-pki-node-1", "secbot")
    assert obj is not None
    assert json.loads(obj["data"]["inventory.json"])["problems"] == [
        {"file": ".", "reason": "no such folder"}
    ]
