"""bot.sources.pki: files the PKI folder source reads whatever they are called or labelled.

Kubeconfigs without a ``.kubeconfig`` / ``.yaml`` suffix (``admin.conf``, ``cred/kubeconfig``)
and the PEM labels ``openssl x509`` reads besides ``CERTIFICATE``: the old ``X509
CERTIFICATE`` and OpenSSL's ``TRUSTED CERTIFICATE`` (the certificate, then trust settings).
"""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from bot.core.snapshot import Snapshot
from bot.sources.pki import read_pki
from tests.sources import NOW, at, b64, ec_key, key_pem, leaf, make_cert, pem

CA_KEY = ec_key("formats-ca")
CA = make_cert("formats-ca", key=CA_KEY, not_after=at(3000), ca=True)
SERVING, SERVING_KEY = leaf("serving", 100, (CA.subject, CA_KEY))


def _read(root: Path, files: dict[str, str]) -> Snapshot:
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(content)
    return read_pki(root, cluster="c", scanned_at=NOW)


def _gaps(snap: Snapshot) -> list[str]:
    return [c.subject for c in snap.coverage if c.subject.startswith("file:")]


def test_kubeconfigs_without_a_telling_suffix_are_read(tmp_path: Path) -> None:
    """``admin.conf``, ``cred/kubeconfig``: a file of no known kind with an embedded-data key
    is a kubeconfig; the words in prose, or a file under cred/ without them, are not."""
    kubeconfig = (
        "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n"
        f"    certificate-authority-data: {b64(pem(CA))}\n"
        "users:\n- name: admin\n  user:\n"
        f"    client-certificate-data: {b64(pem(SERVING))}\n"
        f"    client-key-data: {b64(key_pem(SERVING_KEY))}\n"
    )
    as_json = (
        '{"users":[{"name":"j","user":{"client-certificate-data":"' + b64(pem(SERVING)) + '"}}]}'
    )
    snap = _read(
        tmp_path,
        {
            "admin.conf": kubeconfig,
            "cred/kubeconfig": kubeconfig,
            "cred/json": as_json,
            "cred/passwd": "token,node,node,rke2:agent\n",
            "notes.md": "Look for client-certificate-data in the kubeconfig.\n",
            "broken.conf": "users: [\n  client-certificate-data: x\n",
        },
    )
    assert sorted(c.location.key for c in snap.certificates) == [
        "File//admin.conf#clusters[local].certificate-authority-data[0]",
        "File//admin.conf#users[admin].client-certificate-data[0]",
        "File//cred/json#users[j].client-certificate-data[0]",
        "File//cred/kubeconfig#clusters[local].certificate-authority-data[0]",
        "File//cred/kubeconfig#users[admin].client-certificate-data[0]",
    ]
    assert sorted(k.location.key for k in snap.keys) == [
        "File//admin.conf#users[admin].client-key-data",
        "File//cred/kubeconfig#users[admin].client-key-data",
    ]
    assert _gaps(snap) == ["file:broken.conf"]  # looks like one, does not parse
    assert snap.coverage_of("pki").detail == (
        "3 certificate files (5 certificates), 0 key files, 2 other files ignored; "
        "unreadable: broken.conf"
    )


def _trusted(cert: x509.Certificate) -> str:
    """``openssl x509 -addtrust serverAuth -setalias myalias -trustout``: the certificate's
    DER, then OpenSSL's trust settings (X509_CERT_AUX: trust serverAuth, alias)."""
    aux = bytes.fromhex("3015300a06082b06010505070301") + b"\x0c\x07myalias"
    body = base64.b64encode(cert.public_bytes(serialization.Encoding.DER) + aux).decode()
    lines = "".join(body[i : i + 64] + "\n" for i in range(0, len(body), 64))
    return f"-----BEGIN TRUSTED CERTIFICATE-----\n{lines}-----END TRUSTED CERTIFICATE-----\n"


def test_trusted_and_x509_certificate_blocks_are_certificates(tmp_path: Path) -> None:
    old_label = pem(SERVING).replace(" CERTIFICATE-----", " X509 CERTIFICATE-----")
    trusted = _trusted(CA)
    lines = _trusted(SERVING).splitlines(keepends=True)
    short = "".join(lines[:2] + lines[-1:])  # the DER ends before the length it announces
    files = {"old.crt": old_label, "trusted.pem": trusted + old_label, "short.crt": short}
    snap = _read(tmp_path, files)
    sha = {c.location.key: c.sha256 for c in snap.certificates}
    assert sha == {
        "File//old.crt#[0]": SERVING.fingerprint(hashes.SHA256()).hex(),
        "File//trusted.pem#[0]": CA.fingerprint(hashes.SHA256()).hex(),
        "File//trusted.pem#[1]": SERVING.fingerprint(hashes.SHA256()).hex(),
    }
    assert [(p.location.key, p.reason.split(":")[0]) for p in snap.cert_problems] == [
        ("File//short.crt#[0]", "certificate does not parse")
    ]
