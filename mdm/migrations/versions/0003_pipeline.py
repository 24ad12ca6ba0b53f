"""Pipeline: the golden id a source record carries, and what each golden record was last merged from.

``canonical_record.carried_golden_id`` is SyncHub's id as the source system holds it (Salesforce
``SyncHub_Id__c``, SAP ``BusinessPartnerIDByExtSystem``): the match step links such a record to that
golden record, which is how a crash between a write and the xref capture recovers.
``golden_record.member_keys_hash`` / ``merge_input_hash`` say which live records (and which of their
values) the golden values were last merged from, so merge only redoes golden records that changed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("canonical_record") as batch:
        batch.add_column(sa.Column("carried_golden_id", sa.String(20), nullable=True))
    with op.batch_alter_table("golden_record") as batch:
        batch.add_column(sa.Column("member_keys_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("merge_input_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("merged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("golden_record") as batch:
        batch.drop_column("merged_at")
        batch.drop_column("merge_input_hash")
        batch.drop_column("member_keys_hash")
    with op.batch_alter_table("canonical_record") as batch:
        batch.drop_column("carried_golden_id")
