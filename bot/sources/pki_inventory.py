"""The node agent's PKI inventory (``secbot.pki-inventory/v1``): built on a node, read back
by the live source. RKE2's certificate files under ``/var/lib/rancher/rke2/server/tls`` are
not served by the Kubernetes API (reference/harvester.md §3.1): ``secbot agent`` reads them
on each control-plane node and publishes this document in a ConfigMap (``bot.agent``).

The ConfigMap's shape is defined here, for both sides (the reader may not import
``bot.agent``): its name ``configmap_name(node)``, its data key, label and annotation.

Encode (``build_inventory``): only files named like certificates (``.crt .pem .cer .der``)
are opened; ``*.key`` and every other file are counted, never opened. The folder is walked
like the PKI folder source walks it (``bot.sources.pki_walk``: sorted, no symlinked folders,
no symbolic link out of the folder). Only CERTIFICATE material is published: each
certificate is parsed and written again as PEM from its own DER, never copied from the file,
so a ``.pem`` that also holds a private key publishes no byte of the key. Whatever cannot be
read becomes a ``problems`` entry; building never raises. A folder without any certificate
is a folder-level problem too (the mount points at the wrong folder): an empty inventory
must never look like a healthy node.

Decode: ``bot.sources.pki_inventory_read``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.core.certs import CertInfo
from bot.core.resources import ResourceRef
from bot.sources import certs
from bot.sources.pki import CERT_SUFFIXES
from bot.sources.pki_walk import WalkState, read_contained, walk_files

SCHEMA = "secbot.pki-inventory/v1"
# The ConfigMap that carries one node's inventory (published by bot.agent.publish, read by
# bot.sources.live_agent): its data key, the label the reader selects by, its annotation.
DATA_KEY = "inventory.json"
COMPONENT_LABEL = ("app.kubernetes.io/component", "pki-inventory")
NODE_ANNOTATION = "secbot.io/node"
PREFIX = "secbot-pki-"  # the ConfigMap's name: PREFIX + node (configmap_name)
MAX_NAME = 63  # a DNS-1123 label: valid as a ConfigMap name and anywhere else
RKE2_TLS = "/var/lib/rancher/rke2/server/tls"
MAX_CERT_FILE_BYTES = 1024 * 1024  # RKE2's certificate files are a few KiB
MAX_ENTRIES = 20_000
MAX_INTERVAL_SECONDS = 7 * 24 * 3600  # a longer intervalSeconds is a malformed inventory
MAX_DOCUMENT_CHARS = 2 * 1024 * 1024  # a ConfigMap holds at most 1 MiB; read no more
_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,64})-----")
_KEY = "key"  # _parse's answer for DER that is a private key
_BROKEN = "incomplete certificate block (BEGIN and END lines) or not base64"
_NAME_CHARS = re.compile(r"[^a-z0-9.-]+")


def configmap_name(node: str) -> str:
    """``secbot-pki-<node>`` as a valid DNS-1123 label; a node name that had to be changed
    (too long, odd characters) gets a short hash so two nodes never share a name."""
    clean = _NAME_CHARS.sub("-", node.lower()).strip("-.")
    name = PREFIX + clean
    if clean == node and len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(node.encode()).hexdigest()[:10]
    return f"{name[: MAX_NAME - 11].rstrip('-.')}-{digest}"


def rfc3339(at: datetime) -> str:
    """``at`` in UTC as ``2026-06-01T00:00:00Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pem_of(der: bytes) -> str:
    """One CERTIFICATE block for ``der`` (base64 lines of 64 characters)."""
    text = base64.b64encode(der).decode("ascii")
    lines = "\n".join(text[i : i + 64] for i in range(0, len(text), 64))
    return f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n"


# -- encode ------------------------------------------------------------------------------------
@dataclass
class _Build(WalkState):
    certificates: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)
    keys: int = 0
    other: int = 0

    def problem(self, rel: str, reason: str) -> None:
        self.problems.append({"file": rel, "reason": reason[:300]})


