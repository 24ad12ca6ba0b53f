"""Initial store: run log, staged source records with lineage, watermarks.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "run",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(100), nullable=False),
        sa.Column("entity", sa.String(40), nullable=True),
        sa.Column("external_run_id", sa.String(250), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_run_job_started", "run", ["job", "started_at"])
    op.create_table(
        "source_record",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("system", sa.String(20), nullable=False),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("source_key", sa.String(200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("payload_hash", sa.String(64), nullable=False),
        sa.Column("source_stamp", TS, nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("last_changed_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("run.id", ondelete="SET NULL"), nullable=True),
        sa.UniqueConstraint("system", "entity", "source_key", name="uq_source_record_key"),
    )
    op.create_index("ix_source_record_entity_changed", "source_record", ["entity", "last_changed_at"])
    op.create_table(
        "watermark",
        sa.Column("system", sa.String(20), primary_key=True),
        sa.Column("entity", sa.String(40), primary_key=True),
        sa.Column("stamp_field", sa.String(80), nullable=False),
        sa.Column("value", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("run.id", ondelete="SET NULL"), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("watermark")
    op.drop_index("ix_source_record_entity_changed", table_name="source_record")
    op.drop_table("source_record")
    op.drop_index("ix_run_job_started", table_name="run")
    op.drop_table("run")
