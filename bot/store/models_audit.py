"""ORM model of the audit log (DESIGN.md "Audit", "Data model": audit_events).

One append-only row per audited step (a silence added or removed, a rotation recorded, a
denied command, later every remediation transition). The rows form a hash chain:

- ``seq`` numbers them 1, 2, 3 … without gaps; it is assigned by ``repos.audit.append``
  under a lock (not by an autoincrement, whose sequence skips numbers on rollback);
- ``hash`` is the SHA-256 of the record's canonical JSON and ``prev_hash`` (the previous
  row's ``hash``, "" for the first), computed by ``bot.audit.chain``;
- ``hmac`` is an HMAC-SHA-256 of ``hash`` when a key is configured (else NULL): without
  the key, nobody can rewrite the chain and make it verify.

``payload`` is non-secret by contract (free text masked before it gets here). Nothing
here is ever updated or deleted by secbot; ``secbot audit verify`` finds the row where
someone else did.

Imported at the end of bot.store.models, so ``Base.metadata`` always holds this table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, UTCDateTime


class AuditEvent(Base):
    """One audited step: who (``actor``) did what (``action``) to what (``subject``)."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("seq"), Index(None, "at"), Index(None, "subject"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))  # Slack user id, or "system"
    action: Mapped[str] = mapped_column(String(64))  # "silence.add", "command.denied", …
    subject: Mapped[str] = mapped_column(Text)  # "F-12", "cluster:prod/node:all", …
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    hmac: Mapped[str | None] = mapped_column(String(64))
