"""An entity added through the registry: one entity module, a mapping and a quality suite, and its DAG
runs end to end through Airflow (``dags/synchub_entities.py`` builds it) against the sandboxes, with
``synchub sync toy``, the run log's step results, the DQ report and the error replay all knowing it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mdm.cli import app
from sandbox.seed import SeedOptions
from tests.dags.conftest import TOY, sandboxes_and_store, store_session, toy_entity

pytestmark = [pytest.mark.integration, pytest.mark.store]

SEED = SeedOptions(seed=11, customers=20, products=3, orders=2)

runner = CliRunner()


@pytest.fixture(scope="module")
def toy(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    """The toy entity declared (SYNCHUB_ENTITY_MODULES), its mapping and suite next to the built-in ones,
    and one `synchub sync toy`: (store URL, CLI result)."""
    with toy_entity(tmp_path_factory.mktemp("toy")):
        with sandboxes_and_store(SEED, airflow_home, tmp_path_factory) as url:
            yield url, runner.invoke(app, ["sync", "toy"])


def test_the_toy_entity_is_declared_after_what_it_needs() -> None:
    from mdm.entities import entities

    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(TOY))
        patch.setenv("SYNCHUB_ENTITY_MODULES", "toy_entity")
        names = list(entities())
    assert names.index("toy") > names.index("customer")
    assert "toy" not in entities()  # without the variable, only the built-in entities


def test_its_dag_runs_end_to_end_through_airflow(toy) -> None:
    url, result = toy
    assert result.exit_code == 0, result.output
    assert "DAG synchub_toy" in result.output and "success" in result.output
    assert "toy sync per system" in result.output  # a mastered entity's summary
    assert "synchub golden export --entity toy" in result.output  # a mastered entity's outputs


def test_every_step_stored_its_result_and_the_report_counts_them(toy) -> None:
    from sqlalchemy import func, select

    from mdm.report.summary import step_outcomes
    from mdm.stats import run_steps
    from mdm.store.models import GoldenRecord, Run, Xref

    url, _ = toy
    with store_session(url) as session:
        (run,) = session.scalars(select(Run).where(Run.job == "synchub_toy")).all()
        golden = session.scalar(select(func.count()).where(GoldenRecord.entity == "toy"))
        systems = set(session.scalars(select(Xref.system).where(Xref.entity == "toy").distinct()))
    steps = run_steps(run.stats)
    assert [s.kind for s in steps] == ["extract", "extract", "quality", "match", "merge", "write", "write"]
    assert {s.entity for s in steps} == {"toy"}
    read = sum(s.outcome.read for s in steps if s.kind == "extract")
    assert read == 2 * SEED.customers  # every account and every organisation partner of the seed
    outcomes = step_outcomes(run.stats)
    assert outcomes["matched"] > 0 and outcomes["written"] == 0  # nothing is writable
    assert 0 < golden < read and systems == {"salesforce", "sap"}


def test_the_cli_lists_it_and_refuses_an_undeclared_entity(toy) -> None:
    # The fixture's variables are gone by now: declare the toy again for these two commands.
    from mdm import cli

    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(TOY))
        patch.setenv("SYNCHUB_ENTITY_MODULES", "toy_entity")
        patch.setattr(cli.console, "width", 200)  # wide enough that no cell wraps
        listed = runner.invoke(app, ["entities"])
        unknown = runner.invoke(app, ["sync", "contact"])
    assert listed.exit_code == 0 and "synchub_toy" in listed.output and "synchub_customer" in listed.output
    assert unknown.exit_code == 2 and "no entity 'contact'" in unknown.output and "toy" in unknown.output
