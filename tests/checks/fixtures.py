"""Load a check fixture (manifest file, bundle folder or PKI folder) into a Snapshot.

Fixture layout: ``tests/fixtures/checks/<check-id>/<case>-pass.yaml`` /
``<case>-fail.yaml`` (manifests), or folders of the same names: a folder with ``yamls/``
or ``nodes/`` inside is read as a support bundle, any other folder as a PKI folder.
Fail fixtures state the exact findings they expect, one per line, as
``# expect: <severity> <resource key>`` in a YAML file or in ``_expect.txt`` in a folder.
``# now: <ISO time>`` sets the scan time (default 2026-06-01T00:00:00Z).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from bot.core.snapshot import Snapshot

ROOT = Path(__file__).resolve().parent.parent / "fixtures" / "checks"
DEFAULT_NOW = datetime(2026, 6, 1, tzinfo=UTC)
_EXPECT = re.compile(r"^#?\s*expect:\s*(\w+)\s+(\S+)\s*$")
_NOW = re.compile(r"^#?\s*now:\s*(\S+)\s*$")


def _directives(path: Path) -> list[str]:
    meta = path / "_expect.txt" if path.is_dir() else path
    if not meta.exists():
        return []
    return meta.read_text(encoding="utf-8", errors="replace").splitlines()


def expected(path: Path) -> set[tuple[str, str]]:
    """The (severity, resource key) pairs a fail fixture declares."""
    out = set()
    for line in _directives(path):
        m = _EXPECT.match(line.strip())
        if m:
            out.add((m.group(1), m.group(2)))
    return out


def scan_time(path: Path) -> datetime:
    for line in _directives(path):
        m = _NOW.match(line.strip())
        if m:
            return datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
    return DEFAULT_NOW


def load(path: Path) -> Snapshot:
    """Read a fixture through the real source that handles its shape."""
    now = scan_time(path)
    if path.is_file():
        from bot.sources.manifests import read_manifests

        return read_manifests([path], cluster="fixture", scanned_at=now)
    if (path / "yamls").is_dir() or (path / "nodes").is_dir():
        from bot.sources.bundle import read_bundle

        return read_bundle(path, cluster="fixture", scanned_at=now)
    from bot.sources.pki import read_pki

    return read_pki(path, cluster="fixture", scanned_at=now)


def cases() -> list[tuple[str, Path]]:
    """Every (check id, fixture path) pair under ROOT."""
    out = []
    for check_dir in sorted(p for p in ROOT.iterdir() if p.is_dir()):
        for case in sorted(check_dir.iterdir()):
            if case.name.startswith(("_", ".")):
                continue
            out.append((check_dir.name, case))
    return out
