"""`secbot checks list` / `secbot checks explain` as a user runs them.

Aspects: the list (text and JSON) is the registry, in its order; explain prints the
check's bad and good examples and sources; an unknown id is one line on stderr, exit 2.
"""

from __future__ import annotations

import json

import pytest

from bot.checks.registry import builtin_checks
from tests.test_cli import run


def test_checks_list_and_explain(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["checks", "list"], capsys)
    assert code == 0
    ids = [line.split()[0] for line in out.strip().splitlines()]
    assert ids == [c.id for c in builtin_checks()]
    code, out, _ = run(["checks", "explain", "http-proxy-noproxy-missing-nodes"], capsys)
    assert code == 0
    assert "Bad:" in out and "Good:" in out and "Source:" in out


def test_checks_list_json_is_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["checks", "list", "--format", "json"], capsys)
    assert (code, err) == (0, "")
    assert [(c["id"], c["severity"], c["remediation"]) for c in json.loads(out)] == [
        (c.id, c.severity.value, c.remediation) for c in builtin_checks()
    ]


def test_unknown_check_id_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["checks", "explain", "no-such-check"], capsys) == (
        2,
        "",
        "secbot: error: unknown check id 'no-such-check'; `secbot checks list` shows the ids\n",
    )
