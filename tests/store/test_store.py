"""The store: migrations, staging with lineage, watermarks and the run log, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, inspect, select

from mdm.store.db import current_revision, make_engine, upgrade_database
from mdm.store.models import Run, SourceRecord
from mdm.store.runlog import advance_watermark, finish_run, get_watermark, recent_runs, start_run
from mdm.store.staging import StagedRecord, payload_hash, stage_records

UTC = dt.UTC


def test_upgrade_creates_the_tables_and_is_idempotent(store_url: str) -> None:
    upgrade_database(store_url)
    upgrade_database(store_url)
    engine = make_engine(store_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {
        "run",
        "source_record",
        "watermark",
        "alembic_version",
        "canonical_record",
        "golden_record",
        "golden_record_version",
        "xref",
        "match_decision",
        "match_model",
        "publish_state",
        "order_sync",
        "dead_letter",
        "dq_result",
        "audit_log",
    } <= tables
    assert current_revision(store_url) == "0006"


def test_models_match_the_migrations(store_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from mdm.store.models import Base

    upgrade_database(store_url)
    engine = make_engine(store_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_staging_inserts_new_records_with_their_lineage(store) -> None:
    stamp = dt.datetime(2026, 11, 1, 8, 30, tzinfo=UTC)
    with store() as session:
        run = start_run(session, "test", "customer")
        result = stage_records(
            session,
            "salesforce",
            "customer",
            [StagedRecord("001A", {"Name": "Acme"}, stamp), StagedRecord("001B", {"Name": "Beta"}, stamp)],
            run_id=run.id,
        )
        session.commit()
    assert (result.inserted, result.changed, result.unchanged) == (2, 0, 0)
    with store() as session:
        row = session.scalars(select(SourceRecord).where(SourceRecord.source_key == "001A")).one()
    assert row.payload == {"Name": "Acme"}
    assert row.payload_hash == payload_hash({"Name": "Acme"})
    assert row.source_stamp.replace(tzinfo=UTC) == stamp
    assert row.run_id == run.id
    assert (row.system, row.entity, row.is_deleted) == ("salesforce", "customer", False)


def test_staging_skips_unchanged_payloads_and_updates_changed_ones(store) -> None:
    with store() as session:
        stage_records(
            session, "sap", "customer", [StagedRecord("1000001", {"Name": "Acme", "City": "Berlin"})]
        )
        session.commit()
    with store() as session:
        # Same content in another key order: unchanged. A changed city: changed.
        again = stage_records(
            session, "sap", "customer", [StagedRecord("1000001", {"City": "Berlin", "Name": "Acme"})]
        )
        changed = stage_records(
            session, "sap", "customer", [StagedRecord("1000001", {"Name": "Acme", "City": "Bonn"})]
        )
        session.commit()
    assert (again.inserted, again.changed, again.unchanged) == (0, 0, 1)
    assert (changed.inserted, changed.changed, changed.unchanged) == (0, 1, 0)
    with store() as session:
        rows = session.scalars(select(SourceRecord)).all()
    assert len(rows) == 1
    assert rows[0].payload["City"] == "Bonn"


def test_a_delete_is_a_change_even_when_the_payload_is_the_same(store) -> None:
    with store() as session:
        stage_records(session, "salesforce", "customer", [StagedRecord("001A", {"Name": "Acme"})])
        result = stage_records(
            session, "salesforce", "customer", [StagedRecord("001A", {"Name": "Acme"}, is_deleted=True)]
        )
        session.commit()
        assert result.changed == 1
        assert session.scalars(select(SourceRecord.is_deleted)).one() is True


def test_the_same_key_in_two_systems_or_entities_is_kept_apart(store) -> None:
    with store() as session:
        stage_records(session, "salesforce", "customer", [StagedRecord("K1", {"a": 1})])
        stage_records(session, "sap", "customer", [StagedRecord("K1", {"a": 1})])
        stage_records(session, "sap", "product", [StagedRecord("K1", {"a": 1})])
        session.commit()
        assert session.scalar(select(func.count()).select_from(SourceRecord)) == 3


def test_staging_handles_more_records_than_one_chunk(store) -> None:
    records = [StagedRecord(f"K{i:05d}", {"n": i}) for i in range(1234)]
    with store() as session:
        first = stage_records(session, "sap", "customer", records)
        second = stage_records(session, "sap", "customer", records)
        session.commit()
    assert first.inserted == 1234
    assert second.unchanged == 1234


def test_watermark_moves_forward_only(store) -> None:
    early = dt.datetime(2026, 11, 1, tzinfo=UTC)
    late = dt.datetime(2026, 11, 2, tzinfo=UTC)
    with store() as session:
        assert get_watermark(session, "salesforce", "customer") is None
        advance_watermark(session, "salesforce", "customer", "SystemModstamp", late)
        kept = advance_watermark(session, "salesforce", "customer", "SystemModstamp", early)
        session.commit()
    assert kept == late
    with store() as session:
        assert get_watermark(session, "salesforce", "customer") == late


def test_watermark_rejects_naive_datetimes(store) -> None:
    with store() as session, pytest.raises(ValueError, match="timezone-aware"):
        advance_watermark(session, "sap", "customer", "LastChangeDate", dt.datetime(2026, 11, 1))


def test_run_log_records_outcome_and_stats(store) -> None:
    with store() as session:
        ok = start_run(session, "synchub_customer", "customer", external_run_id="manual__1")
        finish_run(session, ok, "success", {"records_in": 10})
        bad = start_run(session, "synchub_customer", "customer")
        finish_run(session, bad, "failed", error="auth failed for synchub_crm")
        session.commit()
    with store() as session:
        runs = recent_runs(session, "synchub_customer")
        assert [r.status for r in runs] == ["failed", "success"]
        assert runs[1].stats == {"records_in": 10}
        assert runs[0].error == "auth failed for synchub_crm"
        assert all(r.finished_at is not None for r in runs)
        assert session.scalar(select(func.count()).select_from(Run)) == 2
