"""What yamlsafe refuses becomes a coverage gap in every offline source that loads YAML:
a PKI folder's kubeconfig with aliases (amplification through certificate-authority-data),
and a manifest with a lone UTF-16 surrogate (which used to pass reading and then crash the
table output and the store)."""

from __future__ import annotations

from pathlib import Path

from bot.core.snapshot import CoverageStatus
from bot.sources.manifests import read_manifests
from bot.sources.pki import read_pki
from tests.sources import NOW, at, ec_key, make_cert, pem

CERT = make_cert("plain", key=ec_key("plain"), not_after=at(100))


def test_kubeconfig_with_aliases_is_a_gap(tmp_path: Path) -> None:
    (tmp_path / "cred").mkdir()
    (tmp_path / "a.crt").write_text(pem(CERT))
    aliases = ", ".join(["*a"] * 1000)
    (tmp_path / "cred" / "admin.kubeconfig").write_text(
        f"x: &a {'A' * 1023}\nclusters:\n- name: c\n  cluster:\n"
        f"    certificate-authority-data: [{aliases}]\n"
    )
    snap = read_pki(tmp_path, cluster="c", scanned_at=NOW)
    gap = snap.coverage_of("file:cred/admin.kubeconfig")
    assert (gap.status, gap.detail) == (
        CoverageStatus.ERROR,
        "kubeconfig does not parse: YAML aliases are not allowed "
        "(Kubernetes output never uses them)",
    )
    assert [c.common_name for c in snap.certificates] == ["plain"]


def test_manifest_with_a_lone_surrogate_is_a_gap(tmp_path: Path) -> None:
    bad, good = tmp_path / "ev.json", tmp_path / "node.json"
    bad.write_text(
        '{"apiVersion": "v1", "kind": "Event", "reason": "CertificateExpirationWarning", '
        '"message": "cert expires \\ud800 soon", "metadata": {"name": "e1"}}'
    )
    good.write_text('{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n\\u00e9"}}')
    snap = read_manifests([tmp_path], cluster="c", scanned_at=NOW)
    gap = snap.coverage_of(f"file:{bad}")
    assert (gap.status, gap.detail) == (
        CoverageStatus.ERROR,
        "the document contains a lone UTF-16 surrogate (not valid Unicode)",
    )
    assert snap.events == ()
    assert [n.name for n in snap.nodes] == ["n\u00e9"]
    repr(snap).encode("utf-8")  # everything kept can be written out
