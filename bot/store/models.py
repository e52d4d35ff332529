"""ORM models of the store: clusters, scans, findings, silences, credential rotations and
the certificate inventory (DESIGN.md "Data model").

Rules the schema encodes:
- A finding is identified by (cluster, fingerprint); its integer id is what users see as
  ``F-<id>`` and survives resolve / reopen.
- Timestamps are stored in UTC and always read back timezone-aware (``UTCDateTime``),
  also on SQLite, which has no time zone type.
- Nothing secret is stored: evidence is non-secret by contract (bot.core.finding); the
  certificate inventory keeps subjects, serials, fingerprints, dates and locations only.
- A silence always has a reason and an expiry; removing one keeps the row (removed_at).

Constraint names come from the naming convention so migrations can refer to them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.core.resources import ResourceRef
from bot.core.snapshot import CREDENTIAL_KINDS

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SOURCE_KINDS = ("bundle", "manifests", "pki", "live")
STATE_OPEN = "open"
STATE_RESOLVED = "resolved"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC; naive values are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored; use UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # SQLite returns naive values (they were stored as UTC); PostgreSQL returns them
        # in the session time zone.
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Cluster(Base):
    """A cluster known to the store, by its configured name."""

    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Scan(Base):
    """One scan of one cluster from one source, successful or failed (``error``)."""

    __tablename__ = "scans"
    __table_args__ = (
        CheckConstraint(_in("source", SOURCE_KINDS), name="source"),
        Index(None, "cluster_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    source: Mapped[str] = mapped_column(String(16))
    origin: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # [{"subject", "status", "detail"}]: what the source could read (bot.core.snapshot).
    coverage: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    # [{"check", "reason"}]: checks that answered UNKNOWN.
    unknowns: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    # {"findings", "critical", "warning", "info", "new", "escalated", "unchanged",
    #  "reopened", "resolved", "unknown"}: integers, for listings without joins.
    counts: Mapped[dict[str, int]] = mapped_column(JSON)


class FindingRow(Base):
    """The stored lifecycle of one finding (one fingerprint in one cluster)."""

    __tablename__ = "findings"
    __table_args__ = (
        UniqueConstraint("cluster_id", "fingerprint"),
        CheckConstraint(_in("state", (STATE_OPEN, STATE_RESOLVED)), name="state"),
        CheckConstraint(_in("source", SOURCE_KINDS), name="source"),
        Index(None, "cluster_id", "state"),
        Index(None, "check_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    fingerprint: Mapped[str] = mapped_column(String(64))
    check_id: Mapped[str] = mapped_column(String(100))
    resource_kind: Mapped[str] = mapped_column(String(100))
    resource_namespace: Mapped[str] = mapped_column(String(253))
    resource_name: Mapped[str] = mapped_column(Text)
    resource_field: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(16))
    tier: Mapped[str | None] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    # The source kind that last saw it: only a scan from that source may resolve it.
    source: Mapped[str] = mapped_column(String(16))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"))
    last_scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"))

    @property
    def resource(self) -> ResourceRef:
        return ResourceRef(
            kind=self.resource_kind,
            name=self.resource_name,
            namespace=self.resource_namespace,
            field=self.resource_field,
        )


class Silence(Base):
    """A finding muted by a person until ``expires_at``, for a reason."""

    __tablename__ = "silences"
    __table_args__ = (
        CheckConstraint("expires_at > created_at", name="expiry"),
        Index(None, "finding_id", "expires_at"),
        Index(None, "cluster_id", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"))
    reason: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(64))  # Slack user id
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    removed_by: Mapped[str | None] = mapped_column(String(64))


class CredentialRotation(Base):
    """A person's record that a node credential was rotated (``node`` may be "all")."""

    __tablename__ = "credential_rotations"
    __table_args__ = (
        CheckConstraint(_in("kind", CREDENTIAL_KINDS), name="kind"),
        Index(None, "cluster_id", "kind", "node"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    node: Mapped[str] = mapped_column(String(253))
    kind: Mapped[str] = mapped_column(String(32))
    rotated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(64))  # Slack user id


class CertInventoryRow(Base):
    """One distinct certificate a scan saw; replaced per (cluster, source) by each scan."""

    __tablename__ = "cert_inventory"
    __table_args__ = (
        CheckConstraint(_in("source", SOURCE_KINDS), name="source"),
        Index(None, "cluster_id", "not_after"),
        Index(None, "cluster_id", "source"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"))
    source: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text)
    issuer: Mapped[str] = mapped_column(Text)
    serial: Mapped[str] = mapped_column(Text)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    # The ResourceRef key of the first location (what certificate findings are about).
    location_key: Mapped[str] = mapped_column(Text)
    is_ca: Mapped[bool] = mapped_column(Boolean)
    # Renews itself by design (KubeVirt's daily certificates): only matters once expired.
    auto_renews: Mapped[bool] = mapped_column(Boolean)


# The operational tables (outbox, finding history, job claims), the audit log and
# remediation requests live in their own modules;
# importing it here keeps Base.metadata complete for Alembic and the drift test.
from bot.store import models_audit as _audit  # noqa: E402, F401
from bot.store import models_ops as _ops  # noqa: E402, F401
from bot.store import models_remediation as _remediation  # noqa: E402, F401
