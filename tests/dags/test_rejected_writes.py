"""A run whose writes Salesforce rejects fails where Airflow's alerting sees it: close_run fails naming the
count and ``synchub errors list``, while every step ran and the rejected records wait in the error queue.

The toy entity (tests/dags/toy) with one change to its mapping: it publishes each company's SAP name into
the CRM's 10-character ``SAP_Customer_Number__c``, which the sandbox org refuses for longer names with
STRING_TOO_LONG, as a real org does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mdm.cli import app
from sandbox.seed import SeedOptions
from tests.dags.conftest import TOY, sandboxes_and_store, store_session, toy_entity

pytestmark = [pytest.mark.integration, pytest.mark.store]

SEED = SeedOptions(seed=11, customers=20, products=3, orders=2)

runner = CliRunner()


@pytest.fixture(scope="module")
def rejected(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    toy = yaml.safe_load((TOY / "toy.yaml").read_text(encoding="utf-8"))
    # The SAP name as a field of its own, which the CRM holds nowhere, so each linked account is updated.
    toy["canonical"]["fields"]["sap_name"] = {"type": "string"}
    toy["systems"]["sap"]["fields"]["sap_name"] = toy["systems"]["sap"]["fields"]["name"]
    crm = toy["systems"]["salesforce"]
    crm["external_id"] = "SyncHub_Id__c"
    crm["read"] = [*crm["read"], "SyncHub_Id__c"]
    crm["writable"] = ["SAP_Customer_Number__c", "SyncHub_Id__c"]
    crm["publish"] = {"SAP_Customer_Number__c": {"from": "sap_name"}}
    with toy_entity(tmp_path_factory.mktemp("rejecting"), toy):
        with sandboxes_and_store(SEED, airflow_home, tmp_path_factory) as url:
            yield url, runner.invoke(app, ["sync", "toy"])


def test_rejected_writes_fail_the_run_naming_the_count_and_the_error_queue(rejected) -> None:
    from sqlalchemy import select

    from mdm.stats import Rejections, run_steps
    from mdm.store.models import DeadLetter, Run

    url, result = rejected
    with store_session(url) as session:
        (run,) = session.scalars(select(Run).where(Run.job == "synchub_toy")).all()
        letters = list(session.scalars(select(DeadLetter).where(DeadLetter.entity == "toy")))

    assert result.exit_code == 1, result.output
    found = Rejections.of(run_steps(run.stats))
    assert found.rejected > 0 and found.by_system["salesforce"] == found.rejected
    assert len(letters) == found.rejected
    assert {(letter.system, letter.code, letter.status) for letter in letters} == {
        ("salesforce", "STRING_TOO_LONG", "open")
    }
    assert f"{found.rejected} of {found.attempted} writes were rejected" in result.output
    assert "synchub errors list --entity toy" in result.output
    assert run.status == "failed" and "writes.max_rejected_share" in run.error
    # Every step ran and stored its result: only close_run failed.
    assert {s.kind for s in run_steps(run.stats)} == {"extract", "quality", "match", "merge", "write"}
