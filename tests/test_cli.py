"""The `secbot` command line as a user runs it.

Aspects: the README's main job (scan the sample bundle into SQLite) and what a second
scan of the same input reports; JSON and SARIF shapes; --fail-on exit codes; bad input
and usage give one line on stderr, exit 2, no traceback and nothing in the store; the
real console script in a subprocess. `checks list` / `checks explain`: test_cli_checks.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bot.cli import main

REPO = Path(__file__).resolve().parent.parent
SAMPLE = sorted((REPO / "examples").glob("supportbundle_*.zip"))
AT = "2026-06-01T00:00:00Z"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
        raise SystemExit(0)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


@pytest.fixture
def sample() -> Path:
    assert SAMPLE, "examples/ must ship a sample support bundle"
    return SAMPLE[0]


def _rows(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_scan_sample_bundle_then_again_is_unchanged(
    sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.db"
    code, out, err = run(
        [
            "scan",
            "--bundle",
            str(sample),
            "--db",
            f"sqlite:///{db}",
            "--format",
            "json",
            "--at",
            AT,
        ],
        capsys,
    )
    assert code == 0, err
    first = json.loads(out)
    assert first["schema"] == "secbot.scan/v1"
    (cluster,) = first["clusters"]
    checks = {f["check"] for f in cluster["findings"]}
    assert {
        "http-proxy-noproxy-missing-nodes",
        "http-proxy-credentials",
        "rke2-token-mismatch",
        "auto-rotate-disabled",
        "ssl-weak-protocols",
        "cert-expired",
    } <= checks
    assert {f["status"] for f in cluster["findings"]} == {"new"}
    assert all(f["id"].startswith("F-") for f in cluster["findings"])
    excluded = {c["subject"] for c in cluster["coverage"] if c["status"] == "excluded"}
    assert "setting:ssl-certificates" in excluded

    code, out, err = run(
        [
            "scan",
            "--bundle",
            str(sample),
            "--db",
            f"sqlite:///{db}",
            "--format",
            "json",
            "--at",
            AT,
        ],
        capsys,
    )
    second = json.loads(out)["clusters"][0]
    assert {f["status"] for f in second["findings"]} == {"unchanged"}
    assert [f["id"] for f in second["findings"]] == [f["id"] for f in cluster["findings"]]
    assert [f["fingerprint"] for f in second["findings"]] == [
        f["fingerprint"] for f in cluster["findings"]
    ]
    assert _rows(db, "scans") == 2
    assert _rows(db, "findings") == len(cluster["findings"])


def test_table_output_groups_by_cluster(
    sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["scan", "--bundle", str(sample), "--no-store", "--at", AT], capsys)
    assert code == 0
    assert "harvester-" in out
    assert "CRITICAL" in out and "http-proxy-noproxy-missing-nodes" in out
    assert "Coverage gaps:" in out and "setting:ssl-certificates" in out
    assert out.index("CRITICAL") < out.index("WARNING")


def test_sarif_has_rules_and_results(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        ["scan", "--bundle", str(sample), "--no-store", "--format", "sarif", "--at", AT], capsys
    )
    assert code == 0
    sarif = json.loads(out)
    assert sarif["version"] == "2.1.0"
    (sarif_run,) = sarif["runs"]
    rule_ids = {r["id"] for r in sarif_run["tool"]["driver"]["rules"]}
    results = sarif_run["results"]
    assert results and {r["ruleId"] for r in results} <= rule_ids
    levels = {r["ruleId"]: r["level"] for r in results}
    assert levels["http-proxy-noproxy-missing-nodes"] == "error"
    assert all("secbot/v1" in r["partialFingerprints"] for r in results)


@pytest.mark.parametrize(("fail_on", "code"), [("none", 0), ("warning", 1), ("critical", 1)])
def test_fail_on_sets_exit_code(
    sample: Path, fail_on: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    got, _, _ = run(
        [
            "scan",
            "--bundle",
            str(sample),
            "--no-store",
            "--format",
            "json",
            "--fail-on",
            fail_on,
            "--at",
            AT,
        ],
        capsys,
    )
    assert got == code


def _bad_zip(tmp_path: Path) -> Path:
    p = tmp_path / "corrupt.zip"
    p.write_bytes(b"PK\x03\x04 this is not really a zip")
    return p


def _escaping_zip(tmp_path: Path) -> Path:
    p = tmp_path / "evil.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("bundle/yamls/cluster/v1/nodes.yaml", "kind: List\nitems: []\n")
        zf.writestr("../../etc/evil", "x")
    return p


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda t: t / "missing.zip", "missing.zip"),
        (_bad_zip, "corrupt.zip"),
        (_escaping_zip, "../../etc/evil"),
    ],
    ids=["missing", "corrupt", "escaping-entry"],
)
def test_bad_bundle_is_one_line_exit_2_and_nothing_stored(
    make, needle: str, sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "bad.db"
    bad = make(tmp_path)
    # The good bundle comes first: it must not be stored either when a later input is bad.
    code, out, err = run(
        [
            "scan",
            "--bundle",
            str(sample),
            "--bundle",
            str(bad),
            "--db",
            f"sqlite:///{db}",
            "--at",
            AT,
        ],
        capsys,
    )
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("secbot: error: ")
    assert needle in lines[0]
    assert "Traceback" not in err + out
    assert not db.exists() or _rows(db, "scans") == 0


@pytest.mark.parametrize(
    "args",
    [
        ["scan"],
        ["scan", "--bundle", "x.zip", "--check", "no-such-check"],
        ["scan", "--format", "xml"],
        ["nonsense"],
    ],
)
def test_usage_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([*args, "--no-store"] if args[0] == "scan" else args, capsys)
    assert code == 2
    assert "Traceback" not in out + err
    assert err.strip()


def test_console_script_runs(sample: Path, tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("secbot")
    proc = subprocess.run(
        [str(exe), "scan", "--bundle", str(sample), "--db", f"sqlite:///{tmp_path}/c.db"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "critical" in proc.stdout


def test_db_upgrade_and_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/db.db"
    code, out, _ = run(["db", "status", "--db", url], capsys)
    assert code == 0 and out.startswith("revision none, head ") and "behind" in out
    code, out, _ = run(["db", "upgrade", "--db", url], capsys)
    assert code == 0 and out.startswith("database schema at ")
    code, out, _ = run(["db", "status", "--db", url], capsys)
    assert code == 0 and out.strip().endswith("(current)")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:1/test",  # nothing listens there
        "sqlite:///{tmp}/notadb.db",
        "/plain/path.db",
    ],
    ids=["down", "not-a-database", "not-a-url"],
)
def test_unusable_database_is_one_line_exit_2(
    url: str, sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notadb.db").write_bytes(b"this is not sqlite" * 100)
    code, out, err = run(
        ["scan", "--bundle", str(sample), "--db", url.format(tmp=tmp_path), "--at", AT], capsys
    )
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("secbot: error: ")
    assert "Traceback" not in out + err


def test_a_bad_output_path_fails_before_the_scan_is_stored(
    sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One line, exit 2, and nothing recorded: the next run still reports the findings
    as new instead of unchanged."""
    db = tmp_path / "s.db"
    for target, says in (
        (tmp_path, "is a folder; give a file name"),
        (tmp_path / "missing" / "r.json", "does not exist"),
    ):
        code, _, err = run(
            ["scan", "--bundle", str(sample), "--db", f"sqlite:///{db}", "-o", str(target)],
            capsys,
        )
        assert (code, err.count("\n")) == (2, 1) and says in err
    assert not db.exists() or _rows(db, "scans") == 0


def test_a_fifo_given_as_bundle_is_refused_not_waited_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "bundle.zip"
    os.mkfifo(fifo)
    code, _, err = run(["scan", "--no-store", "--bundle", str(fifo)], capsys)
    assert code == 2 and "neither a zip file nor a folder" in err
