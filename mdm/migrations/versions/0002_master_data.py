"""Master data: canonical records, golden records with versions, xref, match decisions, publish state.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _run_fk() -> sa.Column:
    return sa.Column("run_id", sa.Integer(), sa.ForeignKey("run.id", ondelete="SET NULL"), nullable=True)


def upgrade() -> None:
    op.create_table(
        "canonical_record",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("system", sa.String(20), nullable=False),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("source_key", sa.String(200), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("values_hash", sa.String(64), nullable=False),
        sa.Column("source_stamp", TS, nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("quarantine_reason", sa.Text(), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        _run_fk(),
        sa.UniqueConstraint("system", "entity", "source_key", name="uq_canonical_record_key"),
    )
    op.create_table(
        "golden_record",
        sa.Column("id", sa.String(20), primary_key=True),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("provenance", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("merged_into", sa.String(20), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_golden_record_entity", "golden_record", ["entity", "status"])
    op.create_table(
        "golden_record_version",
        sa.Column(
            "golden_id",
            sa.String(20),
            sa.ForeignKey("golden_record.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("provenance", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        _run_fk(),
    )
    op.create_table(
        "xref",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "golden_id", sa.String(20), sa.ForeignKey("golden_record.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("system", sa.String(20), nullable=False),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("source_key", sa.String(200), nullable=False),
        sa.Column("created_by_synchub", sa.Boolean(), nullable=False),
        sa.Column("link_rule", sa.String(100), nullable=True),
        sa.Column("linked_at", TS, nullable=False),
        sa.UniqueConstraint("system", "entity", "source_key", name="uq_xref_source"),
    )
    op.create_index("ix_xref_golden", "xref", ["golden_id"])
    op.create_table(
        "match_decision",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("left_system", sa.String(20), nullable=False),
        sa.Column("left_key", sa.String(200), nullable=False),
        sa.Column("right_system", sa.String(20), nullable=False),
        sa.Column("right_key", sa.String(200), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("left_hash", sa.String(64), nullable=False),
        sa.Column("right_hash", sa.String(64), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", TS, nullable=False),
        _run_fk(),
        sa.UniqueConstraint(
            "entity", "left_system", "left_key", "right_system", "right_key", name="uq_match_pair"
        ),
    )
    op.create_index("ix_match_decision_status", "match_decision", ["entity", "status"])
    op.create_table(
        "publish_state",
        sa.Column(
            "golden_id",
            sa.String(20),
            sa.ForeignKey("golden_record.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("system", sa.String(20), primary_key=True),
        sa.Column("remote_key", sa.String(200), nullable=True),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("values_hash", sa.String(64), nullable=False),
        sa.Column("written_at", TS, nullable=False),
        _run_fk(),
    )


def downgrade() -> None:
    op.drop_table("publish_state")
    op.drop_index("ix_match_decision_status", table_name="match_decision")
    op.drop_table("match_decision")
    op.drop_index("ix_xref_golden", table_name="xref")
    op.drop_table("xref")
    op.drop_table("golden_record_version")
    op.drop_index("ix_golden_record_entity", table_name="golden_record")
    op.drop_table("golden_record")
    op.drop_table("canonical_record")
