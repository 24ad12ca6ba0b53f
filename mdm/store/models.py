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


# An xref row and the canonical record it points to (join condition).
XREF_RECORD = and_(
    CanonicalRecord.system == Xref.system,
    CanonicalRecord.entity == Xref.entity,
    CanonicalRecord.source_key == Xref.source_key,
)
# Records that take part in matching, merging and publishing: neither deleted nor quarantined.
LIVE = (CanonicalRecord.is_deleted.is_(False), CanonicalRecord.quarantine_reason.is_(None))
