"""Initial schema: clusters, scans, findings.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

Written by hand against bot.store.models (names follow its naming convention);
tests/store/test_migrations.py proves autogenerate finds no drift on SQLite and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SOURCES = "source IN ('bundle', 'manifests', 'pki', 'live')"


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "clusters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clusters")),
        sa.UniqueConstraint("name", name=op.f("uq_clusters_name")),
    )
    op.create_table(
        "scans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("finished_at", _utc(), nullable=False),
        sa.Column("coverage", sa.JSON(), nullable=False),
        sa.Column("unknowns", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.CheckConstraint(_SOURCES, name=op.f("ck_scans_source")),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_scans_cluster_id_clusters")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scans")),
    )
    with op.batch_alter_table("scans") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_scans_cluster_id_started_at"), ["cluster_id", "started_at"]
        )
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("check_id", sa.String(length=100), nullable=False),
        sa.Column("resource_kind", sa.String(length=100), nullable=False),
        sa.Column("resource_namespace", sa.String(length=253), nullable=False),
        sa.Column("resource_name", sa.Text(), nullable=False),
        sa.Column("resource_field", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("first_seen", _utc(), nullable=False),
        sa.Column("last_seen", _utc(), nullable=False),
        sa.Column("resolved_at", _utc(), nullable=True),
        sa.Column("first_scan_id", sa.Integer(), nullable=False),
        sa.Column("last_scan_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("state IN ('open', 'resolved')", name=op.f("ck_findings_state")),
        sa.CheckConstraint(_SOURCES, name=op.f("ck_findings_source")),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_findings_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["first_scan_id"], ["scans.id"], name=op.f("fk_findings_first_scan_id_scans")
        ),
        sa.ForeignKeyConstraint(
            ["last_scan_id"], ["scans.id"], name=op.f("fk_findings_last_scan_id_scans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
        sa.UniqueConstraint(
            "cluster_id", "fingerprint", name=op.f("uq_findings_cluster_id_fingerprint")
        ),
    )
    with op.batch_alter_table("findings") as batch_op:
        batch_op.create_index(batch_op.f("ix_findings_check_id"), ["check_id"])
        batch_op.create_index(batch_op.f("ix_findings_cluster_id_state"), ["cluster_id", "state"])


def downgrade() -> None:
    with op.batch_alter_table("findings") as batch_op:
        batch_op.drop_index(batch_op.f("ix_findings_cluster_id_state"))
        batch_op.drop_index(batch_op.f("ix_findings_check_id"))
    op.drop_table("findings")
    with op.batch_alter_table("scans") as batch_op:
        batch_op.drop_index(batch_op.f("ix_scans_cluster_id_started_at"))
    op.drop_table("scans")
    op.drop_table("clusters")
