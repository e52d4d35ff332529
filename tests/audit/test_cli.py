"""`secbot audit verify|export` as a user runs them: an intact log (exit 0, with and
without the key), a tampered one (exit 1, the record named), JSON lines with --since and
-o, and bad input (a short key, a bad date) as one line with exit 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.audit.log import AuditLog
from bot.store import db
from bot.store.models_audit import AuditEvent
from tests.store.conftest import BACKENDS, fresh_database
from tests.test_cli import run

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
KEY = "k3y-" + "0123456789abcdef" * 2  # 36 characters


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database holding five sealed records, one minute apart."""
    with fresh_database(request.param, tmp_path) as found:
        engine = db.make_engine(found)
        try:
            db.upgrade(engine)
            log = AuditLog(hmac_key=KEY.encode())
            with db.session_scope(engine) as s:
                for i in range(5):
                    log.record(
                        s,
                        actor="U1" if i % 2 else "system",
                        action="silence.add",
                        subject=f"F-{i}",
                        payload={"reason": f"Grund {i} für Änderung"},
                        at=T0 + timedelta(minutes=i),
                    )
        finally:
            engine.dispose()
        yield found


def _newest_hash(url: str) -> str:
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine) as s:
            return s.scalars(select(AuditEvent.hash).where(AuditEvent.seq == 5)).one()
    finally:
        engine.dispose()


def test_verify_an_intact_log(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SECBOT_AUDIT_HMAC_KEY", KEY)
    code, out, err = run(["audit", "verify", "--db", url], capsys)
    assert (code, err) == (0, "")
    assert out == f"audit log intact: 5 records\nnewest record #5, hash {_newest_hash(url)}\n"
    monkeypatch.delenv("SECBOT_AUDIT_HMAC_KEY")
    code, out, _ = run(["audit", "verify", "--db", url], capsys)
    assert code == 0
    assert out.splitlines()[0] == "audit log intact: 5 records"
    assert out.splitlines()[2] == "HMACs were not checked: SECBOT_AUDIT_HMAC_KEY is not set"


def test_verify_a_tampered_log_names_the_record_and_exits_1(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = db.make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(AuditEvent).where(AuditEvent.seq == 3).values(payload={"reason": "none"})
            )
    finally:
        engine.dispose()
    monkeypatch.setenv("SECBOT_DATABASE_URL", url)
    code, out, err = run(["audit", "verify"], capsys)
    assert (code, out, err) == (1, "audit log broken at record #3: hash mismatch\n", "")


def test_verify_with_the_wrong_key_fails_on_the_first_hmac(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SECBOT_AUDIT_HMAC_KEY", "x" * 32)
    code, out, _ = run(["audit", "verify", "--db", url], capsys)
    assert (code, out) == (1, "audit log broken at record #1: hmac mismatch\n")


def test_export_writes_json_lines_oldest_first(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["audit", "export", "--db", url], capsys)
    assert (code, err) == (0, "")
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert records[1]["payload"] == {"reason": "Grund 1 für Änderung"}  # UTF-8, not \\u
    assert "für" in out
    assert set(records[0]) == {
        "seq",
        "at",
        "actor",
        "action",
        "subject",
        "payload",
        "prev_hash",
        "hash",
        "hmac",
    }
    assert records[0]["at"] == "2026-11-29T09:00:00.000000Z"
    assert [r["prev_hash"] for r in records[1:]] == [r["hash"] for r in records[:-1]]

    target = tmp_path / "out" / "audit.jsonl"
    target.parent.mkdir()
    since = "2026-11-29T10:03:00+01:00"  # 09:03 UTC: records 4 and 5
    code, out, err = run(
        ["audit", "export", "--db", url, "--since", since, "-o", str(target)], capsys
    )
    assert (code, out) == (0, "")
    assert err == f"wrote 2 audit record(s) to {target}\n"
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == records[3:]
    code, out, _ = run(["audit", "export", "--db", url, "--since", "2026-11-29T09:04:00"], capsys)
    assert [json.loads(line)["seq"] for line in out.splitlines()] == [5]  # naive means UTC


def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    code, out, err = run(["audit", "export", "--db", url, "--since", "yesterday"], capsys)
    assert (code, out) == (2, "")
    assert err == (
        "secbot: error: --since 'yesterday' is not an ISO time like 2026-11-01 or "
        "2026-11-01T09:00:00Z\n"
    )
    code, _, err = run(["audit", "export", "--db", url, "-o", str(tmp_path / "no" / "x")], capsys)
    assert code == 2 and err.startswith(f"secbot: error: cannot write {tmp_path / 'no' / 'x'}: ")
    monkeypatch.setenv("SECBOT_AUDIT_HMAC_KEY", "tooshort1")
    code, _, err = run(["audit", "verify", "--db", url], capsys)
    assert code == 2
    assert err == (
        "secbot: error: SECBOT_AUDIT_HMAC_KEY: Value error, must be at least 32 characters "
        "(this one has 9); generate one with: openssl rand -hex 32; fix the variable or .env "
        "and retry\n"
    )
    assert "tooshort1" not in err


def test_an_empty_key_means_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SECBOT_AUDIT_HMAC_KEY", "  ")
    code, out, _ = run(["audit", "verify", "--db", f"sqlite:///{tmp_path / 'e.db'}"], capsys)
    assert (code, out) == (0, "audit log intact: 0 records\n")
