"""`synchub connections test` against the sandboxes, through the Airflow connections in the environment."""

from __future__ import annotations

import json
import os
import re

import pytest
from typer.testing import CliRunner

from mdm.cli import app
from sandbox.seed import SeedOptions

pytestmark = pytest.mark.integration
SMALL = SeedOptions(seed=3, customers=10, products=4, orders=4)


_VERDICT = re.compile(r"^(ok|warn|FAIL) +(salesforce|sap) +(\S+) +(.*)$")


def _verdict_list(output: str) -> list[tuple[str, str]]:
    """(mark, check and detail) per verdict, wrapped lines joined again."""
    verdicts: list[list[str]] = []
    for line in output.splitlines():
        match = _VERDICT.match(line)
        if match:
            verdicts.append([match[1], f"{match[3]} {match[4]}"])
        elif verdicts and line.strip() and not line.startswith(("all checks", "[")):
            verdicts[-1][1] += " " + line.strip()
    return [(mark, " ".join(detail.split())) for mark, detail in verdicts]


def _verdicts(output: str) -> dict[str, tuple[str, str]]:
    return {detail.split()[0]: (mark, detail) for mark, detail in _verdict_list(output)}


def test_every_check_passes_on_the_sandboxes(sandbox_factory) -> None:
    sandbox_factory(seed=SMALL)
    result = CliRunner().invoke(app, ["connections", "test"])
    assert result.exit_code == 0, result.output
    for check in ("auth", "metadata:API_BUSINESS_PARTNER", "fields:customer", "fields:order"):
        assert check in result.output
    # The SAP settings the mappings name answer (issue 11): the seed uses each of them.
    verdicts = _verdicts(result.output)
    for check in ("setting:sales_area", "setting:order_type", "setting:bp_grouping", "setting:tax_types"):
        assert verdicts[check][0] == "ok", verdicts[check]
    assert "sales area 1010/10/00" in verdicts["setting:sales_area"][1]
    assert "in use: CH0, DE0" in verdicts["setting:tax_types"][1]
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
    from mdm.config import DEFAULT_DIR

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


def test_sap_settings_no_record_uses_are_warned_about_by_name(sandbox_factory, monkeypatch, tmp_path) -> None:
    from mdm.config import DEFAULT_DIR

    sandbox_factory(seed=SMALL)
    for path in [*DEFAULT_DIR.glob("*.yaml"), *DEFAULT_DIR.glob("*.json")]:
        text = path.read_text()
        if path.name == "order.yaml":  # a typo in the sales organisation and the order type
            text = text.replace('SalesOrganization: "1010"', 'SalesOrganization: "1O10"').replace(
                "SalesOrderType: OR", "SalesOrderType: ZZOR"
            )
        (tmp_path / path.name).write_text(text)
    monkeypatch.setenv("SYNCHUB_MAPPINGS_DIR", str(tmp_path))

    result = CliRunner().invoke(app, ["connections", "test"])

    assert result.exit_code == 0, result.output  # a warning, not a failure: the value may be new
    warned = [detail for mark, detail in _verdict_list(result.output) if mark == "warn"]
    assert any("sales area 1O10/10/00 (order.yaml orders.header)" in d for d in warned), result.output
    assert any("order type ZZOR" in d for d in warned)
    assert not any("customer.yaml publish" in d for d in warned)  # 1010 is in use
    assert "2 warning(s)" in result.output


def test_connections_added_with_airflow_s_cli_to_the_metastore_are_found_outside_a_task(
    sandbox_factory, tmp_path
) -> None:
    """As on a deployed Airflow: the connections live in the metastore (``airflow connections add``), not
    in the environment; ``synchub connections test`` runs in a shell, outside any task."""
    import subprocess
    import sys
    from pathlib import Path

    sandbox_factory(seed=SMALL)
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env |= {
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags"),
    }

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)

    migrated = run(str(bin_dir / "airflow"), "db", "migrate")
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    for conn_id in ("synchub_crm", "synchub_erp"):
        added = run(
            str(bin_dir / "airflow"),
            "connections",
            "add",
            conn_id,
            "--conn-json",
            os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"],
        )
        assert added.returncode == 0, added.stderr[-2000:]

    result = run(str(bin_dir / "synchub"), "connections", "test")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "all checks passed" in result.stdout
    verdicts = _verdicts(result.stdout)
    assert verdicts["auth"][0] == "ok"
