"""The live-cluster commands as a user runs them, against fake API servers.

Aspects: `clusters list` shows the clusters file; `clusters check` names a forbidden
permission and an unreachable cluster (exit 1); `scan --all` scans every cluster, one
down and one healthy, and stores both; `scan --cluster` with an unknown name is one line
and exit 2; a bad clusters file is one line and exit 2.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from tests.fakes.kube_api import FakeKubeAPI

AT = "2026-06-01T00:00:00Z"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
        raise SystemExit(0)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def _setting(name: str, value: str) -> dict[str, object]:
    return {
        "apiVersion": "harvesterhci.io/v1beta1",
        "kind": "Setting",
        "metadata": {"name": name},
        "value": value,
    }


def _objects() -> list[dict[str, object]]:
    return [
        _setting("server-version", "v1.4.2"),
        _setting("auto-rotate-rke2-certs", '{"enable":false,"expiringInHours":240}'),
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "n1"},
            "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.10"}]},
        },
    ]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeKubeAPI, Path]]:
    api = FakeKubeAPI(objects=_objects()).start()
    good = api.write_kubeconfig(tmp_path / "good.yaml", context="good")
    down = tmp_path / "down.yaml"
    down.write_text(
        good.read_text().replace(api.url, f"http://127.0.0.1:{_closed_port()}"),
        encoding="utf-8",
    )
    clusters = tmp_path / "clusters.yaml"
    clusters.write_text(
        "clusters:\n"
        f"  - name: good\n    kubeconfig: {good}\n    labels: {{env: prod}}\n"
        f"  - name: down\n    kubeconfig: {down}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SECBOT_CLUSTERS_FILE", str(clusters))
    monkeypatch.setenv("SECBOT_KUBE_CONNECT_TIMEOUT", "1")
    monkeypatch.setenv("SECBOT_KUBE_RETRIES", "0")
    monkeypatch.setenv("SECBOT_PROBE_ENABLED", "false")
    yield api, clusters
    api.close()


def test_clusters_list(fleet: tuple[FakeKubeAPI, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["clusters", "list"], capsys)
    assert code == 0
    lines = out.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["good", "down"]
    assert "labels=env=prod" in lines[0]


def test_clusters_check_names_forbidden_and_unreachable(
    fleet: tuple[FakeKubeAPI, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    api, _ = fleet
    api.deny(verb="list", resource="secrets")
    code, out, _ = run(["clusters", "check"], capsys)
    assert code == 1
    assert "good: ok" in out and "v1.4.2" in out
    assert "NO   list secrets" in out
    assert "yes  list nodes" in out
    assert "down: UNREACHABLE" in out


def test_scan_all_one_down_one_healthy(
    fleet: tuple[FakeKubeAPI, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "live.db"
    code, out, err = run(
        ["scan", "--all", "--format", "json", "--db", f"sqlite:///{db}", "--at", AT], capsys
    )
    assert code == 0, err
    report = json.loads(out)
    by_cluster = {c["cluster"]: c for c in report["clusters"]}
    assert set(by_cluster) == {"good", "down"}
    assert {f["check"] for f in by_cluster["down"]["findings"]} == {"source-unreachable"}
    good = {f["check"] for f in by_cluster["good"]["findings"]}
    assert "auto-rotate-disabled" in good
    assert all(c["scan_id"] for c in report["clusters"])


def test_unknown_cluster_and_bad_clusters_file(
    fleet: tuple[FakeKubeAPI, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["scan", "--cluster", "nope", "--no-store"], capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        "secbot: error: unknown cluster 'nope'; known clusters: down, good"
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_text("clusters:\n  - kubeconfig: /nowhere\n", encoding="utf-8")
    code, out, err = run(["clusters", "list", "--clusters-file", str(bad)], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and str(bad) in err
    assert "Traceback" not in out + err


def test_clusters_check_asks_a_rancher_for_the_cloud_credential_permissions(
    fleet: tuple[FakeKubeAPI, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    api, clusters = fleet
    good = tmp_path / "good.yaml"
    clusters.write_text(
        f"clusters:\n  - name: mgmt\n    kubeconfig: {good}\n    role: rancher\n"
        f"  - name: harv\n    kubeconfig: {good}\n",
        encoding="utf-8",
    )
    api.deny(verb="get", resource="tokens", group="management.cattle.io")
    code, out, _ = run(["clusters", "check"], capsys)
    assert code == 1
    mgmt, harv = out.split("harv:")
    assert "yes  list secrets in cattle-global-data" in mgmt
    assert "NO   get tokens.management.cattle.io" in mgmt
    assert "yes  list clusters.provisioning.cattle.io" in mgmt
    assert "cattle-global-data" not in harv and "tokens" not in harv
