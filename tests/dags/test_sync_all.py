"""All four syncs through Airflow, in the order the DAGs' assets chain them: customer, product, price,
order; then all four again, which must write nothing. Sandboxes over HTTPS, the real clients, the store
(SQLite, or PostgreSQL in the ``-m store`` pass), Airflow's dag.test() on a metadata DB of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mdm.cli import app
from mdm.entities import names as entity_names
from sandbox.seed import SeedOptions
from tests.dags.conftest import sandboxes_and_store, store_session

pytestmark = [pytest.mark.integration, pytest.mark.store]

SEED = SeedOptions(seed=5, customers=30, products=12, orders=16)
ENTITIES = entity_names()  # in the order the assets chain them: customer, product, price, order
# Per DAG: the steps that write, and the counts that say they wrote.
WRITES = {
    "synchub_customer": {"publish_erp": ("created", "updated"), "publish_crm": ("created", "updated")},
    "synchub_product": {"publish_erp": ("created", "updated"), "publish_crm": ("created", "updated")},
    "synchub_price": {"sync_crm": ("created", "updated", "deactivated", "pricebooks_created")},
    "synchub_order": {"push_erp": ("created",), "status_crm": ("updated",)},
}

runner = CliRunner()


@pytest.fixture(scope="module")
def synced(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    """Two rounds of the four syncs: (store URL, {(round, entity): CLI result})."""
    with sandboxes_and_store(SEED, airflow_home, tmp_path_factory) as url:
        results = {}
        for round_ in (1, 2):
            for entity in ENTITIES:
                results[(round_, entity)] = runner.invoke(app, ["sync", entity])
        yield url, results


def runs(url: str) -> dict[str, list]:
    from sqlalchemy import select

    from mdm.store.models import Run

    with store_session(url) as session:
        found: dict[str, list] = {}
        for run in session.scalars(select(Run).where(Run.job.in_(WRITES)).order_by(Run.id)):
            found.setdefault(run.job, []).append(run)
        return found


def written(run) -> dict[str, int]:
    steps = run.stats["steps"]
    return {f"{step}.{key}": steps[step][key] for step, keys in WRITES[run.job].items() for key in keys}


@pytest.mark.parametrize("entity", ENTITIES)
def test_each_sync_exits_zero_and_prints_its_summary(synced, entity: str) -> None:
    _, results = synced
    result = results[(1, entity)]
    assert result.exit_code == 0, result.output
    assert f"{entity} sync per" in result.output and "success" in result.output


def test_the_first_round_writes_to_both_systems(synced) -> None:
    url, _ = synced
    first = {job: written(found[0]) for job, found in runs(url).items()}
    assert first["synchub_customer"]["publish_crm.updated"] > 0
    assert (
        first["synchub_product"]["publish_crm.created"] + first["synchub_product"]["publish_crm.updated"] > 0
    )
    assert first["synchub_price"]["sync_crm.created"] > 0
    assert first["synchub_order"]["push_erp.created"] > 0 and first["synchub_order"]["status_crm.updated"] > 0


def test_a_second_round_without_outside_change_writes_nothing(synced) -> None:
    url, results = synced
    for entity in ENTITIES:
        assert results[(2, entity)].exit_code == 0, results[(2, entity)].output
    found = runs(url)
    assert {job: len(r) for job, r in found.items()} == dict.fromkeys(WRITES, 2)
    for job, job_runs in found.items():
        assert set(written(job_runs[1]).values()) == {0}, (job, written(job_runs[1]))


def test_the_dq_report_counts_the_writes_each_dag_run_stored(synced) -> None:
    """What the report shows per run is what the DAG's close_run stored, for every entity: the price
    sync's writes included (its task id is sync_crm; the report never looks at task ids)."""
    from mdm.report.summary import step_outcomes

    url, _ = synced
    for job, job_runs in runs(url).items():
        first = job_runs[0]
        steps = first.stats["steps"]
        stored = sum(
            steps[step][key]
            for step, keys in WRITES[job].items()
            for key in keys
            if key != "pricebooks_created"  # pricebooks are containers, not records of the entity
        )
        assert stored > 0, job
        assert step_outcomes(first.stats)["written"] == stored, job
        assert step_outcomes(job_runs[1].stats)["written"] == 0, job


def test_asset_events_fire_only_for_runs_that_changed_what_the_asset_stands_for(
    synced, airflow_home: Path
) -> None:
    """The first round updates every entity's assets; the second changes nothing and emits no event, so
    it triggers no downstream DAG."""
    import sqlalchemy as sa

    url, _ = synced
    found = runs(url)
    engine = sa.create_engine(f"sqlite:///{airflow_home / 'airflow.db'}")
    try:
        with engine.connect() as conn:
            events = conn.execute(
                sa.text(
                    "SELECT a.uri, e.source_dag_id, e.source_run_id FROM asset_event e "
                    "JOIN asset a ON a.id = e.asset_id"
                )
            ).all()
    finally:
        engine.dispose()
    first = {run.external_run_id for job_runs in found.values() for run in job_runs[:1]}
    second = {run.external_run_id for job_runs in found.values() for run in job_runs[1:]}
    assert {uri for uri, _, run_id in events if run_id in first} >= {
        "synchub://golden/customer",
        "synchub://erp/customer",
        "synchub://golden/product",
        "synchub://crm/product",
        "synchub://crm/price",
        "synchub://erp/order",
    }
    assert [(uri, dag) for uri, dag, run_id in events if run_id in second] == []
