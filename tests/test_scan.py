"""The scan use case: several PKI folders of one node keep their files apart.

Aspects: labels are the folders' paths below their common parent, distinct even when
the folders share a name (n1/tls, n2/tls); a folder given twice is read once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.core.policy import CheckPolicy
from bot.scan import ScanRequest, pki_labels, scan
from tests.sources import at, ec_key, make_cert, pem

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_labels_below_the_common_parent(tmp_path: Path) -> None:
    server, agent = tmp_path / "rke2/server/tls", tmp_path / "rke2/agent"
    n1, n2 = tmp_path / "n1/tls", tmp_path / "n2/tls"
    for folder in (server, agent, n1, n2):
        folder.mkdir(parents=True)
    assert pki_labels([server, agent]) == ["server/tls", "agent"]
    assert pki_labels([n1, n2]) == ["n1/tls", "n2/tls"]
    assert pki_labels([tmp_path / "rke2", server]) == ["rke2", "server/tls"]
    assert pki_labels([n1]) == ["tls"]


def test_same_named_folders_do_not_collide(tmp_path: Path) -> None:
    folders = []
    for node, days in (("n1", 20), ("n2", 10)):
        folder = tmp_path / node / "tls"
        folder.mkdir(parents=True)
        cert = make_cert(f"srv-{node}", key=ec_key(node), not_after=at(days))
        (folder / "a.crt").write_text(pem(cert))
        folders.append(folder)
    request = ScanRequest(pki=(*folders, folders[0]), cluster_name="lab")
    report = scan(request, now=NOW, policy=CheckPolicy())
    (only,) = report.scans
    found = sorted(
        (f.resource.name, f.severity.value)
        for f in only.run.findings
        if f.check_id == "cert-expiring"
    )
    assert found == [("n1/tls/a.crt", "warning"), ("n2/tls/a.crt", "critical")]
