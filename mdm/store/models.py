"""Tables of the store. Schema changes go through Alembic migrations in ``mdm/migrations``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
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
