"""The quality gate inside the DAG: a threshold breach fails `quality` and nothing is published.

Run through Airflow (``synchub sync customer``, ``dag.test()``) against seeded sandboxes, with a suite
folder (SYNCHUB_QUALITY_SUITES_DIR) whose customer suite every seeded account fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mdm.cli import app
from sandbox.seed import SeedOptions
from tests.dags.conftest import sandboxes_and_store, store_session

pytestmark = [pytest.mark.integration, pytest.mark.store]

SEED = SeedOptions(seed=7, customers=25, products=3, orders=3)
STRICT_SUITE = """\
entity: customer
source:
  - expect: expect_column_values_to_match_regex
    column: name
    regex: '^Z{5}'
    systems: [salesforce]
    describe: name starts with ZZZZZ
"""

runner = CliRunner()


def test_a_threshold_breach_fails_quality_names_it_and_publishes_nothing(
    airflow_home: Path,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "customer.yaml").write_text(STRICT_SUITE)
    monkeypatch.setenv("SYNCHUB_QUALITY_SUITES_DIR", str(tmp_path))
    with sandboxes_and_store(SEED, airflow_home, tmp_path_factory) as url:
        result = runner.invoke(app, ["sync", "customer"])
        from sqlalchemy import select

        from mdm.store.models import DqResult, Run, Xref

        with store_session(url) as session:
            run = session.scalars(select(Run).where(Run.job == "synchub_customer")).one()
            xref = session.scalars(select(Xref)).all()
            failed = session.scalars(select(DqResult).where(DqResult.success.is_(False))).all()
    assert result.exit_code == 1, result.output
    message = run.stats["errors"]["quality"]
    assert message.startswith("QualityGateError: quality gate customer salesforce:")
    assert "(100.0%) failed, more than the threshold of 5.0%" in message
    assert "name starts with ZZZZZ (expect_column_values_to_match_regex)" in message
    assert {"publish_erp", "publish_crm", "match", "merge"}.isdisjoint(run.stats["steps"])
    assert "publish_erp" in run.error and "publish_crm" in run.error
    assert xref == []  # nothing matched, merged or published
    assert [r.expectation for r in failed] == ["expect_column_values_to_match_regex(name)"]
