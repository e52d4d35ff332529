"""Tests of the node agent; this package also builds RKE2-like PKI folders for them.

``rke2_folder`` writes what a control-plane node has under ``server/tls``: CA and leaf
certificates next to their keys, nested folders, a DER certificate, a ``.pem`` holding a
certificate and its private key, other files, and symbolic links that point out of the
folder. ``key_fragments`` lists pieces of every private key written, so a test can prove
that none of them reached the published data. ``opened_files`` records every file the
process opens (a real ``sys.addaudithook``), to prove that key files are never opened.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from bot.agent.publish import configmap
from bot.sources.pki_inventory import build_inventory
from tests.sources import at, ec_key, key_pem, make_cert, name, pem

CA_KEY = ec_key("agent-server-ca")
CA = make_cert("rke2-server-ca@1700000000", key=CA_KEY, not_after=at(3650), ca=True)
ISSUER = (name("rke2-server-ca@1700000000"), CA_KEY)


def issue(cn: str, days: float, label: str | None = None) -> tuple[Any, Any]:
    key = ec_key(label or f"agent-{cn}-{days}")
    return make_cert(cn, key=key, not_after=at(days), issuer=ISSUER), key


@dataclass
class Folder:
    """A PKI folder written to disk and what it holds."""

    root: Path
    outside: Path
    keys: list[Any] = field(default_factory=list)

    def key_fragments(self) -> list[str]:
        """Every base64 line of every private key's PEM, and its PKCS#8 DER as hex."""
        out: list[str] = []
        for key in self.keys:
            out += [line for line in key_pem(key).splitlines() if "-----" not in line]
            der = key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            out.append(der.hex()[:64])
        return out


def _write(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())


def rke2_folder(
    base: Path, *, apiserver_days: float = 10, label: str = "", links: bool = True
) -> Folder:
    """server/tls of one node; ``serving-kube-apiserver.crt`` expires in ``apiserver_days``;
    ``links``: with a symbolic link to a file and one to a folder outside it."""
    root, outside = base / "tls", base / "outside"
    folder = Folder(root, outside)
    apiserver, apiserver_key = issue("kube-apiserver", apiserver_days, f"api{label}")
    admin, admin_key = issue("system:admin", 200, f"admin{label}")
    etcd, etcd_key = issue("etcd-server", 300, f"etcd{label}")
    combo, combo_key = issue("combined", 250, f"combo{label}")
    scheduler, _ = issue("kube-scheduler", 330, f"sched{label}")
    secret, secret_key = issue("outside-secret", 5, f"outside{label}")
    folder.keys += [CA_KEY, apiserver_key, admin_key, etcd_key, combo_key, secret_key]
    files: dict[str, str | bytes] = {
        "server-ca.crt": pem(CA),
        "server-ca.key": key_pem(CA_KEY),
        "serving-kube-apiserver.crt": pem(apiserver, CA),
        "serving-kube-apiserver.key": key_pem(apiserver_key),
        "client-admin.crt": pem(admin, CA),
        "client-admin.key": key_pem(admin_key),
        "etcd/server-client.crt": pem(etcd),
        "etcd/server-client.key": key_pem(etcd_key),
        "combined.pem": pem(combo) + key_pem(combo_key),
        "kube-scheduler/kube-scheduler.der": scheduler.public_bytes(serialization.Encoding.DER),
        "service.key": key_pem(etcd_key),
        "README.txt": "not a certificate",
    }
    for rel, content in files.items():
        _write(root / rel, content)
    _write(outside / "stolen.crt", pem(secret) + key_pem(secret_key))
    _write(outside / "dir" / "also.crt", pem(secret))
    if links:
        os.symlink(outside / "stolen.crt", root / "link-out.crt")
        os.symlink(outside / "dir", root / "linked-dir")
    return folder


def inventory_configmap(
    root: Path,
    node: str,
    *,
    updated: datetime,
    interval: int = 3600,
    namespace: str = "secbot-agent",
) -> dict[str, Any]:
    """The ConfigMap the agent on ``node`` would have published at ``updated``."""
    doc = build_inventory(root, node=node, now=updated, interval_seconds=interval)
    return configmap(doc, namespace=namespace)


_OPENED: list[str] = []
_RECORDING = [False]


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _RECORDING[0] and event == "open" and args and isinstance(args[0], str | bytes):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)  # audit hooks cannot be removed; it records only when asked to


@contextmanager
def opened_files() -> Iterator[list[str]]:
    """Every path the process opens inside the block."""
    _OPENED.clear()
    _RECORDING[0] = True
    try:
        yield _OPENED
    finally:
        _RECORDING[0] = False