def build_inventory(
    root: Path,
    *,
    node: str,
    now: datetime,
    interval_seconds: int,
    max_entries: int = MAX_ENTRIES,
    cap: int = MAX_CERT_FILE_BYTES,
) -> dict[str, Any]:
    """The inventory document of the certificate files under ``root`` (never raises)."""
    out = _Build()
    if not root.is_dir():
        out.problem(".", "no such folder" if not root.exists() else "not a folder")
    else:
        real = os.path.realpath(root)
        for rel, file in walk_files(real, max_entries, out, out.problem):
            suffix = os.path.splitext(rel)[1].lower()
            if suffix == ".key":
                out.keys += 1  # counted by name only: a key file is never opened
            elif suffix not in CERT_SUFFIXES:
                out.other += 1
            else:
                data = read_contained(file, root=real, cap=cap)
                if isinstance(data, str):
                    out.problem(rel, data)
                else:
                    _read_certificates(out, rel, data)
        out.other += out.linked_dirs
        if out.stopped:
            out.problem(".", f"stopped after {max_entries} files (entry limit)")
        if not out.certificates:  # a wrong mount, not a node without certificates
            out.problem(".", f"no certificate files under {root}: is this {RKE2_TLS}?")
    return {
        "schema": SCHEMA,
        "node": node,
        "root": str(root),
        "updatedAt": rfc3339(now),
        "intervalSeconds": interval_seconds,
        "certificates": out.certificates,
        "problems": out.problems,
        "skipped": {"keys": out.keys, "other": out.other},
    }


def _parse(der: bytes, rel: str) -> CertInfo | str:
    """Facts of one DER certificate; ``_KEY`` for a DER private key; else why not."""
    decoded = certs.decode(der, location=ResourceRef("File", rel), group=rel, allow_der=True)
    if decoded.certs:
        return decoded.certs[0]
    if decoded.keys:
        return _KEY
    return decoded.problems[0].reason if decoded.problems else "certificate does not parse"


def _der(body: bytes) -> bytes | str:
    try:
        return binascii.a2b_base64(b"".join(body.split()), strict_mode=True) or _BROKEN
    except binascii.Error:
        return _BROKEN


def _blocks(data: bytes) -> tuple[list[bytes | str], bool]:
    """DER of every CERTIFICATE block (or why a block is unusable), and whether a private
    key block was seen. Key blocks are only noticed, never decoded."""
    found: list[bytes | str] = []
    has_key = False
    pos = 0
    while (begin := _BEGIN.search(data, pos)) is not None:
        kind = begin.group(1)
        dashes = data.find(b"-----", begin.end())
        end_line = b"-----END " + kind + b"-----"
        complete = dashes >= 0 and data.startswith(end_line, dashes)
        pos = dashes + len(end_line) if complete else begin.end()
        if kind == b"CERTIFICATE":
            found.append(_der(data[begin.end() : dashes]) if complete else _BROKEN)
        elif kind.endswith(b"PRIVATE KEY"):
            has_key = True
    return found, has_key


def _read_certificates(out: _Build, rel: str, data: bytes) -> None:
    der_file = False
    if certs.looks_like_pem(data):
        blocks, has_key = _blocks(data)
        if not blocks:
            if has_key:
                out.keys += 1  # a .pem holding only a private key: nothing to publish
            else:
                out.problem(rel, "no certificate block in the file")
            return
    elif data[:1] == b"\x30":
        blocks, der_file = [data], True
    else:
        out.problem(rel, "no PEM or DER certificate found")
        return
    for index, block in enumerate(blocks):
        info = _parse(block, rel) if isinstance(block, bytes) else block
        if info == _KEY and der_file:
            out.keys += 1  # a DER private key named like a certificate: nothing to publish
            continue
        if isinstance(info, str) or not isinstance(block, bytes):
            reason = "not a certificate" if info == _KEY else str(info)
            out.problem(rel, f"certificate [{index}]: {reason}")
            continue
        out.certificates.append(
            {
                "file": rel,
                "index": index,
                "subject": info.subject,
                "issuer": info.issuer,
                "serial": info.serial,
                "notBefore": rfc3339(info.not_before),
                "notAfter": rfc3339(info.not_after),
                "fingerprint": info.sha256,
                "pem": pem_of(block),  # from the DER: never text copied from the file
            }
        )
