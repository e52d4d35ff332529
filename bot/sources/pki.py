"""Source: a folder of PKI files on a node (``/var/lib/rancher/rke2/server/tls``, ``.../agent``).

Walked recursively, never following symbolic links out of the folder. Read: certificate
files (``.crt .pem .cer .der``: every PEM block, or one DER certificate), private keys
(``.key``: only the fingerprint of the public half is kept), kubeconfigs (``*.kubeconfig``,
YAML under ``cred/`` or with embedded certificate data, and any other small file with an
embedded-data key: ``admin.conf``, ``cred/kubeconfig``), dynamiclistener's
``dynamic-cert.json`` and any other small file starting with a PEM header; the rest is
counted and ignored. An unreadable file is a coverage gap ``file:<relative path>`` with
the reason, never a crash or a silent pass (reference/harvester.md §3.1: RKE2 files); a
folder that cannot be listed is one too (``file:<folder>``), and a walk stopped at the
entry limit marks the root ``file:.`` PARTIAL: bot.findings.lifecycle resolves nothing
that was not read.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.core.resources import ResourceRef
from bot.core.snapshot import CoverageStatus, Snapshot
from bot.errors import InputError
from bot.sources import certs
from bot.sources.builder import SnapshotBuilder
from bot.sources.limits import DEFAULT_LIMITS, Limits
from bot.sources.pki_walk import WalkState, read_contained, walk_files

CERT_SUFFIXES = (".crt", ".pem", ".cer", ".der")
SNIFF_MAX_BYTES = 1024 * 1024  # files of no known kind are sniffed for PEM up to this size
_KUBECONFIG_MARKERS = (b"client-certificate-data", b"certificate-authority-data")
# In a file of no known kind, a marker counts only as a YAML or JSON key, not in prose.
_KUBECONFIG_KEY = re.compile(rb'(?:^|[\s{,])"?(?:%s)"?[ \t]*:' % b"|".join(_KUBECONFIG_MARKERS))
_ENCRYPTED = "private key is encrypted or unsupported; it cannot be paired with its certificate"
Gaps = Sequence[str | None]  # reasons a part of a file could not be used (None: it could)


@dataclass
class _Tally(WalkState):
    cert_files: int = 0
    key_files: int = 0
    ignored: int = 0
    bad: list[str] = field(default_factory=list)


def read_pki(
    path: Path, *, cluster: str, scanned_at: datetime, limits: Limits = DEFAULT_LIMITS
) -> Snapshot:
    """Read every certificate and key under ``path`` into a Snapshot (source ``pki``)."""
    if not path.exists():
        raise InputError(str(path), "no such folder")
    if not path.is_dir():
        raise InputError(str(path), "not a folder (give the folder that holds the PKI files)")
    root = os.path.realpath(path)
    builder = SnapshotBuilder(
        cluster=cluster, source="pki", origin=str(path), scanned_at=scanned_at
    )
    tally = _Tally()
    gap = functools.partial(_gap, builder, tally)
    for rel, file in walk_files(root, limits.max_entries, tally, gap):
        _read_file(builder, tally, rel=rel, file=file, root=root, limits=limits)
    if tally.cert_files == 0 and not tally.bad:
        raise InputError(str(path), "folder has no certificate files (.crt, .pem, .cer, .der)")
    detail = (
        f"{tally.cert_files} certificate files ({len(builder.certificates)} certificates), "
        f"{tally.key_files} key files, {tally.ignored} other files ignored"
    )
    if tally.bad:
        more = f" and {len(tally.bad) - 10} more" if len(tally.bad) > 10 else ""
        detail += f"; unreadable: {', '.join(tally.bad[:10])}{more}"
    if tally.linked_dirs:
        detail += f"; {tally.linked_dirs} symlinked folders not followed"
    if tally.stopped:
        stop = f"stopped after {limits.max_entries} files (entry limit)"
        detail += f"; {stop}"
        # The files after the cut are unknown: none of them may count as seen (the marker
        # bot.findings.lifecycle honours; the root's name is the walk's ".").
        builder.cover("file:.", CoverageStatus.PARTIAL, f"not wholly read: {stop}")
    partial = bool(tally.bad) or tally.stopped
    builder.cover("pki", CoverageStatus.PARTIAL if partial else CoverageStatus.READ, detail)
    return builder.build()


def _gap(builder: SnapshotBuilder, tally: _Tally, rel: str, reason: str) -> None:
    builder.cover(f"file:{rel}", CoverageStatus.ERROR, reason[:300])
    tally.bad.append(rel)


_KIND_BY_SUFFIX = dict.fromkeys(CERT_SUFFIXES, "cert") | {
    ".key": "key",
    ".kubeconfig": "kubeconfig",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
}


def _skip(builder: SnapshotBuilder, tally: _Tally, rel: str, *, named: bool, why: str) -> None:
    """A file that was not read: a gap if it is a PKI file by name, else just counted."""
    if named:
        _gap(builder, tally, rel, why)
    else:
        tally.ignored += 1


def _read_file(
    builder: SnapshotBuilder, tally: _Tally, *, rel: str, file: str, root: str, limits: Limits
) -> None:
    kind = _KIND_BY_SUFFIX.get(os.path.splitext(rel)[1].lower(), "other")
    named = kind in ("cert", "key", "kubeconfig")
    cap = limits.max_file_bytes if named else min(limits.max_file_bytes, SNIFF_MAX_BYTES)
    data = read_contained(file, root=root, cap=cap)
    if isinstance(data, str):
        _skip(builder, tally, rel, named=named, why=data)
        return
    _READERS[kind](builder, tally, rel, data)


def _group(rel: str) -> str:
    return os.path.splitext(rel)[0]


def _take(
    builder: SnapshotBuilder, tally: _Tally, rel: str, decoded: certs.Decoded, gaps: Gaps = ()
) -> None:
    builder.certificates.extend(decoded.certs)
    builder.keys.extend(decoded.keys)
    builder.cert_problems.extend(decoded.problems)
    reasons = [f"{p.location.field or 'file'}: {p.reason}" for p in decoded.problems]
    reasons += [g for g in gaps if g]
    if reasons:
        _gap(builder, tally, rel, "; ".join(reasons))
    _note_encrypted(builder, rel, decoded)


def _note_encrypted(builder: SnapshotBuilder, rel: str, decoded: certs.Decoded) -> None:
    if any(not k.spki_sha256 for k in decoded.keys) and f"file:{rel}" not in builder.coverage:
        builder.cover(f"file:{rel}", CoverageStatus.PARTIAL, _ENCRYPTED)


def _cert_file(builder: SnapshotBuilder, tally: _Tally, rel: str, data: bytes) -> None:
    tally.cert_files += 1
    loc = ResourceRef("File", rel)
    _take(builder, tally, rel, certs.decode(data, location=loc, group=_group(rel), allow_der=True))


def _key_file(builder: SnapshotBuilder, tally: _Tally, rel: str, data: bytes) -> None:
    tally.key_files += 1
    loc = ResourceRef("File", rel)
    decoded = certs.decode(data, location=loc, group=_group(rel), allow_der=True)
    if decoded.certs:  # a combined cert+key file: its certificates count like any other
        tally.cert_files += 1
        _take(builder, tally, rel, decoded)
        return
    builder.keys.extend(decoded.keys)
    if not decoded.keys:
        # Not a certificate problem (there is no certificate): only a coverage gap.
        _gap(builder, tally, rel, "no PEM or DER private key found")
    _note_encrypted(builder, rel, decoded)


def _other_file(builder: SnapshotBuilder, tally: _Tally, rel: str, data: bytes) -> None:
    if data.lstrip()[:11] != b"-----BEGIN ":
        if _KUBECONFIG_KEY.search(data):  # admin.conf, cred/kubeconfig: no telling suffix
            _kubeconfig(builder, tally, rel, data)
        else:
            tally.ignored += 1
        return
    tally.cert_files += 1
    decoded = certs.decode(data, location=ResourceRef("File", rel), group=_group(rel))
    _take(builder, tally, rel, decoded)


def _yaml_file(builder: SnapshotBuilder, tally: _Tally, rel: str, data: bytes) -> None:
    if "cred" not in rel.split("/")[:-1] and not any(m in data for m in _KUBECONFIG_MARKERS):
        tally.ignored += 1
        return
    _kubeconfig(builder, tally, rel, data)


def _kubeconfig(builder: SnapshotBuilder, tally: _Tally, rel: str, data: bytes) -> None:
    # Imported here: only kubeconfig files need YAML, and start-up time counts.
    from bot.sources.yamlsafe import DocumentError, load_documents

    try:
        docs = [d for d in load_documents(data.decode("utf-8")) if d is not None]
    except (UnicodeDecodeError, DocumentError) as e:
        _gap(builder, tally, rel, f"kubeconfig does not parse: {str(e)[:200]}")
        return
    doc = docs[0] if len(docs) == 1 and isinstance(docs[0], Mapping) else None
    if doc is None:
        _gap(builder, tally, rel, "not a kubeconfig (expected one YAML mapping)")
        return
    out = certs.Decoded()
    gaps = []
    stem = _group(rel)
    for section, inner, fields in (
        ("clusters", "cluster", ("certificate-authority-data",)),
        ("users", "user", ("client-certificate-data", "client-key-data")),
    ):
        entries = doc.get(section)
        for i, entry in enumerate(entries if isinstance(entries, list) else []):
            body = entry.get(inner) if isinstance(entry, Mapping) else None
            if not isinstance(body, Mapping):
                continue
            name = str(entry.get("name") or i)
            for key in fields:
                loc = ResourceRef("File", rel, field=f"{section}[{name}].{key}")
                group = f"{stem}#{section}[{name}]"
                gaps.append(certs.decode_field(out, body.get(key), location=loc, group=group))
    if out.certs or out.problems:
        tally.cert_files += 1
    else:
        tally.ignored += 1  # e.g. RKE2's cred/*.kubeconfig point at files instead
    _take(builder, tally, rel, out, gaps)


def _json_file(builder: SnapshotBuilder, tally: _Tally, rel: str, data: bytes) -> None:
    """dynamiclistener stores its serving cert as a JSON Secret (``dynamic-cert.json``)."""
    if b'"tls.crt"' not in data:
        tally.ignored += 1
        return
    tally.cert_files += 1
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError, JSONDecodeError, nesting
        _gap(builder, tally, rel, f"JSON does not parse: {str(e)[:200]}")
        return
    secret_data = doc.get("data") if isinstance(doc, Mapping) else None
    if not isinstance(secret_data, Mapping):
        _gap(builder, tally, rel, "JSON has no data map with tls.crt")
        return
    out = certs.Decoded()
    gaps = []
    for key in ("tls.crt", "tls.key"):
        loc = ResourceRef("File", rel, field=f"data.{key}")
        gaps.append(certs.decode_field(out, secret_data.get(key), location=loc, group=_group(rel)))
    _take(builder, tally, rel, out, gaps)


_READERS = {
    "cert": _cert_file,
    "key": _key_file,
    "kubeconfig": _kubeconfig,
    "yaml": _yaml_file,
    "json": _json_file,
    "other": _other_file,
}
