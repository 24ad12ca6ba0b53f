"""Data quality and stewardship: expectation results per run, who acted on the error queue, an audit log.

``dq_result`` keeps each expectation's outcome per validation (records checked and failed), for the
DQ report's pass rates over recent runs. ``dead_letter`` learns who resolved an entry and why it was
discarded. ``audit_log`` records every action a person takes (review decisions, replays, discards).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dq_result",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("run.id", ondelete="CASCADE"), nullable=True),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("suite", sa.String(100), nullable=False),
        sa.Column("system", sa.String(20), nullable=True),
        sa.Column("expectation", sa.String(200), nullable=False),
        sa.Column("column", sa.String(100), nullable=True),
        sa.Column("checked", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("examples", sa.JSON(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_dq_result_run", "dq_result", ["run_id"])
    op.create_index("ix_dq_result_entity_created", "dq_result", ["entity", "created_at"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    with op.batch_alter_table("dead_letter") as batch:
        batch.add_column(sa.Column("resolved_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dead_letter") as batch:
        batch.drop_column("note")
        batch.drop_column("resolved_by")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_dq_result_entity_created", table_name="dq_result")
    op.drop_index("ix_dq_result_run", table_name="dq_result")
    op.drop_table("dq_result")
