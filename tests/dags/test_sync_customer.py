"""`synchub sync customer`: the DAG synchub_customer run through Airflow against seeded sandboxes.

Everything real: the sandboxes over HTTPS with the real clients, the store (SQLite, or PostgreSQL in
the ``-m store`` pass), and Airflow's dag.test() on a metadata database of its own in a temporary folder.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mdm.cli import app
from sandbox.seed import SeedOptions
from tests.dags.conftest import sandboxes_and_store, store_session

pytestmark = [pytest.mark.integration, pytest.mark.store]

REPO = Path(__file__).resolve().parents[2]
SEED = SeedOptions(seed=7, customers=25, products=3, orders=3)
XREF_HEADER = ["golden_id", "system", "entity", "source_key"]

runner = CliRunner()


@pytest.fixture(scope="module")
def synced(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    """Seeded sandboxes and an empty store, after one `synchub sync customer`: (store URL, result).

    Module-scoped (a sync through Airflow takes seconds). One test syncs a second time.
    """
    with sandboxes_and_store(SEED, airflow_home, tmp_path_factory) as url:
        yield url, runner.invoke(app, ["sync", "customer"])


def customer_runs(url: str) -> list:
    from sqlalchemy import select

    from mdm.store.models import Run

    with store_session(url) as session:
        return list(session.scalars(select(Run).where(Run.job == "synchub_customer").order_by(Run.id)))


def test_sync_customer_exits_zero_and_prints_the_summary(synced) -> None:
    _, result = synced
    assert result.exit_code == 0, result.output
    assert "records in" in result.output
    assert "new golden records" in result.output
    assert "synchub golden export --entity customer" in result.output
    assert "synchub xref export --entity customer" in result.output
    assert "success" in result.output


def test_sync_customer_records_the_run_with_every_step_in_the_store(synced) -> None:
    url, _ = synced
    run = customer_runs(url)[0]  # the first sync's (another test may sync again)
    assert run.status == "success"
    assert run.external_run_id.startswith("manual__")
    assert set(run.stats["steps"]) == {
        "extract_crm",
        "extract_erp",
        "quality",
        "match",
        "merge",
        "publish_crm",
        "publish_erp",
    }
    assert run.stats["steps"]["extract_crm"]["records"] >= SEED.customers


def test_golden_and_xref_exports_after_a_sync_are_not_empty(synced) -> None:
    golden = runner.invoke(app, ["golden", "export", "--entity", "customer"])
    xref = runner.invoke(app, ["xref", "export", "--entity", "customer"])
    assert golden.exit_code == 0, golden.output
    assert xref.exit_code == 0, xref.output
    assert len(list(csv.reader(io.StringIO(golden.stdout)))) > 1
    rows = list(csv.reader(io.StringIO(xref.stdout)))
    assert rows[0] == XREF_HEADER
    assert {row[1] for row in rows[1:]} == {"salesforce", "sap"}


def test_each_task_leaves_one_xcom_and_no_row_per_key(synced, airflow_home: Path) -> None:
    """A task typed ``-> dict`` makes Airflow infer multiple_outputs (an XCom row per key) unless told."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{airflow_home / 'airflow.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT run_id, task_id, key FROM xcom WHERE dag_id = 'synchub_customer'")
            ).all()
    finally:
        engine.dispose()
    assert rows
    assert {key for _, _, key in rows} <= {"return_value", "error"}
    per_task = {(run_id, task_id) for run_id, task_id, key in rows if key == "return_value"}
    assert len(per_task) == len([row for row in rows if row[2] == "return_value"])


def test_second_sync_without_outside_change_writes_nothing(synced) -> None:
    url, _ = synced
    again = runner.invoke(app, ["sync", "customer"])
    assert again.exit_code == 0, again.output
    runs = customer_runs(url)
    assert len(runs) >= 2
    for step in ("publish_crm", "publish_erp"):
        stats = runs[-1].stats["steps"][step]
        written = {k: stats[k] for k in ("created", "updated", "failed")}
        assert written == {"created": 0, "updated": 0, "failed": 0}, (step, stats)


def test_sync_customer_exits_non_zero_and_names_the_failed_steps(
    airflow_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_SYNCHUB_CRM", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_SYNCHUB_ERP", raising=False)
    monkeypatch.setenv("SYNCHUB_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    result = runner.invoke(app, ["sync", "customer"])
    assert result.exit_code == 1, result.output
    assert "extract_crm: ConfigError" in result.output
    assert "steps not completed: extract_crm, extract_erp" in result.output
    assert "failed" in result.output
