"""`secbot scheduler list|run` and `secbot digest` as a user runs them, on the sample
bundle scanned into SQLite: the job table with next runs in the configured zone, one job
run by hand through the console sink, the digest as text and JSON, and bad input as one
line with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.store.conftest import fresh_database
from tests.test_cli import SAMPLE, run


@pytest.fixture
def scanned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> int:
    """A store holding one scan of the sample bundle (now: the digest covers the last
    day), with its alerts planned; returns how many alerts (critical + warning)."""
    db = f"sqlite:///{tmp_path / 's.db'}"
    monkeypatch.setenv("SECBOT_DATABASE_URL", db)
    monkeypatch.setenv("SECBOT_ALERT_CHANNEL", "#harvester-alerts")
    monkeypatch.setenv("SECBOT_TIMEZONE", "Europe/Berlin")
    code, out, err = run(["scan", "--bundle", str(SAMPLE[0]), "--format", "json"], capsys)
    assert code == 0, err
    (cluster,) = json.loads(out)["clusters"]
    alerts = [f for f in cluster["findings"] if f["severity"] in ("critical", "warning")]
    assert len(alerts) >= 5
    return len(alerts)


def test_scheduler_list_shows_jobs_next_runs_and_the_outbox(
    scanned: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["scheduler", "list"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["digest", "outbox", "expiry"]
    assert "09:00 CE" in lines[0] and "Europe/Berlin" in lines[0]  # CET or CEST
    assert "last never" in lines[0]
    assert lines[3] == f"outbox: {scanned} pending, 0 sent, 0 dead letter(s)"


def test_scheduler_run_outbox_prints_through_the_console_and_marks_sent(
    scanned: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["scheduler", "run", "outbox"], capsys)
    assert code == 0, err
    assert "Slack is not configured" in out
    assert out.count("[console] would post to #harvester-alerts: ") == scanned
    assert "outbox: ran" in err
    _, out, _ = run(["scheduler", "list"], capsys)
    assert f"outbox: 0 pending, {scanned} sent, 0 dead letter(s)" in out


def test_scheduler_run_unknown_job_is_one_line_exit_2(
    scanned: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(["scheduler", "run", "nightly"], capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        "secbot: error: unknown job 'nightly'; the jobs are: digest, expiry, outbox"
    ]


def test_digest_print_text_and_json_post_nothing(
    scanned: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["digest", "--print"], capsys)
    assert code == 0, err
    assert out.splitlines()[0] == "== digest for #harvester-alerts =="
    assert "*What changed since" in out
    assert "*Certificates expiring within 30 days*" in out
    code, out, err = run(["digest", "--format", "json"], capsys)
    assert code == 0, err
    (digest,) = json.loads(out)["digests"]
    assert digest["channel"] == "#harvester-alerts"
    assert len(digest["clusters"]) == 1
    assert {c["event"] for c in digest["changes"]} == {"new"}
    _, out, _ = run(["scheduler", "list"], capsys)
    assert f"outbox: {scanned} pending" in out  # the digest was not planned


def test_digest_print_carries_the_configured_expiry_thresholds(
    scanned: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SECBOT_EXPIRY_WARNING_DAYS", "21")
    code, out, err = run(["digest", "--format", "json"], capsys)
    assert code == 0, err
    (digest,) = json.loads(out)["digests"]
    assert (digest["critical_days"], digest["warning_days"], digest["info_days"]) == (14, 21, 90)
    monkeypatch.setenv("SECBOT_EXPIRY_WARNING_DAYS", "7")  # under the critical days
    code, _out, err = run(["digest", "--print"], capsys)
    assert code == 2
    assert err.strip() == (
        "secbot: error: expiry thresholds must satisfy 0 < critical <= warning <= info days, "
        "got 14/7/90; fix SECBOT_EXPIRY_*_DAYS"
    )


def test_digest_for_an_unknown_channel_is_one_line_exit_2(
    scanned: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(["digest", "--channel", "#nope"], capsys)
    assert code == 2
    assert err.strip() == "secbot: error: no digest goes to '#nope'; channels: #harvester-alerts"


def test_bad_scheduler_settings_are_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SECBOT_DATABASE_URL", f"sqlite:///{tmp_path / 's.db'}")
    monkeypatch.setenv("SECBOT_DIGEST_AT", "9am")
    code, _out, err = run(["scheduler", "list"], capsys)
    assert code == 2
    assert err.strip() == (
        "secbot: error: SECBOT_DIGEST_AT: Value error, '9am' is not a time of day like 09:00 "
        "(24-hour HH:MM); fix the variable or .env and retry"
    )


@pytest.mark.postgres
def test_without_slack_on_postgresql_nothing_is_printed_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The console would mark messages sent in a shared database: only on purpose.
    with fresh_database("postgres", tmp_path) as url:
        monkeypatch.setenv("SECBOT_DATABASE_URL", url)
        code, _out, err = run(["scheduler", "run", "outbox"], capsys)
        assert code == 2
        assert err.strip().startswith(
            "secbot: error: SLACK_BOT_TOKEN is not set, and printing messages instead of "
            "posting them would mark them sent in the shared postgresql database"
        )
        monkeypatch.setenv("SECBOT_CONSOLE", "true")
        code, out, err = run(["scheduler", "run", "outbox"], capsys)
        assert code == 0, err
        assert "Slack is not configured" in out
