"""bot.sources.pki: a folder of PKI files read into a Snapshot, with honest coverage."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from bot.checks.cert_validity import CertExpiring
from bot.checks.runner import run_checks
from bot.core.resources import ResourceRef
from bot.core.snapshot import CoverageItem, CoverageStatus, Snapshot
from bot.errors import InputError
from bot.sources.limits import Limits
from bot.sources.pki import read_pki
from tests.checks.fixtures import ROOT as FIXTURES
from tests.sources import NOW, at, b64, ec_key, key_pem, leaf, make_cert, pem

RKE2 = FIXTURES / "cert-expiring" / "rke2-tls-fail"
CA_KEY = ec_key("pki-ca")
CA = make_cert("pki-ca", key=CA_KEY, not_after=at(3000), ca=True)
SERVING, SERVING_KEY = leaf("serving", 100, (CA.subject, CA_KEY))


def _read(path: Path, **kw: object) -> Snapshot:
    return read_pki(path, cluster="c", scanned_at=NOW, **kw)  # type: ignore[arg-type]


def _write(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


def _gaps(snap: Snapshot) -> dict[str, tuple[str, str]]:
    return {
        c.subject: (c.status.value, c.detail)
        for c in snap.coverage
        if c.subject.startswith("file:")
    }


def test_rke2_folder() -> None:
    snap = _read(RKE2)
    assert (snap.source, snap.origin, snap.cluster) == ("pki", str(RKE2), "c")
    assert snap.coverage_of("pki") == CoverageItem(
        "pki",
        CoverageStatus.READ,
        "9 certificate files (15 certificates), 4 key files, 2 other files ignored",
    )
    located = sorted((c.location.key, c.group, c.common_name) for c in snap.certificates)
    assert located[:4] == [
        ("File//client-admin.crt#[0]", "client-admin", "system:admin"),
        ("File//client-admin.crt#[1]", "client-admin", "rke2-client-ca@1700000000"),
        ("File//client-ca.crt#[0]", "client-ca", "rke2-client-ca@1700000000"),
        ("File//client-controller.crt#[0]", "client-controller", "system:kube-controller-manager"),
    ]
    assert ("File//etcd/server-client.der", "etcd/server-client", "etcd-server") in located
    kubeconfig = "File//cred/admin.kubeconfig#"
    assert (
        f"{kubeconfig}users[default].client-certificate-data[0]",
        "cred/admin#users[default]",
        "kubeconfig-admin",
    ) in located
    assert sorted((k.location.key, k.group) for k in snap.keys) == [
        ("File//client-admin.key", "client-admin"),
        ("File//client-ca.key", "client-ca"),
        ("File//cred/admin.kubeconfig#users[default].client-key-data", "cred/admin#users[default]"),
        ("File//server-ca.key", "server-ca"),
        ("File//serving-kube-apiserver.key", "serving-kube-apiserver"),
    ]
    assert all(k.spki_sha256 for k in snap.keys)
    assert snap.cert_problems == () and _gaps(snap) == {}


def test_repeated_ca_is_judged_once_and_superseded_cert_not_at_all() -> None:
    run = run_checks(_read(RKE2), [CertExpiring()])
    by_key = {f.resource.key: f for f in run.findings}
    ca = by_key["File//client-admin.crt#[1]"]
    assert ca.evidence["locations"] == 5
    assert ca.evidence["also_at"] == (
        "File//client-ca.crt#[0]",
        "File//client-controller.crt#[1]",
        "File//client-kube-proxy.crt#[1]",
        "File//prev/client-controller.crt#[1]",
    )
    assert ca.message == "certificate CN=rke2-client-ca@1700000000 expires in 61 days (2026-08-01)"
    assert ca.tier == "90d" and ca.evidence["days_left"] == 61
    api = by_key["File//serving-kube-apiserver.crt#[0]"]
    assert (api.severity.value, api.tier, api.evidence["not_after"]) == (
        "critical",
        "14d",
        "2026-06-10T00:00:00+00:00",
    )
    assert "File//prev/client-controller.crt#[0]" not in by_key  # expires in 4 days, superseded


def test_junk_and_bad_blocks_are_gaps_and_problems(tmp_path: Path) -> None:
    broken = pem(SERVING).replace("\n", "\n!!", 3)
    root = _write(
        tmp_path,
        {
            "ca.crt": pem(CA),
            "junk.crt": bytes(range(256)),
            "bundle.pem": pem(CA) + broken,
            "junk.key": b"\x00\x01not a key",
            "notes.txt": "hello",
        },
    )
    snap = _read(root)
    assert sorted((p.location.key, p.reason.split(":")[0]) for p in snap.cert_problems) == [
        ("File//bundle.pem#[1]", "certificate does not parse"),
        ("File//junk.crt", "no PEM or DER certificate found"),
    ]
    gaps = _gaps(snap)
    assert gaps["file:junk.crt"] == ("error", "file: no PEM or DER certificate found")
    assert gaps["file:junk.key"] == ("error", "no PEM or DER private key found")
    assert gaps["file:bundle.pem"][1].startswith("[1]: certificate does not parse: ")
    pki = snap.coverage_of("pki")
    assert pki.status == CoverageStatus.PARTIAL
    assert pki.detail == (
        "3 certificate files (2 certificates), 1 key files, 1 other files ignored; "
        "unreadable: bundle.pem, junk.crt, junk.key"
    )


def test_symlinks_out_of_the_folder_are_not_followed(tmp_path: Path) -> None:
    outside = _write(tmp_path / "outside", {"secret.crt": pem(SERVING), "dir/x.crt": pem(SERVING)})
    root = _write(tmp_path / "tls", {"ca.crt": pem(CA)})
    (root / "evil.crt").symlink_to(outside / "secret.crt")
    (root / "alias.crt").symlink_to(root / "ca.crt")
    (root / "linked").symlink_to(outside / "dir", target_is_directory=True)
    (root / "dangling.pem").symlink_to(tmp_path / "nowhere.pem")
    snap = _read(root)
    assert sorted(c.location.key for c in snap.certificates) == [
        "File//alias.crt#[0]",
        "File//ca.crt#[0]",
    ]
    assert _gaps(snap) == {
        "file:evil.crt": ("error", "symbolic link out of the folder; not read"),
        "file:dangling.pem": ("error", "broken symbolic link; not read"),
    }
    assert snap.coverage_of("pki").detail.endswith(
        "unreadable: dangling.pem, evil.crt; 1 symlinked folders not followed"
    )


def test_oversized_and_special_files(tmp_path: Path) -> None:
    root = _write(tmp_path, {"big.crt": pem(CA) * 4, "ca.crt": pem(CA)})
    os.mkfifo(root / "pipe.crt")
    os.mkfifo(root / "pipe")
    snap = _read(root, limits=Limits(max_file_bytes=len(pem(CA)) + 10))
    size = (root / "big.crt").stat().st_size
    assert _gaps(snap) == {
        "file:big.crt": ("error", f"{size} bytes is over the {len(pem(CA)) + 10}-byte limit"),
        "file:pipe.crt": ("error", "not a regular file; not read"),
    }
    assert [c.location.key for c in snap.certificates] == ["File//ca.crt#[0]"]


def test_kubeconfigs_dynamic_cert_and_sniffed_pem(tmp_path: Path) -> None:
    kubeconfig = (
        "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n"
        f"    client-certificate-data: {b64(pem(SERVING))}\n"
        f"    client-key-data: {b64(key_pem(SERVING_KEY))}\n"
    )
    dynamic = (
        '{"metadata":{"name":"k3s-serving"},"data":{'
        f'"tls.crt":"{b64(pem(SERVING, CA))}","tls.key":"{b64(key_pem(SERVING_KEY))}"}}}}'
    )
    root = _write(
        tmp_path,
        {
            "cred/admin.yaml": kubeconfig,
            "elsewhere/kube.yml": kubeconfig,
            "manifests/app.yaml": "kind: ConfigMap\n",
            "cred/controller.kubeconfig": "apiVersion: v1\nusers: []\n",
            "cred/broken.kubeconfig": "users: [\n",
            "dynamic-cert.json": dynamic,
            "ca-bundle": pem(CA),
            "containerd/io.containerd.content.v1.content/blob.crt": b"junk",
        },
    )
    snap = _read(root)
    assert sorted((c.location.key, c.group) for c in snap.certificates) == [
        ("File//ca-bundle#[0]", "ca-bundle"),
        (
            "File//cred/admin.yaml#users[admin].client-certificate-data[0]",
            "cred/admin#users[admin]",
        ),
        ("File//dynamic-cert.json#data.tls.crt[0]", "dynamic-cert"),
        ("File//dynamic-cert.json#data.tls.crt[1]", "dynamic-cert"),
        (
            "File//elsewhere/kube.yml#users[admin].client-certificate-data[0]",
            "elsewhere/kube#users[admin]",
        ),
    ]
    assert sorted(k.location.key for k in snap.keys) == [
        "File//cred/admin.yaml#users[admin].client-key-data",
        "File//dynamic-cert.json#data.tls.key",
        "File//elsewhere/kube.yml#users[admin].client-key-data",
    ]
    assert _gaps(snap) == {
        "file:cred/broken.kubeconfig": (
            "error",
            "kubeconfig does not parse: not valid YAML at line 2: "
            "did not find expected node content",
        ),
    }


def test_encrypted_key_is_noted(tmp_path: Path) -> None:
    encrypted = SERVING_KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    snap = _read(_write(tmp_path, {"s.crt": pem(SERVING), "s.key": encrypted}))
    assert [(k.location, k.spki_sha256) for k in snap.keys] == [(ResourceRef("File", "s.key"), "")]
    assert snap.coverage_of("file:s.key").status == CoverageStatus.PARTIAL
    assert snap.coverage_of("pki").status == CoverageStatus.READ


def test_entry_limit(tmp_path: Path) -> None:
    root = _write(tmp_path, {f"{i}.crt": pem(CA) for i in range(4)})
    pki = _read(root, limits=Limits(max_entries=2)).coverage_of("pki")
    assert (pki.status, pki.detail) == (
        CoverageStatus.PARTIAL,
        "2 certificate files (2 certificates), 0 key files, 0 other files ignored; "
        "stopped after 2 files (entry limit)",
    )


def test_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such folder"):
        _read(tmp_path / "missing")
    (tmp_path / "file.crt").write_text(pem(CA))
    with pytest.raises(InputError, match="not a folder"):
        _read(tmp_path / "file.crt")
    empty = _write(tmp_path / "empty", {"notes.txt": "x", "only.key": key_pem(CA_KEY)})
    with pytest.raises(InputError) as err:
        _read(empty)
    assert err.value.reason == "folder has no certificate files (.crt, .pem, .cer, .der)"


def test_private_keys_never_reach_the_snapshot(tmp_path: Path) -> None:
    """Canary: a known private key in .key files, a PEM bundle and a kubeconfig."""
    canary = key_pem(ec_key("canary"))
    body_lines = canary.splitlines()[1:-1]
    kubeconfig = f"users:\n- name: u\n  user:\n    client-key-data: {b64(canary)}\n"
    root = _write(
        tmp_path,
        {
            "serving.crt": pem(SERVING),
            "serving.key": canary,
            "etcd/peer.key": canary,
            "combined.pem": pem(SERVING) + canary,
            "cred/x.kubeconfig": kubeconfig,
        },
    )
    snap = _read(root)
    text = repr(snap)
    for line in body_lines:
        assert line not in text
    assert b64(canary)[:40] not in text
    assert "PRIVATE KEY" not in text
    # The canary was seen (as a fingerprint) in every place it was planted.
    assert len([k for k in snap.keys if k.spki_sha256]) == 4


def test_names_that_are_not_utf8_are_shown_readably(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/bad\xff.crt"
    with open(raw, "wb") as fh:
        fh.write(pem(CA).encode())
    snap = _read(tmp_path)
    assert [c.location.key for c in snap.certificates] == ["File//bad\ufffd.crt#[0]"]
    snap.certificates[0].location.key.encode("utf-8")  # printable / storable


def test_a_walk_stopped_at_the_entry_limit_marks_the_folder_not_wholly_read(
    tmp_path: Path,
) -> None:
    root = _write(tmp_path, {f"{i}.crt": pem(CA) for i in range(4)})
    snap = _read(root, limits=Limits(max_entries=2))
    assert _gaps(snap) == {
        "file:.": ("partial", "not wholly read: stopped after 2 files (entry limit)")
    }
    assert "file:." not in _gaps(_read(root))
