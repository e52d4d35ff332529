"""Decode the node agent's PKI inventory (``bot.sources.pki_inventory``): the live source's
side. Nothing in the document is trusted: every field is checked (InventoryError, one
line), numbers are bounded (``intervalSeconds`` is 1 s to 7 days: the reader builds
timedeltas from it), each certificate entry and each problem entry is checked on its own
(a bad one is dropped and named in ``errors``), and each certificate is decoded again from
its PEM and checked against its published fingerprint (``cert_of``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from bot.core.certs import CertInfo
from bot.core.resources import ResourceRef
from bot.sources import certs
from bot.sources.pki_inventory import MAX_DOCUMENT_CHARS, MAX_INTERVAL_SECONDS, SCHEMA

_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
_NODE = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")  # a Kubernetes node name
_MAX_PATH = 4096
_MAX_INDEX = 100_000  # certificates in one file (a file is at most 1 MiB)


class InventoryError(ValueError):
    """A document that is not a usable inventory; the message is one line."""


@dataclass(frozen=True, slots=True)
class InventoryCert:
    file: str
    index: int
    fingerprint: str
    pem: str


@dataclass(frozen=True, slots=True)
class Inventory:
    """A parsed inventory; ``errors`` are its entries that were malformed (and dropped)."""

    node: str
    updated_at: datetime
    interval_seconds: int
    certificates: tuple[InventoryCert, ...]
    problems: tuple[tuple[str, str], ...]  # (file, reason) as the agent reported them
    errors: tuple[str, ...] = ()


def is_node_name(text: str) -> bool:
    """Is ``text`` a Kubernetes node name (a DNS-1123 subdomain)?"""
    return _NODE.fullmatch(text) is not None


def _text(doc: Mapping[str, Any], key: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise InventoryError(f"{key} is missing or not a string")
    return value


def _int(doc: Mapping[str, Any], key: str, *, least: int, most: int | None = None) -> int:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InventoryError(f"{key} is missing or not a whole number >= {least}")
    if most is not None and value > most:
        raise InventoryError(f"{key} is over {most}")
    return value


def _path(raw: Mapping[str, Any], key: str) -> str:
    """A relative path inside the folder (or ``.``, the folder itself)."""
    path = _text(raw, key)
    if (
        len(path) > _MAX_PATH
        or path.startswith("/")
        or ".." in path.split("/")
        or any(ord(c) < 32 for c in path)
    ):
        raise InventoryError(f"{key} is not a path inside the folder")
    return path


def _entry(raw: Any) -> InventoryCert:
    if not isinstance(raw, Mapping):
        raise InventoryError("not an object")
    fingerprint, file = _text(raw, "fingerprint"), _path(raw, "file")
    if not _FINGERPRINT.fullmatch(fingerprint):
        raise InventoryError("fingerprint is not 64 hex digits")
    index = _int(raw, "index", least=0, most=_MAX_INDEX)
    return InventoryCert(file, index, fingerprint, _text(raw, "pem"))


def _problem(raw: Any) -> tuple[str, str]:
    if not isinstance(raw, Mapping):
        raise InventoryError("not an object")
    reason = raw.get("reason")
    reason = " ".join(reason.split())[:300] if isinstance(reason, str) else ""
    return _path(raw, "file"), reason or "unreadable"


def parse_inventory(text: str) -> Inventory:
    """The inventory in ``text``; InventoryError (one line) when it is not one."""
    if len(text) > MAX_DOCUMENT_CHARS:
        raise InventoryError(f"document is over {MAX_DOCUMENT_CHARS} characters")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise InventoryError(f"not JSON: {str(e)[:120]}") from None
    if not isinstance(doc, Mapping):
        raise InventoryError("not a JSON object")
    if doc.get("schema") != SCHEMA:
        raise InventoryError(f"schema is {str(doc.get('schema'))[:60]!r}, expected {SCHEMA}")
    if not is_node_name(node := _text(doc, "node")):
        raise InventoryError(f"node {node[:60]!r} is not a Kubernetes node name")
    try:
        updated = datetime.fromisoformat(_text(doc, "updatedAt").replace("Z", "+00:00"))
    except ValueError:
        raise InventoryError("updatedAt is not an RFC 3339 time") from None
    if updated.tzinfo is None:
        raise InventoryError("updatedAt has no time zone")
    try:
        updated = updated.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 has no UTC time
        raise InventoryError("updatedAt is out of range") from None
    interval = _int(doc, "intervalSeconds", least=1, most=MAX_INTERVAL_SECONDS)
    entries, reported, errors = doc.get("certificates"), doc.get("problems"), []
    if not isinstance(entries, list) or not isinstance(reported, list):
        raise InventoryError("certificates or problems is not a list")
    found, problems = [], []
    for i, raw in enumerate(entries):
        try:
            found.append(_entry(raw))
        except InventoryError as e:
            errors.append(f"certificates[{i}]: {e}")
    for i, raw in enumerate(reported):
        try:
            problems.append(_problem(raw))
        except InventoryError as e:
            errors.append(f"problems[{i}]: {e}")
    return Inventory(
        node=node,
        updated_at=updated,
        interval_seconds=interval,
        certificates=tuple(found),
        problems=tuple(problems),
        errors=tuple(errors),
    )


def cert_of(entry: InventoryCert, *, location: ResourceRef, group: str) -> CertInfo | str:
    """The CertInfo of one published certificate at ``location``, or why it is unusable."""
    if "PRIVATE KEY" in entry.pem:
        return "holds a private key block; ignored"
    decoded = certs.decode(entry.pem.encode("utf-8", "replace"), location=location, group=group)
    if decoded.problems or decoded.keys or len(decoded.certs) != 1:
        why = decoded.problems[0].reason if decoded.problems else "not exactly one certificate"
        return f"pem: {why}"
    info = decoded.certs[0]
    if info.sha256 != entry.fingerprint:
        return "fingerprint does not match the pem"
    return replace(info, location=location, index=entry.index)
