"""Write, verify and export the audit log.

``AuditLog.record`` appends one record in the caller's transaction, so the record and the
change it describes commit together or not at all (a silence without its audit record
cannot exist, nor the reverse). Free text in the payload and subject is masked
(``bot.core.masking.mask_text``: people paste proxy URLs with passwords), and the payload
is stored in exactly the canonical form it was hashed in (datetimes become ISO strings).

``verify`` walks the chain in ``seq`` order, streaming, and names the first record that
does not hold, with the reason:

- "sequence gap or reorder": a number is missing (that number is named), or the record
  is neither intact nor linked to its predecessor, which is what moving a record to
  another place in the chain looks like;
- "hash mismatch": the record's content no longer matches its hash;
- "prev_hash does not match": the record is intact but does not follow the one before
  it (its predecessor was rewritten and re-hashed, or its own link was edited);
- "hmac missing" / "hmac mismatch": with a key, every record needs a valid HMAC, which
  is what catches a rewrite that recomputed the hashes.

Records removed from the end of the log leave an intact, shorter chain: the count and
the newest hash ``verify`` reports are what to compare with an earlier run or export.
"""

from __future__ import annotations

import hmac as hmac_lib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.audit.chain import canonical_json, iso_utc, record_hash, record_hmac
from bot.audit.views import AuditEntry, VerifyResult
from bot.core.masking import mask_text
from bot.store.db import Engine, Session, read_scope
from bot.store.repos import audit as audit_repo

SYSTEM = "system"  # the actor of steps nobody typed (jobs, the executor)
MAX_NAME = 64  # actor and action columns

SEQUENCE = "sequence gap or reorder"
HASH_MISMATCH = "hash mismatch"
PREV_MISMATCH = "prev_hash does not match"
HMAC_MISMATCH = "hmac mismatch"
HMAC_MISSING = "hmac missing"

__all__ = ["SYSTEM", "AuditEntry", "AuditLog", "VerifyResult", "export", "recent", "verify"]


@dataclass(frozen=True)
class AuditLog:
    """Appends records; ``hmac_key`` (SECBOT_AUDIT_HMAC_KEY) seals each one when set.

    The key is left out of the repr, so logging the services never prints it.
    """

    hmac_key: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.hmac_key is not None and not self.hmac_key:
            raise ValueError("an empty HMAC key protects nothing; pass None instead")

    def record(
        self,
        session: Session,
        *,
        actor: str,
        action: str,
        subject: str,
        payload: Mapping[str, Any],
        at: datetime,
    ) -> int:
        """Append a record in the caller's transaction; returns its seq."""
        for name, value in (("actor", actor), ("action", action)):
            if not value or len(value) > MAX_NAME:
                raise ValueError(f"audit {name} must be 1 to {MAX_NAME} characters: {value!r}")
        iso_utc(at)  # refuses a naive datetime before anything is written
        clean_subject = mask_text(subject)
        # Stored as it was hashed: the canonical JSON parsed back (datetimes -> strings).
        clean_payload: dict[str, Any] = json.loads(canonical_json(_masked(dict(payload))))
        key = self.hmac_key

        def seal(seq: int, prev_hash: str) -> tuple[str, str | None]:
            fields = {
                "seq": seq,
                "at": at,
                "actor": actor,
                "action": action,
                "subject": clean_subject,
                "payload": clean_payload,
            }
            digest = record_hash(fields, prev_hash)
            return digest, None if key is None else record_hmac(key, digest)

        row = audit_repo.append(
            session,
            at=at,
            actor=actor,
            action=action,
            subject=clean_subject,
            payload=clean_payload,
            seal=seal,
        )
        return row.seq


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


def verify(source: Engine | Session, *, hmac_key: bytes | None) -> VerifyResult:
    """Check the whole chain (streaming); see the module docstring for the reasons."""
    if isinstance(source, Engine):
        with read_scope(source) as session:
            return _verify(session, hmac_key)
    return _verify(source, hmac_key)


def _verify(session: Session, key: bytes | None) -> VerifyResult:
    count, prev, seen = 0, "", False
    checked = key is not None

    def broken(seq: int, reason: str) -> VerifyResult:
        return VerifyResult(
            ok=False,
            count=count,
            first_broken=seq,
            reason=reason,
            hmac_checked=checked,
            hmac_seen=seen,
            last_hash=prev,
        )

    for row in audit_repo.iterate(session):
        expected = count + 1
        seen = seen or row.hmac is not None
        if row.seq != expected:
            return broken(expected, SEQUENCE)
        fields = row._asdict()  # record_hash takes the hashed fields from it
        intact = hmac_lib.compare_digest(record_hash(fields, row.prev_hash), row.hash)
        linked = row.prev_hash == prev
        if not linked:
            # Only the link column was edited: the record hashes with the true link.
            relinked = hmac_lib.compare_digest(record_hash(fields, prev), row.hash)
            return broken(expected, PREV_MISMATCH if intact or relinked else SEQUENCE)
        if not intact:
            return broken(expected, HASH_MISMATCH)
        if key is not None:
            if row.hmac is None:
                return broken(expected, HMAC_MISSING)
            if not hmac_lib.compare_digest(record_hmac(key, row.hash), row.hmac):
                return broken(expected, HMAC_MISMATCH)
        count, prev = expected, row.hash
    return VerifyResult(ok=True, count=count, hmac_checked=checked, hmac_seen=seen, last_hash=prev)


def export(session: Session, *, since: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Every record (or those at or after ``since``) in seq order, with its hashes, as
    JSON-ready dicts; streamed."""
    for row in audit_repo.iterate(session, since=since):
        yield {**row._asdict(), "at": iso_utc(row.at)}


def recent(session: Session, *, limit: int, subject: str | None = None) -> list[AuditEntry]:
    """The newest ``limit`` records (of one subject, or all), newest first."""
    return [
        AuditEntry(
            seq=row.seq,
            at=row.at,
            actor=row.actor,
            action=row.action,
            subject=row.subject,
            payload=dict(row.payload),
        )
        for row in audit_repo.recent(session, limit=limit, subject=subject)
    ]
