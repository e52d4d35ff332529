"""Load a check fixture (manifest file, bundle folder or PKI folder) into a Snapshot.

Fixture layout: ``tests/fixtures/checks/<check-id>/<case>-pass.yaml`` /
``<case>-fail.yaml`` (manifests), or folders of the same names: a folder with ``yamls/``
or ``nodes/`` inside is read as a support bundle, any other folder as a PKI folder.
Fail fixtures state the exact findings they expect, one per line, as
``# expect: <severity> <resource key>`` in a YAML file or in ``_expect.txt`` in a folder.
``# now: <ISO time>`` sets the scan time (default 2026-06-01T00:00:00Z).
``# rotation: <node|all> <kind> <ISO time>`` adds a recorded credential rotation (what the
scan loads from the store) and ``# rotations: none`` says none were recorded; either marks
coverage ``rotations`` READ. Without them it stays MISSING, as with ``--no-store``.

Live fixtures (``<case>-pass.live.yaml`` / ``-fail.live.yaml``) describe a cluster that is
served by a FakeKubeAPI (plus FakeTLSEndpoint listeners) and read with the real KubeClient
and ``read_live``. One YAML document::

    objects: [<Kubernetes objects>]
    deny: [{verb: list, resource: secrets, group: ""}]   # RBAC refusals
    unreachable: true                # the API server's port is closed
    tls_endpoints: [{component: harvester-vip, cert: _a.pem, key: _a.key, host: 127.0.0.1}]
    kubeconfig: {client_cert: _c.pem, client_key: _c.key}   # or {token: wrong},
                                     # or {token_expires: <ISO time>} (a JWT with that exp)
    probe: {vip: 127.0.0.1}          # ProbeOptions.vip (else the harvester-system/vip ConfigMap)

Files are named relative to the fixture (start them with ``_`` so they are not cases). Only
the listed components are probed, each on its listener's port. ``# expect:`` keys may name
a listener as ``{<component>}``: its ``host:port``, known only once it listens.
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bot.core.snapshot import CoverageItem, CoverageStatus, RotationRecord, Snapshot

ROOT = Path(__file__).resolve().parent.parent / "fixtures" / "checks"
DEFAULT_NOW = datetime(2026, 6, 1, tzinfo=UTC)
_EXPECT = re.compile(r"^#?\s*expect:\s*(\w+)\s+(\S+)\s*$")
_NOW = re.compile(r"^#?\s*now:\s*(\S+)\s*$")
_ROTATION = re.compile(r"^#?\s*rotation:\s*(\S+)\s+(\S+)\s+(\S+)\s*$")
_NO_ROTATIONS = re.compile(r"^#?\s*rotations:\s*none\s*$")
# Live fixtures: "{component}" in an expect key -> the host:port its listener got.
_PLACEHOLDERS: dict[Path, dict[str, str]] = {}


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
            key = m.group(2)
            for name, value in _PLACEHOLDERS.get(path, {}).items():
                key = key.replace(f"{{{name}}}", value)
            out.add((m.group(1), key))
    return out


def scan_time(path: Path) -> datetime:
    for line in _directives(path):
        m = _NOW.match(line.strip())
        if m:
            return datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
    return DEFAULT_NOW


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _with_rotations(path: Path, snapshot: Snapshot) -> Snapshot:
    """Apply ``# rotation:`` / ``# rotations: none`` (see the module docstring)."""
    lines = [line.strip() for line in _directives(path)]
    found = [m for m in map(_ROTATION.match, lines) if m]
    if not found and not any(_NO_ROTATIONS.match(line) for line in lines):
        return snapshot
    records = tuple(RotationRecord(m.group(1), m.group(2), _time(m.group(3))) for m in found)
    read = CoverageItem("rotations", CoverageStatus.READ)
    return replace(snapshot, rotations=records, coverage=(*snapshot.coverage, read))


def load(path: Path) -> Snapshot:
    """Read a fixture through the real source that handles its shape."""
    return _with_rotations(path, _load(path))


def _load(path: Path) -> Snapshot:
    now = scan_time(path)
    if path.name.endswith(".live.yaml"):
        snapshot, _PLACEHOLDERS[path] = _read_live(path, now)
        return snapshot
    if path.is_file():
        from bot.sources.manifests import read_manifests

        return read_manifests([path], cluster="fixture", scanned_at=now)
    if (path / "yamls").is_dir() or (path / "nodes").is_dir():
        from bot.sources.bundle import read_bundle

        return read_bundle(path, cluster="fixture", scanned_at=now)
    from bot.sources.pki import read_pki

    return read_pki(path, cluster="fixture", scanned_at=now)


def jwt_with_exp(expires: datetime) -> str:
    """An unsigned JWT whose only claim is ``exp`` (what ClientCredentials decodes)."""

    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'exp': int(expires.timestamp())})}.sig"


def _read_live(path: Path, now: datetime) -> tuple[Snapshot, dict[str, str]]:
    from bot.kube.client import KubeClient, KubeTarget, Timeouts
    from bot.sources.live import ProbeOptions, read_live
    from tests.fakes.kube_api import FakeKubeAPI, FakeTLSEndpoint

    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    kc = doc.get("kubeconfig") or {}
    expires = kc.get("token_expires")
    token = jwt_with_exp(expires) if isinstance(expires, datetime) else "fake-token"

    def file(name: str | None) -> bytes | None:
        return (path.parent / name).read_bytes() if name else None

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        api = stack.enter_context(FakeKubeAPI(objects=doc.get("objects") or [], token=token))
        for rule in doc.get("deny") or []:
            api.deny(**rule)
        ports: dict[str, int] = {}
        places: dict[str, str] = {}
        for ep in doc.get("tls_endpoints") or []:
            listener = stack.enter_context(
                FakeTLSEndpoint(
                    chain_pem=file(ep["cert"]) or b"",
                    key_pem=file(ep["key"]) or b"",
                    host=ep.get("host", "127.0.0.1"),
                )
            )
            ports[ep["component"]] = listener.port
            places[ep["component"]] = f"{listener.host}:{listener.port}"
        kubeconfig = api.write_kubeconfig(
            tmp / "kubeconfig",
            token=kc.get("token"),
            client_cert_pem=file(kc.get("client_cert")),
            client_key_pem=file(kc.get("client_key")),
        )
        if doc.get("unreachable"):
            api.close()
        target = KubeTarget(name="fixture", kubeconfig=kubeconfig)
        client = KubeClient.connect(target, timeouts=Timeouts(connect=2, read=5, retries=0))
        stack.callback(client.close)
        probe = ProbeOptions(ports=ports, timeout=2, vip=(doc.get("probe") or {}).get("vip"))
        return read_live(client, cluster="fixture", scanned_at=now, probe=probe), places


def cases() -> list[tuple[str, Path]]:
    """Every (check id, fixture path) pair under ROOT."""
    out = []
    for check_dir in sorted(p for p in ROOT.iterdir() if p.is_dir()):
        for case in sorted(check_dir.iterdir()):
            if case.name.startswith(("_", ".")):
                continue
            out.append((check_dir.name, case))
    return out
