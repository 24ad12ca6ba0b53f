"""Tables of the store. Schema changes go through Alembic migrations in ``mdm/migrations``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: DateTime(timezone=True), dict[str, Any]: JSON}


class Run(Base):
    """One execution of a job (a DAG run or a CLI command): what it did and how it ended."""

    __tablename__ = "run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(100))  # e.g. "synchub_customer"
    entity: Mapped[str | None] = mapped_column(String(40))
    external_run_id: Mapped[str | None] = mapped_column(String(250))  # Airflow's run_id
    status: Mapped[str] = mapped_column(String(20), default="running")  # running, success, failed
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_run_job_started", "job", "started_at"),)


class SourceRecord(Base):
    """The latest raw payload of one record of one system, with its lineage.

    Keyed by (system, entity, source_key). ``payload_hash`` lets staging skip unchanged
    payloads cheaply; ``source_stamp`` is the system's own change stamp when it has one.
    """

    __tablename__ = "source_record"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(String(20))  # "salesforce" | "sap"
    entity: Mapped[str] = mapped_column(String(40))  # "customer", "product", "price", "order"
    source_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]
    payload_hash: Mapped[str] = mapped_column(String(64))
    source_stamp: Mapped[dt.datetime | None]
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id", ondelete="SET NULL"))

    __table_args__ = (
        UniqueConstraint("system", "entity", "source_key", name="uq_source_record_key"),
        Index("ix_source_record_entity_changed", "entity", "last_changed_at"),
    )


class Watermark(Base):
    """How far incremental extraction of one entity from one system has safely got."""

    __tablename__ = "watermark"

    system: Mapped[str] = mapped_column(String(20), primary_key=True)
    entity: Mapped[str] = mapped_column(String(40), primary_key=True)
    stamp_field: Mapped[str] = mapped_column(String(80))
    value: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id", ondelete="SET NULL"))


class CanonicalRecord(Base):
    """A source record mapped to the canonical model (``mappings/<entity>.yaml``), ready to match."""

    __tablename__ = "canonical_record"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(String(20))
    entity: Mapped[str] = mapped_column(String(40))
    source_key: Mapped[str] = mapped_column(String(200))
    values: Mapped[dict[str, Any]]
    values_hash: Mapped[str] = mapped_column(String(64))
    source_stamp: Mapped[dt.datetime | None]
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    quarantine_reason: Mapped[str | None] = mapped_column(Text)  # set: kept out of matching and publishing
    # SyncHub's golden id as the source holds it (SyncHub_Id__c, BusinessPartnerIDByExtSystem), if any.
    carried_golden_id: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id", ondelete="SET NULL"))

    __table_args__ = (UniqueConstraint("system", "entity", "source_key", name="uq_canonical_record_key"),)


class GoldenRecord(Base):
    """The trusted record of one real-world thing, with per-field provenance ("why this value won")."""

    __tablename__ = "golden_record"

    # SyncHub's id, also the external id written to both systems: at most 20 characters, because
    # SAP's BusinessPartnerIDByExtSystem holds 20.
    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    entity: Mapped[str] = mapped_column(String(40))
    values: Mapped[dict[str, Any]]
    # field -> {"system", "source_key", "rule", "value"}
    provenance: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), default="active")  # active, merged, retired
    merged_into: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # What the values were last merged from: the live members' keys, and their keys, values and stamps
    # (with the survivorship rules); merge redoes a golden record only when one of them changed.
    member_keys_hash: Mapped[str | None] = mapped_column(String(64))
    merge_input_hash: Mapped[str | None] = mapped_column(String(64))
    merged_at: Mapped[dt.datetime | None]

    __table_args__ = (Index("ix_golden_record_entity", "entity", "status"),)


class GoldenRecordVersion(Base):
    """Every version a golden record has had."""

    __tablename__ = "golden_record_version"

    golden_id: Mapped[str] = mapped_column(
        ForeignKey("golden_record.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    values: Mapped[dict[str, Any]]
    provenance: Mapped[dict[str, Any]]
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id", ondelete="SET NULL"))


class Xref(Base):
    """Cross-reference: which record of which system belongs to which golden record."""

    __tablename__ = "xref"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    golden_id: Mapped[str] = mapped_column(ForeignKey("golden_record.id", ondelete="CASCADE"))
    system: Mapped[str] = mapped_column(String(20))
    entity: Mapped[str] = mapped_column(String(40))
    source_key: Mapped[str] = mapped_column(String(200))
    created_by_synchub: Mapped[bool] = mapped_column(Boolean, default=False)  # SyncHub created it there
    link_rule: Mapped[str | None] = mapped_column(String(100))  # how it was linked (rule or decision)
    linked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("system", "entity", "source_key", name="uq_xref_source"),
        Index("ix_xref_golden", "golden_id"),
    )


class MatchDecision(Base):
    """A scored candidate pair and what became of it, with the evidence behind the score."""

    __tablename__ = "match_decision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(40))
    left_system: Mapped[str] = mapped_column(String(20))
    left_key: Mapped[str] = mapped_column(String(200))
    right_system: Mapped[str] = mapped_column(String(20))
    right_key: Mapped[str] = mapped_column(String(200))
    score: Mapped[float] = mapped_column(Float)
    rule: Mapped[str] = mapped_column(String(100))  # deterministic rule name, or "fuzzy"
    evidence: Mapped[dict[str, Any]]
    # auto_linked, review, approved, rejected, new (merge-as-new)
    status: Mapped[str] = mapped_column(String(20))
    # Hashes of both records' canonical values when decided: a rejected pair comes back only if they change.
    left_hash: Mapped[str] = mapped_column(String(64))
    right_hash: Mapped[str] = mapped_column(String(64))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id", ondelete="SET NULL"))

    __table_args__ = (
        UniqueConstraint(
            "entity", "left_system", "left_key", "right_system", "right_key", name="uq_match_pair"
        ),
        Index("ix_match_decision_status", "entity", "status"),
    )


class MatchModelRow(Base):
    """One learnt (or pinned) match model of an entity: m/u per comparison level and the prior."""

    __tablename__ = "match_model"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per entity
    settings_digest: Mapped[str] = mapped_column(String(64))  # the match settings it fits
    records: Mapped[int] = mapped_column(Integer)  # live records it was learnt on
    prior: Mapped[float] = mapped_column(Float)
    parameters: Mapped[dict[str, Any]]  # MatchModel.to_dict()
    report: Mapped[dict[str, Any]]  # how it was learnt: sessions, known matches, checks
    reason: Mapped[str] = mapped_column(String(200))  # why it was learnt: no model, data moved, asked
    trained_by: Mapped[str] = mapped_column(String(200))  # the match step, or who ran synchub match train
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("entity", "version", name="uq_match_model_version"),)


class PublishState(Base):
    """What SyncHub last wrote for a golden record to one system: to diff against, and to spot its echo."""

    __tablename__ = "publish_state"

    golden_id: Mapped[str] = mapped_column(
        ForeignKey("golden_record.id", ondelete="CASCADE"), primary_key=True
    )
    system: Mapped[str] = mapped_column(String(20), primary_key=True)
    remote_key: Mapped[str | None] = mapped_column(String(200))
    values: Mapped[dict[str, Any]]  # the target-shaped values last written
    values_hash: Mapped[str] = mapped_column(String(64))
    written_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id", ondelete="SET NULL"))


class OrderSync(Base):
    """Where one CRM order stands on its way to the ERP, and what SyncHub last wrote back to the CRM.

    ``state``: ``waiting`` (its customer or a product is not in the ERP yet: ``reason`` says which),
    ``failed`` (the ERP rejected it: ``reason`` is its message; the dead-letter queue has the details),
    ``created`` (SyncHub created the ERP order) or ``linked`` (the ERP order existed: the CRM named its
    number, or it carried the CRM order's id). Failed orders are sent again when the CRM order changes.
    """

    __tablename__ = "order_sync"

    crm_order_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    crm_order_number: Mapped[str | None] = mapped_column(String(40))
    erp_order: Mapped[str | None] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))  # waiting, failed, created, linked
    reason: Mapped[str | None] = mapped_column(Text)
    customer_golden_id: Mapped[str | None] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # sends to the ERP
    payload_hash: Mapped[str | None] = mapped_column(String(64))  # the CRM order last evaluated
    crm_written: Mapped[dict[str, Any] | None]  # the fields SyncHub last wrote to the CRM order
    crm_written_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id", ondelete="SET NULL"))

    __table_args__ = (
        Index("ix_order_sync_state", "state"),
        Index("ix_order_sync_erp_order", "erp_order"),
    )


class DeadLetter(Base):
    """A write a system rejected (the error queue): what was sent, and the remote error code and message.

    One row per (entity, system, operation, record); a new failure of the same write updates it and
    reopens it, a later success resolves it. ``payload`` is what was sent, never a credential.
    """

    __tablename__ = "dead_letter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(40))
    system: Mapped[str] = mapped_column(String(20))
    operation: Mapped[str] = mapped_column(String(40))  # e.g. "create", "update"
    record_key: Mapped[str] = mapped_column(String(200))  # SyncHub's key of the record (CRM order id, ...)
    code: Mapped[str | None] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None]
    status: Mapped[str] = mapped_column(String(20), default="open")  # open, resolved, discarded
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    first_failed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_failed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(200))  # who replayed or discarded it; or "synchub"
    note: Mapped[str | None] = mapped_column(Text)  # e.g. why it was discarded
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id", ondelete="SET NULL"))

    __table_args__ = (
        UniqueConstraint("entity", "system", "operation", "record_key", name="uq_dead_letter_write"),
        Index("ix_dead_letter_status", "status"),
    )


class DqResult(Base):
    """One expectation's outcome in one validation of one run: how many records it checked and failed.

    ``suite`` names the expectation suite (e.g. ``customer.source``, ``customer.golden``), ``system`` the
    source system for source suites (None for golden records). ``examples`` holds a few failing record
    keys, never their values.
    """

    __tablename__ = "dq_result"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(String(40))
    suite: Mapped[str] = mapped_column(String(100))
    system: Mapped[str | None] = mapped_column(String(20))
    expectation: Mapped[str] = mapped_column(
        String(200)
    )  # e.g. expect_column_values_to_match_regex(vat_number)
    column: Mapped[str | None] = mapped_column(String(100))
    checked: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    success: Mapped[bool] = mapped_column(Boolean, default=True)
    examples: Mapped[dict[str, Any] | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_dq_result_run", "run_id"),
        Index("ix_dq_result_entity_created", "entity", "created_at"),
    )


class AuditEntry(Base):
    """An action a person took (a review decision, a replay, a discard): who, what, on what, when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(200))  # the Airflow user, or the OS user on the CLI
    action: Mapped[str] = mapped_column(String(60))  # e.g. review.approve, errors.replay, errors.discard
    target: Mapped[str] = mapped_column(String(200))  # e.g. match_decision:42, dead_letter:7
    details: Mapped[dict[str, Any] | None]
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_audit_log_at", "at"),)


# An xref row and the canonical record it points to (join condition).
XREF_RECORD = and_(
    CanonicalRecord.system == Xref.system,
    CanonicalRecord.entity == Xref.entity,
    CanonicalRecord.source_key == Xref.source_key,
)
# A canonical record's staged source record (raw payload): the same system, entity and key.
CANONICAL_SOURCE = and_(
    SourceRecord.system == CanonicalRecord.system,
    SourceRecord.entity == CanonicalRecord.entity,
    SourceRecord.source_key == CanonicalRecord.source_key,
)
# Records that take part in matching, merging and publishing: neither deleted nor quarantined.
LIVE = (CanonicalRecord.is_deleted.is_(False), CanonicalRecord.quarantine_reason.is_(None))
