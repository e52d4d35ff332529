"""`secbot remediation plan|list|show` as a user runs them against a fake cluster: the
plan of a real finding with the server's dry run, requests listed and shown, and bad
input as one line with exit 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.audit.log import AuditLog
from bot.remediation import requests
from bot.store.db import make_engine, session_scope
from tests.fakes.kube_api import FakeKubeAPI
from tests.test_cli import run
from tests.test_cli_clusters import _objects


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI(objects=_objects()) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kc.yaml", context="good")
        clusters = tmp_path / "clusters.yaml"
        clusters.write_text(f"clusters:\n  - name: good\n    kubeconfig: {kubeconfig}\n")
        monkeypatch.setenv("SECBOT_CLUSTERS_FILE", str(clusters))
        monkeypatch.setenv("SECBOT_DATABASE_URL", f"sqlite:///{tmp_path / 's.db'}")
        monkeypatch.setenv("SECBOT_PROBE_ENABLED", "false")
        yield api


def _finding(capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = run(["scan", "--cluster", "good", "--format", "json"], capsys)
    assert code in (0, 1), err
    findings = json.loads(out)["clusters"][0]["findings"]
    return str(next(f["id"] for f in findings if f["check"] == "auto-rotate-disabled"))


def test_plan_list_show(cluster: FakeKubeAPI, capsys: pytest.CaptureFixture[str]) -> None:
    fid = _finding(capsys)
    code, out, err = run(["remediation", "plan", fid], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("enable-auto-rotate: ")
    assert "(low risk, 1 approval)" in lines[0]
    assert lines[1] == f"finding {fid} (auto-rotate-disabled) on good"
    assert any(line.startswith("- ") for line in lines) and any(
        line.startswith("+ ") and '"enable":true' in line.replace(" ", "") for line in lines
    )
    assert "server dry run: accepted" in lines
    assert not [r for r in cluster.requests if r.method == "PATCH" and "dryRun" not in r.query]
    code, out, _ = run(["remediation", "list"], capsys)
    assert (code, out.strip()) == (0, "no remediation requests")


def test_requests_are_listed_and_shown(
    cluster: FakeKubeAPI, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fid = _finding(capsys)
    from bot.kube.client import KubeClient, KubeTarget, Timeouts
    from bot.remediation.service import plan_fix

    engine = make_engine(f"sqlite:///{tmp_path / 's.db'}")
    target = KubeTarget(name="good", kubeconfig=tmp_path / "kc.yaml")
    now = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    plan = plan_fix(
        engine=engine,
        finding_id=int(fid.removeprefix("F-")),
        action_id=None,
        targets=[target],
        now=now,
        connect=lambda t: KubeClient.connect(t, timeouts=Timeouts(2, 5, 0)),
    )
    with session_scope(engine) as s:
        rid = requests.request(session=s, plan=plan, requester="U1", now=now, audit=AuditLog()).id
    engine.dispose()
    code, out, _ = run(["remediation", "list", "--pending"], capsys)
    assert code == 0
    assert out.startswith(f"R-{rid} pending: enable-auto-rotate for {fid}, asked by U1 ")
    code, out, _ = run(["remediation", "show", f"R-{rid}"], capsys)
    assert code == 0
    assert out.splitlines()[1] == "approvals 0/1: none"
    assert f"plan hash: {plan.plan_hash()}" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["remediation", "plan", "F-x"],
            "secbot: error: 'F-x' is not a finding id; they look like F-123",
        ),
        (["remediation", "plan", "F-999"], "secbot: error: F-999 does not exist"),
        (
            ["remediation", "show", "R-x"],
            "secbot: error: 'R-x' is not a request id; they look like R-7",
        ),
        (["remediation", "show", "R-9"], "secbot: error: R-9 does not exist"),
        (["remediation", "plan", "F-1", "--action", "rotate-rke2-token"], "secbot: error: "),
    ],
)
def test_bad_input_is_one_line_exit_2(
    cluster: FakeKubeAPI, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    _finding(capsys)
    code, _out, err = run(args, capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith(message)


def test_plan_offline_from_manifests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SECBOT_DATABASE_URL", f"sqlite:///{tmp_path / 's.db'}")
    manifests = tmp_path / "settings.yaml"
    manifests.write_text(
        json.dumps({"apiVersion": "v1", "kind": "List", "items": _objects()}), encoding="utf-8"
    )
    code, out, err = run(
        ["scan", "--manifests", str(manifests), "--cluster-name", "prod", "--format", "json"],
        capsys,
    )
    assert code in (0, 1), err
    findings = json.loads(out)["clusters"][0]["findings"]
    fid = next(f["id"] for f in findings if f["check"] == "auto-rotate-disabled")
    code, out, err = run(["remediation", "plan", fid, "--manifests", str(manifests)], capsys)
    assert code == 0, err
    assert out.splitlines()[0].startswith("enable-auto-rotate: ")
    assert "server dry run: not run: planned offline from files (no API server)" in out
    code, _out, err = run(
        ["remediation", "plan", fid, "--manifests", str(tmp_path / "missing.yaml")], capsys
    )
    assert code == 2 and err.startswith("secbot: error: cannot read ")
