"""`synchub connections test` against the sandboxes, through the Airflow connections in the environment."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from mdm.cli import app
from sandbox.seed import SeedOptions

pytestmark = pytest.mark.integration
SMALL = SeedOptions(seed=3, customers=10, products=4, orders=4)


def test_every_check_passes_on_the_sandboxes(sandbox_factory) -> None:
    sandbox_factory(seed=SMALL)
    result = CliRunner().invoke(app, ["connections", "test"])
    assert result.exit_code == 0, result.output
    for check in ("auth", "metadata:API_BUSINESS_PARTNER", "fields:customer", "fields:order"):
        assert check in result.output
    assert "all checks passed" in result.output


def test_a_wrong_password_fails_with_a_verdict_and_never_shows_the_password(
    sandbox_factory, monkeypatch
) -> None:
    sandbox_factory(seed=SMALL)
    erp = json.loads(os.environ["AIRFLOW_CONN_SYNCHUB_ERP"])
    erp["password"] = "Wr0ngPassw0rd!"
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_ERP", json.dumps(erp))
    result = CliRunner().invoke(app, ["connections", "test"])
    assert result.exit_code == 1
    assert "FAIL" in result.output and "sap" in result.output
    assert "Wr0ngPassw0rd!" not in result.output


def test_a_mapped_field_missing_in_the_org_fails_its_check(sandbox_factory, monkeypatch, tmp_path) -> None:
    from mdm.mappings import DEFAULT_DIR

    sandbox_factory(seed=SMALL)
    for path in DEFAULT_DIR.glob("*.yaml"):
        text = path.read_text()
        if path.name == "product.yaml":
            text = text.replace("SAP_Product__c,", "SAP_Product__c, Shelf_Life__c,", 1)
        (tmp_path / path.name).write_text(text)
    for schema in DEFAULT_DIR.glob("*.json"):
        (tmp_path / schema.name).write_text(schema.read_text())
    monkeypatch.setenv("SYNCHUB_MAPPINGS_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["connections", "test", "--entity", "product"])
    assert result.exit_code == 1, result.output
    assert "Shelf_Life__c" in result.output
