"""Settings: .env.example documents every variable and loads as it stands; scheduler
settings are validated into one clear line; a .env (or working directory) that cannot be
read is skipped, never fatal: the node agent runs where it cannot even look at .env."""

from __future__ import annotations

import ctypes
import errno
import inspect
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, load_settings
from bot.errors import UserError
from tests.agent import CA
from tests.sources import pem

REPO = Path(__file__).resolve().parent.parent


def _names(field: str) -> set[str]:
    info = Settings.model_fields[field]
    alias = info.validation_alias
    choices = getattr(alias, "choices", None)
    if choices:
        return {str(c) for c in choices}
    return {f"SECBOT_{field.upper()}"}


def test_env_example_lists_every_setting() -> None:
    text = (REPO / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    missing = [f for f in Settings.model_fields if not (_names(f) & listed)]
    assert missing == []


def test_env_example_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # the .env reader looks in the working directory
    settings = Settings(_env_file=REPO / ".env.example")  # type: ignore[call-arg]
    assert settings.alert_channel is None  # empty means unset
    assert settings.scan_interval_delta == timedelta(hours=6)
    assert settings.digest_time == (9, 0)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SECBOT_SCAN_INTERVAL", "6 hours", "is not a duration like 90s, 15m, 6h, 7d or 2w"),
        ("SECBOT_DIGEST_AT", "25:00", "is not a time of day like 09:00"),
        ("SECBOT_ALERT_CHANNEL", "alerts", "must be '#channel-name' or a channel id"),
        ("SECBOT_LEADER", "zookeeper", "String should match pattern"),
        ("SECBOT_LEADER_LEASE", "no-slash", "must be namespace/name of a Lease"),
    ],
)
def test_bad_scheduler_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(UserError) as e:
        load_settings()
    assert str(e.value).startswith(f"{variable}: ")
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_digest_at_is_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECBOT_DIGEST_AT", "7:05")
    assert load_settings().digest_at == "07:05"


# -- an unreadable .env ------------------------------------------------------------------------
# The agent's pod: WORKDIR /var/lib/secbot is 0750 and owned by uid 10001, the agent runs as
# uid 0 with every capability dropped, so it cannot even stat ./.env. Reproduced for real:
# the child process drops its capability bounding set before exec (prctl PR_CAPBSET_DROP),
# so the exec'd interpreter runs as uid 0 with no capability, in such a folder. (Making .env
# a directory or a FIFO would not do: pydantic-settings skips the first and reads the
# second; root ignores file modes.) Not root: the folder's mode alone suffices.
PR_CAPBSET_DROP = 24
CAP_SETPCAP = 8


def _can_drop_capabilities() -> bool:
    status = Path("/proc/self/status").read_text()
    effective = int(re.search(r"^CapEff:\s*([0-9a-f]+)$", status, re.MULTILINE)[1], 16)  # type: ignore[index]
    return bool(effective >> CAP_SETPCAP & 1)


def _drop_capabilities() -> Callable[[], None]:
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork

    def drop() -> None:  # in the child, between fork and exec
        for cap in range(64):
            if prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != errno.EINVAL:
                raise OSError(ctypes.get_errno(), "PR_CAPBSET_DROP")

    return drop


def _pod_workdir(tmp_path: Path) -> tuple[Path, Callable[[], None] | None]:
    """A working directory the process about to be started cannot search, and what the
    child must run before exec for that (None: nothing)."""
    workdir = tmp_path / "var-lib-secbot"
    workdir.mkdir()
    (workdir / ".env").write_text("SECBOT_LOG_LEVEL=ERROR\n")
    if os.geteuid() != 0:
        workdir.chmod(0o000)
        return workdir, None
    if not _can_drop_capabilities():
        pytest.skip("root without CAP_SETPCAP: cannot run a child without capabilities")
    os.chown(workdir, 10001, 10001)
    workdir.chmod(0o750)
    return workdir, _drop_capabilities()


def _run_in(workdir: Path, before_exec: Callable[[], None] | None, *args: str) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECBOT_", "SLACK_"))}
    env["SECBOT_LOG_LEVEL"] = "DEBUG"
    return subprocess.run(
        [sys.executable, *args],
        cwd=workdir,
        env=env,
        preexec_fn=before_exec,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_agent_runs_where_it_cannot_read_dot_env(tmp_path: Path) -> None:
    workdir, before_exec = _pod_workdir(tmp_path)
    pki = tmp_path / "tls"
    pki.mkdir()
    (pki / "server-ca.crt").write_text(pem(CA))
    try:
        # The setting is faithful: in there, the child really cannot look at .env.
        probe = _run_in(workdir, before_exec, "-c", "import os; os.stat('.env')")
        assert "PermissionError" in probe.stderr, probe.stderr
        done = _run_in(
            workdir, before_exec, "-m", "bot", "agent", "--print", "--node", "node-1",
            "--pki-dir", str(pki),
        )  # fmt: skip
    finally:
        workdir.chmod(0o700)  # let pytest remove it
    assert done.returncode == 0, done.stderr
    assert "internal error" not in done.stderr
    assert json.loads(done.stdout)["certificates"][0]["file"] == "server-ca.crt"
    # The environment's DEBUG level applies (the .env's ERROR was never read), and the
    # skip is said once, at DEBUG.
    assert (
        "DEBUG bot.config: settings: cannot read the env file '.env' (Permission denied); "
        "using the environment only"
    ) in done.stderr


def test_an_env_file_that_fails_to_read_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    # /proc/self/mem is a regular file whose first page cannot be read (EIO): like a .env
    # on a failing disk. The environment still counts; nothing raises.
    monkeypatch.setenv("SECBOT_DIGEST_AT", "7:05")
    settings = load_settings(_env_file="/proc/self/mem")
    assert settings.digest_at == "07:05"
    assert settings.env_file_skipped == (
        "cannot read the env file '/proc/self/mem' (Input/output error); using the environment only"
    )
    # A readable .env is read, and nothing is said about it.
    Path(".env").write_text("SECBOT_DIGEST_AT=8:15\n")  # the test's own empty cwd
    monkeypatch.delenv("SECBOT_DIGEST_AT")
    read = load_settings()
    assert (read.digest_at, read.env_file_skipped) == ("08:15", None)


def test_a_dot_env_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    Path(".env").write_bytes(b"SECBOT_DIGEST_AT=\xff\xfe\n")
    with pytest.raises(UserError) as e:
        load_settings()
    assert str(e.value) == (
        "the .env file is not UTF-8 text; fix or remove it (or set the variables in the "
        "environment) and retry"
    )


def test_the_agent_namespace_defaults_to_its_own_namespace() -> None:
    from bot.clusters import check_cluster
    from bot.sources.live_agent import DEFAULT_AGENT_NAMESPACE

    assert load_settings().agent_namespace == DEFAULT_AGENT_NAMESPACE == "secbot-agent"
    default = inspect.signature(check_cluster).parameters["agent_namespace"].default
    assert default == "secbot-agent"
    text = (REPO / ".env.example").read_text()
    assert "# SECBOT_AGENT_NAMESPACE=secbot-agent\n" in text
