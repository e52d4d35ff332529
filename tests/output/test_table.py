"""bot.output.table: strings from scanned material never reach the terminal as control
sequences (a CN holding ESC sequences could erase the expired row above it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.output.table import printable
from tests.sources import at, ec_key, make_cert, pem

EVIL = "ok" + "\x1b[1A\x1b[2K" * 5 + "\x1b]52;c;cHduZWQ=\x07" + "\u202e" + "\x9b"


def test_printable_escapes_controls_and_keeps_layout() -> None:
    assert printable({"a": [EVIL, "tab\tand\nline", 3]}) == {
        "a": [
            "ok" + "\\x1b[1A\\x1b[2K" * 5 + "\\x1b]52;c;cHduZWQ=\\x07" + "\\u202e" + "\\x9b",
            "tab\tand\nline",
            3,
        ]
    }


def test_a_hostile_common_name_is_shown_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    cert = make_cert(EVIL, key=ec_key("evil"), not_after=at(-1))
    (tmp_path / "evil.crt").write_text(pem(cert))
    try:
        main(["scan", "--no-store", "--pki", str(tmp_path), "--at", "2026-06-01T00:00:00Z"])
    except SystemExit as e:  # the exit code says findings; the output is what matters here
        assert e.code in (0, 1)
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "cert-expired" in out and "\\x1b[1A" in out
