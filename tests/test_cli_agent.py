"""`secbot agent` as an operator (or the DaemonSet) runs it.

Aspects: ``--print`` needs no cluster and prints certificates only; ``--once`` publishes
(created, then updated) through a kubeconfig; the namespace comes from --namespace,
POD_NAMESPACE or the pod's service-account file; bad options are one line and exit 2; a
failed publish is one line and exit 1; the real process publishes, keeps running, and
exits 0 on SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import cli_agent
from bot.cli import main
from tests.agent import Folder, rke2_folder
from tests.fakes.kube_api import FakeKubeAPI


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
        raise SystemExit(0)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


@pytest.fixture(autouse=True)
def _no_pod_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("NODE_NAME", "POD_NAMESPACE", "KUBERNETES_SERVICE_HOST", "KUBECONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cli_agent, "SA_NAMESPACE_FILE", tmp_path / "no-such-file")


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    return rke2_folder(tmp_path)


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as fake:
        yield fake
    assert fake.server_errors == []


def test_print_needs_no_cluster_and_shows_certificates_only(
    folder: Folder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NODE_NAME", "node-7")
    monkeypatch.setenv("SECBOT_AGENT_PKI_DIR", str(folder.root))
    code, out, err = run(["agent", "--print"], capsys)
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert (doc["schema"], doc["node"], doc["root"]) == (
        "secbot.pki-inventory/v1",
        "node-7",
        str(folder.root),
    )
    assert doc["intervalSeconds"] == 6 * 3600
    assert len(doc["certificates"]) == 8
    assert "PRIVATE KEY" not in out
    for fragment in folder.key_fragments():
        assert fragment not in out


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--print"], {}, "give --node NAME or set NODE_NAME"),
        (["--node", "n", "--interval", "soon"], {}, "--interval: 'soon' is not a duration"),
        (["--node", "n", "--interval", "0m"], {}, "--interval: '0m': the duration must be"),
        (["--node", "n"], {"SECBOT_AGENT_INTERVAL": "6x"}, "--interval: '6x' is not a duration"),
        (["--node", "n", "--interval", "8d"], {}, "--interval: '8d' is over 7d, the longest"),
        (["--node", "n", "--interval", "9999999w"], {}, "is over 7d, the longest the bot"),
        (["--node", "n"], {}, "no namespace to publish in: give --namespace or set POD_NAMESPACE"),
        (["--node", "n", "--namespace", "Bad_NS"], {}, "--namespace 'Bad_NS' is not a"),
        (["--node", "n"], {"POD_NAMESPACE": "x" * 70}, "--namespace 'xxxx"),
        (["--node", "n", "--namespace", "secbot"], {}, "in-cluster config: "),
        (
            ["--node", "n", "--namespace", "secbot", "--kubeconfig", "/no/such/kubeconfig"],
            {},
            "/no/such/kubeconfig",
        ),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    args: list[str],
    env: dict[str, str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, out, err = run(["agent", *args], capsys)
    assert (code, out) == (2, "")
    assert err.startswith("secbot: error: ") and err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err


def test_once_creates_then_updates_the_configmap(
    api: FakeKubeAPI, folder: Folder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kc = api.write_kubeconfig(tmp_path / "kc")
    args = ["agent", "--once", "--kubeconfig", str(kc), "--node", "node-1"]
    args += ["--namespace", "secbot", "--pki-dir", str(folder.root)]
    code, out, err = run(args, capsys)
    assert (code, err) == (0, "")
    assert out.startswith("created ConfigMap secbot/secbot-pki-node-1 (resourceVersion ")
    first = api.get("v1", "ConfigMap", "secbot-pki-node-1", "secbot")
    code, out, _ = run(args, capsys)
    assert code == 0 and out.startswith("updated ConfigMap secbot/secbot-pki-node-1")
    second = api.get("v1", "ConfigMap", "secbot-pki-node-1", "secbot")
    assert first is not None and second is not None
    assert first["metadata"]["resourceVersion"] != second["metadata"]["resourceVersion"]
    assert "PRIVATE KEY" not in json.dumps(second)


def test_namespace_from_the_service_account_file(
    api: FakeKubeAPI,
    folder: Folder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sa = tmp_path / "namespace"
    sa.write_text("harvester-secbot\n")
    monkeypatch.setattr(cli_agent, "SA_NAMESPACE_FILE", sa)
    monkeypatch.setenv("NODE_NAME", "node-2")
    kc = api.write_kubeconfig(tmp_path / "kc")
    code, _, err = run(
        ["agent", "--once", "--kubeconfig", str(kc), "--pki-dir", str(folder.root)], capsys
    )
    assert (code, err) == (0, "")
    assert api.get("v1", "ConfigMap", "secbot-pki-node-2", "harvester-secbot") is not None


def test_failed_publish_is_one_line_and_exit_1(
    api: FakeKubeAPI, folder: Folder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.deny(verb="create", resource="configmaps")
    kc = api.write_kubeconfig(tmp_path / "kc")
    code, out, err = run(
        ["agent", "--once", "--kubeconfig", str(kc), "--node", "n", "--namespace", "secbot"],
        capsys,
    )
    assert (code, out) == (1, "")
    assert err.startswith(
        "secbot: error: publishing ConfigMap secbot/secbot-pki-n failed: 403 Forbidden: "
    )
    assert err.count("\n") == 1


def test_the_daemon_publishes_and_exits_0_on_sigterm(
    api: FakeKubeAPI, folder: Folder, tmp_path: Path
) -> None:
    kc = api.write_kubeconfig(tmp_path / "kc")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECBOT_", "NODE_", "POD_"))}
    env |= {"NODE_NAME": "node-9", "POD_NAMESPACE": "secbot", "SECBOT_LOG_LEVEL": "INFO"}
    command = [sys.executable, "-m", "bot", "agent", "--kubeconfig", str(kc)]
    command += ["--pki-dir", str(folder.root), "--interval", "6h"]
    proc = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        # Waiting for another process to start is not timing the code under test.
        while api.get("v1", "ConfigMap", "secbot-pki-node-9", "secbot") is None:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the agent never published"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "created ConfigMap secbot/secbot-pki-node-9" in err
    assert "Traceback" not in err and "PRIVATE KEY" not in err + out
