"""bot.sources.pki_inventory: the agent's document, built from a real folder and read back.

Aspects: only certificate files are opened (never ``*.key``, never other files); only
certificate material is published, re-encoded from DER (a ``.pem`` with a key publishes no
key byte); nested folders are walked, symbolic links out of the folder are not followed;
unreadable files are problems, not failures; the reader checks every field and the
fingerprint of every certificate.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from bot.core.resources import ResourceRef
from bot.sources.pki_inventory import SCHEMA, build_inventory, pem_of
from bot.sources.pki_inventory_read import (
    InventoryCert,
    InventoryError,
    cert_of,
    parse_inventory,
)
from tests.agent import CA, Folder, issue, opened_files, rke2_folder
from tests.sources import NOW, ec_key, key_pem, pem


def build(folder: Path, **kw: Any) -> dict[str, Any]:
    return build_inventory(folder, node="node-1", now=NOW, interval_seconds=3600, **kw)


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    return rke2_folder(tmp_path)


def test_publishes_certificates_only_and_opens_no_key(folder: Folder) -> None:
    with opened_files() as seen:
        doc = build(folder.root)
        opened = sorted(os.path.relpath(p, folder.root) for p in seen)
    assert opened == [
        "client-admin.crt",
        "combined.pem",
        "etcd/server-client.crt",
        "kube-scheduler/kube-scheduler.der",
        "server-ca.crt",
        "serving-kube-apiserver.crt",
    ]
    assert [(c["file"], c["index"], c["subject"]) for c in doc["certificates"]] == [
        ("client-admin.crt", 0, "CN=system:admin"),
        ("client-admin.crt", 1, "CN=rke2-server-ca@1700000000"),
        ("combined.pem", 0, "CN=combined"),
        ("server-ca.crt", 0, "CN=rke2-server-ca@1700000000"),
        ("serving-kube-apiserver.crt", 0, "CN=kube-apiserver"),
        ("serving-kube-apiserver.crt", 1, "CN=rke2-server-ca@1700000000"),
        ("etcd/server-client.crt", 0, "CN=etcd-server"),
        ("kube-scheduler/kube-scheduler.der", 0, "CN=kube-scheduler"),
    ]
    assert doc["problems"] == [
        {"file": "link-out.crt", "reason": "symbolic link out of the folder; not read"}
    ]
    # server-ca.key, serving-kube-apiserver.key, client-admin.key, etcd/server-client.key,
    # service.key by name; README.txt and the symlinked folder are other.
    assert doc["skipped"] == {"keys": 5, "other": 2}
    text = json.dumps(doc)
    assert "PRIVATE KEY" not in text
    for fragment in folder.key_fragments():
        assert fragment not in text
    assert "outside-secret" not in text  # neither the linked file nor the linked folder


def test_every_field_of_a_certificate(folder: Folder) -> None:
    doc = build(folder.root)
    assert {k: doc[k] for k in ("schema", "node", "root", "updatedAt", "intervalSeconds")} == {
        "schema": SCHEMA,
        "node": "node-1",
        "root": str(folder.root),
        "updatedAt": "2026-06-01T00:00:00Z",
        "intervalSeconds": 3600,
    }
    ca = next(c for c in doc["certificates"] if c["file"] == "server-ca.crt")
    der = CA.public_bytes(serialization.Encoding.DER)
    assert ca == {
        "file": "server-ca.crt",
        "index": 0,
        "subject": "CN=rke2-server-ca@1700000000",
        "issuer": "CN=rke2-server-ca@1700000000",
        "serial": format(CA.serial_number, "X"),
        "notBefore": "2025-06-01T00:00:00Z",
        "notAfter": "2036-05-29T00:00:00Z",
        "fingerprint": hashlib.sha256(der).hexdigest(),
        "pem": pem(CA),
    }


def test_pem_is_rebuilt_from_der_not_copied(tmp_path: Path) -> None:
    cert, _ = issue("odd", 100)
    body = pem(cert).replace("\n", "\r\n")  # CRLF and a comment before the block
    (tmp_path / "odd.crt").write_text("# issued by hand\r\n" + body)
    (entry,) = build(tmp_path)["certificates"]
    assert entry["pem"] == pem(cert) == pem_of(cert.public_bytes(serialization.Encoding.DER))


def test_unreadable_and_broken_files_are_problems(tmp_path: Path) -> None:
    good, key = issue("good", 100)
    files = {
        "broken.crt": "-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n",
        "cut.pem": pem(good)[:200],
        "garbage.cer": "hello",
        "only-key.pem": key_pem(key),
        "key.der": key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        "two.crt": pem(good) + "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    }
    for rel, content in files.items():
        (tmp_path / rel).write_bytes(content if isinstance(content, bytes) else content.encode())
    os.mkfifo(tmp_path / "fifo.crt")
    os.symlink(tmp_path / "gone", tmp_path / "dangling.crt")
    doc = build(tmp_path)
    reasons = {p["file"]: p["reason"] for p in doc["problems"]}
    assert set(reasons) == {
        "broken.crt",
        "cut.pem",
        "garbage.cer",
        "fifo.crt",
        "dangling.crt",
        "two.crt",
    }
    assert reasons["broken.crt"].startswith("certificate [0]: incomplete certificate block")
    assert reasons["cut.pem"].startswith("certificate [0]: incomplete")
    assert reasons["garbage.cer"] == "no PEM or DER certificate found"
    assert reasons["fifo.crt"] == "not a regular file; not read"
    assert reasons["dangling.crt"] == "broken symbolic link; not read"
    assert reasons["two.crt"].startswith("certificate [1]: certificate does not parse")
    assert [(c["file"], c["index"]) for c in doc["certificates"]] == [("two.crt", 0)]
    assert doc["skipped"] == {"keys": 2, "other": 0}  # only-key.pem and key.der
    assert "PRIVATE KEY" not in json.dumps(doc)


def test_a_missing_folder_and_the_caps_are_problems(tmp_path: Path) -> None:
    assert build(tmp_path / "nope")["problems"] == [{"file": ".", "reason": "no such folder"}]
    for i in range(3):
        (tmp_path / f"c{i}.crt").write_text(pem(issue(f"c{i}", 100)[0]))
    (tmp_path / "big.crt").write_text(pem(CA) * 20)
    doc = build(tmp_path, max_entries=3, cap=4096)
    assert doc["problems"] == [
        {
            "file": "big.crt",
            "reason": f"{(tmp_path / 'big.crt').stat().st_size} bytes is over the 4096-byte limit",
        },
        {"file": ".", "reason": "stopped after 3 files (entry limit)"},
    ]
    assert [c["file"] for c in doc["certificates"]] == ["c0.crt", "c1.crt"]


@pytest.mark.parametrize("files", [{}, {"server.key": "k", "README": "x", "sub/c.key": "k"}])
def test_a_folder_without_certificates_is_a_problem(tmp_path: Path, files: dict[str, str]) -> None:
    # A wrong mount (an empty folder, the parent of server/tls...) must not look healthy.
    for rel, content in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(content)
    doc = build(tmp_path)
    assert doc["certificates"] == []
    assert doc["problems"] == [
        {
            "file": ".",
            "reason": f"no certificate files under {tmp_path}: "
            "is this /var/lib/rancher/rke2/server/tls?",
        }
    ]


def test_round_trip_gives_the_same_certificates(folder: Folder) -> None:
    doc = build(folder.root)
    inventory = parse_inventory(json.dumps(doc))
    assert (inventory.node, inventory.interval_seconds, inventory.errors) == ("node-1", 3600, ())
    assert inventory.updated_at == NOW
    assert inventory.problems == (("link-out.crt", "symbolic link out of the folder; not read"),)
    entry = inventory.certificates[5]  # serving-kube-apiserver.crt [1]: the CA
    where = ResourceRef("File", "node-1/serving-kube-apiserver.crt", field="[1]")
    info = cert_of(entry, location=where, group="node-1/serving-kube-apiserver")
    assert not isinstance(info, str)
    assert (info.location, info.index, info.common_name, info.is_ca) == (
        where,
        1,
        "rke2-server-ca@1700000000",
        True,
    )
    assert info.sha256 == entry.fingerprint


def test_reader_refuses_a_lying_or_key_carrying_entry() -> None:
    cert, key = issue("lie", 100)
    where = ResourceRef("File", "n/x.crt", field="[0]")
    other = pem_of(issue("other", 100)[0].public_bytes(serialization.Encoding.DER))
    lying = InventoryCert("x.crt", 0, "0" * 64, pem(cert))
    assert cert_of(lying, location=where, group="g") == "fingerprint does not match the pem"
    keyed = InventoryCert("x.crt", 0, "0" * 64, pem(cert) + key_pem(key))
    assert cert_of(keyed, location=where, group="g") == "holds a private key block; ignored"
    two = InventoryCert("x.crt", 0, "0" * 64, pem(cert) + other)
    assert cert_of(two, location=where, group="g") == "pem: not exactly one certificate"
    junk = InventoryCert(
        "x.crt", 0, "0" * 64, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    assert str(cert_of(junk, location=where, group="g")).startswith(
        "pem: certificate does not parse"
    )


def _doc(**changes: Any) -> str:
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "node": "n",
        "root": "/r",
        "updatedAt": "2026-06-01T00:00:00Z",
        "intervalSeconds": 60,
        "certificates": [],
        "problems": [],
        "skipped": {"keys": 0, "other": 0},
    }
    doc.update(changes)
    return json.dumps({k: v for k, v in doc.items() if v is not None})


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", "not JSON"),
        ("[]", "not a JSON object"),
        (_doc(schema="other/v9"), "schema is 'other/v9', expected secbot.pki-inventory/v1"),
        (_doc(node=None), "node is missing or not a string"),
        (_doc(node="../etc"), "node '../etc' is not a Kubernetes node name"),
        (_doc(updatedAt="yesterday"), "updatedAt is not an RFC 3339 time"),
        (_doc(updatedAt="2026-06-01T00:00:00"), "updatedAt has no time zone"),
        (_doc(intervalSeconds=0), "intervalSeconds is missing or not a whole number >= 1"),
        (_doc(intervalSeconds=True), "intervalSeconds is missing or not a whole number >= 1"),
        (_doc(intervalSeconds=7 * 86400 + 1), "intervalSeconds is over 604800"),
        (_doc(intervalSeconds=10**15), "intervalSeconds is over 604800"),
        (_doc(intervalSeconds=1e308), "intervalSeconds is missing or not a whole number >= 1"),
        (_doc(updatedAt="0001-01-01T00:00:00+01:00"), "updatedAt is out of range"),
        (_doc(updatedAt=10**20), "updatedAt is not an RFC 3339 time"),
        ("[" * 100_000 + "]" * 100_000, "not JSON"),
        (_doc(certificates={}), "certificates or problems is not a list"),
        ("x" * (3 * 1024 * 1024), "document is over"),
    ],
)
def test_malformed_documents(text: str, reason: str) -> None:
    with pytest.raises(InventoryError) as info:
        parse_inventory(text)
    assert str(info.value).startswith(reason)
    assert "\n" not in str(info.value)


def test_the_longest_interval_is_seven_days() -> None:
    assert parse_inventory(_doc(intervalSeconds=7 * 86400)).interval_seconds == 604800


def test_malformed_problems_are_dropped_and_named() -> None:
    problems = [
        {"file": "a.crt", "reason": "cannot\nread"},
        {"file": ".", "reason": 5},
        [],
        {"file": {"a": 1}},
        {"file": "../x.crt", "reason": "x"},
        {"file": "a\nb.crt"},
    ]
    inventory = parse_inventory(_doc(problems=problems))
    assert inventory.problems == (("a.crt", "cannot read"), (".", "unreadable"))
    assert inventory.errors == (
        "problems[2]: not an object",
        "problems[3]: file is missing or not a string",
        "problems[4]: file is not a path inside the folder",
        "problems[5]: file is not a path inside the folder",
    )


def test_malformed_entries_are_dropped_and_named() -> None:
    cert, _ = issue("fine", 100)
    good = {"file": "a.crt", "index": 0, "fingerprint": "a" * 64, "pem": pem(cert)}
    entries = [good, "x", {**good, "fingerprint": "ZZ"}, {**good, "index": -1}, {**good, "pem": 5}]
    entries += [{**good, "file": "/etc/x.crt"}, {**good, "file": "a/../../x.crt"}]
    entries += [{**good, "index": 100_001}]
    inventory = parse_inventory(_doc(certificates=entries))
    assert [c.file for c in inventory.certificates] == ["a.crt"]
    assert inventory.errors == (
        "certificates[1]: not an object",
        "certificates[2]: fingerprint is not 64 hex digits",
        "certificates[3]: index is missing or not a whole number >= 0",
        "certificates[4]: pem is missing or not a string",
        "certificates[5]: file is not a path inside the folder",
        "certificates[6]: file is not a path inside the folder",
        "certificates[7]: index is over 100000",
    )


def test_ec_key_canary_is_what_the_folder_wrote(folder: Folder) -> None:
    # The canary list must really hold the keys on disk, or the tests above prove nothing.
    written = (folder.root / "serving-kube-apiserver.key").read_text()
    assert any(f in written for f in folder.key_fragments())
    assert key_pem(ec_key("unrelated")) not in written
