"""How an audit record is sealed: canonical JSON, SHA-256 over it and the previous hash,
and an HMAC of that hash when a key is configured.

The canonical form must come out byte for byte the same when a record is written and
years later when it is verified, on any machine: keys sorted, no whitespace
(``separators=(",", ":")``), text as UTF-8 rather than ``\\u`` escapes, datetimes as UTC
ISO 8601 with microseconds and a ``Z`` (``2026-11-29T10:00:00.000000Z``), and no NaN or
infinity (they have no JSON form). A record's hash covers ``seq``, ``at``, ``actor``,
``action``, ``subject`` and ``payload``, followed by the previous record's hash, so
changing, removing or reordering a record breaks the link to every later one.

A hash alone proves nothing against someone who can rewrite the table: they can
recompute every hash after their edit. The HMAC (keyed with ``SECBOT_AUDIT_HMAC_KEY``,
which lives outside the database) is what such a rewrite cannot reproduce.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

HASHED_FIELDS = ("seq", "at", "actor", "action", "subject", "payload")


def iso_utc(ts: datetime) -> str:
    """``ts`` as UTC ISO 8601 with microseconds and "Z"; a naive datetime is refused."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"naive datetime {ts.isoformat()} in an audit record; use UTC")
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _encode(value: object) -> str:
    if isinstance(value, datetime):
        return iso_utc(value)
    raise TypeError(f"{type(value).__name__} has no canonical JSON form")


def canonical_json(value: Any) -> str:
    """The one JSON text of ``value`` that hashes are computed over."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_encode,
    )


def record_hash(record_fields: Mapping[str, Any], prev_hash: str) -> str:
    """Hex SHA-256 of the canonical JSON of the hashed fields, then ``prev_hash``.

    Only ``HASHED_FIELDS`` are taken from ``record_fields`` (KeyError when one is
    missing), so an exported record with its hashes can be passed as it is.
    """
    fields = {name: record_fields[name] for name in HASHED_FIELDS}
    data = canonical_json(fields) + prev_hash
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def record_hmac(key: bytes, digest: str) -> str:
    """Hex HMAC-SHA-256 of a record's hash under ``key``."""
    return hmac.new(key, digest.encode("ascii"), hashlib.sha256).hexdigest()
