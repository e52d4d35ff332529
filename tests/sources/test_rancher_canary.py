"""Rancher cloud credential secrets never leave the adapter: ``secbot scan --cluster`` of a
Rancher management cluster (role rancher) served by the fake API server.

Canaries: the secret part of the token inside the credential's kubeconfig (and that
kubeconfig's base64 as a whole), an AWS secret key kept in the same Secret, and the
``token`` field of the tokens.management.cattle.io object. None of them appears in the
table or JSON output, stderr, the log at DEBUG, the alerts and digest that would be
posted, or anywhere in the SQLite database. The Rancher subjects are READ, so the
canaries were in fact read (whatever the checks make of them).
"""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from tests.fakes.kube_api import FakeKubeAPI
from tests.sources.test_live_rancher import (
    SECRET_PART,
    TOKEN_FIELD,
    credential_secret,
    guest_cluster,
    rancher_objects,
    token,
)

AT = "2026-06-01T00:00:00+00:00"
AWS_CANARY = "CanaryAwsKey-5b6c7d8e9f"
TOKEN_NAME = "kubeconfig-user-x1y2z"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _planted() -> tuple[list[dict[str, object]], list[str]]:
    """The Rancher objects with the canary credential; returns (objects, canaries)."""
    planted = credential_secret(
        "cc-x1y2z",
        TOKEN_NAME,
        display="harvester-canary",
        **{"amazonec2credentialConfig-secretKey": b64(AWS_CANARY)},
    )
    kubeconfig_b64 = str(planted["data"]["harvestercredentialConfig-kubeconfigContent"])  # type: ignore[index]
    objects = [
        *rancher_objects(),
        planted,
        token(TOKEN_NAME, days=5),  # carries TOKEN_FIELD in its ``token`` field
        guest_cluster("guest-canary", "cc-x1y2z"),
    ]
    canaries = [
        SECRET_PART,
        f"{TOKEN_NAME}:{SECRET_PART}",
        AWS_CANARY,
        b64(AWS_CANARY),
        TOKEN_FIELD,
        kubeconfig_b64,
        kubeconfig_b64[40:80],  # a slice: a cut-off copy counts too
    ]
    return objects, canaries


@pytest.fixture
def rancher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FakeKubeAPI, list[str]]]:
    objects, canaries = _planted()
    api = FakeKubeAPI(objects=objects).start()
    kubeconfig = api.write_kubeconfig(tmp_path / "rancher.yaml", context="rancher")
    clusters = tmp_path / "clusters.yaml"
    clusters.write_text(
        f"clusters:\n  - name: rancher\n    kubeconfig: {kubeconfig}\n    role: rancher\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SECBOT_CLUSTERS_FILE", str(clusters))
    monkeypatch.setenv("SECBOT_KUBE_CONNECT_TIMEOUT", "2")
    monkeypatch.setenv("SECBOT_KUBE_RETRIES", "0")
    monkeypatch.setenv("SECBOT_PROBE_ENABLED", "false")
    monkeypatch.setenv("SECBOT_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("SECBOT_ALERT_CHANNEL", "#alerts")  # alerts and digests planned too
    monkeypatch.setenv("SECBOT_CONSOLE", "true")
    yield api, canaries
    api.close()


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
        raise SystemExit(0)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out + out.err


def _dump_sqlite(path: Path) -> str:
    conn = sqlite3.connect(str(path))
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return "\n".join(repr(row) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"'))
    finally:
        conn.close()


def test_no_rancher_secret_reaches_output_logs_or_store(
    rancher: tuple[FakeKubeAPI, list[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    api, canaries = rancher
    caplog.set_level(logging.DEBUG)
    db = tmp_path / "canary.db"
    texts = []
    for fmt in ("table", "json"):
        out_file = tmp_path / f"report.{fmt}"
        code, printed = _run(
            [
                "scan",
                "--cluster",
                "rancher",
                "--format",
                fmt,
                "--db",
                f"sqlite:///{db}",
                "--at",
                AT,
                "-o",
                str(out_file),
            ],
            capsys,
        )
        assert code in (0, 1), printed  # 1: findings at or above the fail level
        texts += [printed, out_file.read_text()]
    report = json.loads((tmp_path / "report.json").read_text())
    coverage = {c["subject"]: c["status"] for c in report["clusters"][0]["coverage"]}
    # The canaries sat where the Rancher reads look, and were read.
    assert {s: coverage.get(s) for s in ("cloud-credentials", "rancher-tokens")} == {
        "cloud-credentials": "read",
        "rancher-tokens": "read",
    }
    assert api.requests_to(f"/apis/management.cattle.io/v3/tokens/{TOKEN_NAME}") != []
    for args in (["scheduler", "run", "outbox"], ["digest"], ["digest", "--format", "json"]):
        code, printed = _run([*args, "--db", f"sqlite:///{db}"], capsys)
        assert code == 0, printed
        texts.append(printed)
    texts.append(caplog.text)
    texts.append(_dump_sqlite(db))
    everything = "\n".join(texts)
    assert [c for c in canaries if c in everything] == []
