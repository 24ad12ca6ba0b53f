"""Orders and the error queue: where each CRM order stands on its way to the ERP, and rejected writes.

``order_sync`` keeps, per CRM order, its ERP order number, its state (waiting for master data, failed,
created, linked) with a reason an admin can read, and what SyncHub last wrote back to the CRM order.
``dead_letter`` keeps writes a system rejected, with the remote error code and message.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _run_fk() -> sa.Column:
    return sa.Column("run_id", sa.Integer(), sa.ForeignKey("run.id", ondelete="SET NULL"), nullable=True)


def upgrade() -> None:
    op.create_table(
        "order_sync",
        sa.Column("crm_order_id", sa.String(40), primary_key=True),
        sa.Column("crm_order_number", sa.String(40), nullable=True),
        sa.Column("erp_order", sa.String(20), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("customer_golden_id", sa.String(20), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("payload_hash", sa.String(64), nullable=True),
        sa.Column("crm_written", sa.JSON(), nullable=True),
        sa.Column("crm_written_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        _run_fk(),
    )
    op.create_index("ix_order_sync_state", "order_sync", ["state"])
    op.create_index("ix_order_sync_erp_order", "order_sync", ["erp_order"])
    op.create_table(
        "dead_letter",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("system", sa.String(20), nullable=False),
        sa.Column("operation", sa.String(40), nullable=False),
        sa.Column("record_key", sa.String(200), nullable=False),
        sa.Column("code", sa.String(100), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", TS, nullable=False),
        sa.Column("last_failed_at", TS, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
        _run_fk(),
        sa.UniqueConstraint("entity", "system", "operation", "record_key", name="uq_dead_letter_write"),
    )
    op.create_index("ix_dead_letter_status", "dead_letter", ["status"])


def downgrade() -> None:
    op.drop_index("ix_dead_letter_status", table_name="dead_letter")
    op.drop_table("dead_letter")
    op.drop_index("ix_order_sync_erp_order", table_name="order_sync")
    op.drop_index("ix_order_sync_state", table_name="order_sync")
    op.drop_table("order_sync")
