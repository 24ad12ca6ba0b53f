"""The `synchub` command line: help texts, the store commands, seeding."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mdm.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["db"],
        ["db", "upgrade"],
        ["mappings", "validate"],
        ["connections", "test"],
        ["sync"],
        ["sync", "customer"],
        ["sync", "product"],
        ["sync", "price"],
        ["sync", "order"],
        ["orders"],
        ["orders", "list"],
        ["golden", "export"],
        ["xref", "export"],
        ["sandbox"],
        ["sandbox", "up"],
        ["sandbox", "seed"],
        ["sandbox", "dump"],
        ["sandbox", "faults"],
        ["demo"],
        ["ui"],
        ["review"],
        ["review", "list"],
        ["review", "show"],
        ["review", "approve"],
        ["review", "reject"],
        ["review", "new"],
        ["errors"],
        ["errors", "list"],
        ["errors", "show"],
        ["errors", "replay"],
        ["errors", "discard"],
        ["report"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_db_upgrade_migrates_the_store_named_by_the_environment(store_url: str) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    # (a long store URL wraps the line)
    assert "revision 0006" in " ".join(result.output.split())
    current = runner.invoke(app, ["db", "current"])
    assert "revision 0006" in " ".join(current.output.split())


def test_db_upgrade_names_the_setting_and_hides_the_password_on_a_bad_url(monkeypatch) -> None:
    monkeypatch.setenv("SYNCHUB_DATABASE_URL", "not a url with s3cret")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2
    assert "SYNCHUB_DATABASE_URL" in result.output
    assert "s3cret" not in result.output


def test_sandbox_seed_writes_the_data_folder_and_truth(tmp_path) -> None:
    result = runner.invoke(
        app,
        ["sandbox", "seed", "--out", str(tmp_path), "--customers", "20", "--products", "5", "--orders", "5"],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "salesforce" / "Account.jsonl").exists()
    assert (tmp_path / "sap" / "API_BUSINESS_PARTNER" / "A_BusinessPartner.jsonl").exists()
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth["customers"]


def test_sandbox_up_refuses_a_fault_rate_above_one() -> None:
    result = runner.invoke(app, ["sandbox", "up", "--fault-503", "1.5"])
    assert result.exit_code == 2
    assert "between 0 and 1" in result.output


def test_mappings_validate_passes_the_shipped_mappings() -> None:
    result = runner.invoke(app, ["mappings", "validate"])
    assert result.exit_code == 0, result.output
    assert "customer.yaml (entity customer)" in result.output


def test_mappings_validate_fails_on_a_broken_file_naming_line_and_field(tmp_path) -> None:
    from mdm.config import DEFAULT_DIR

    broken = tmp_path / "customer.yaml"
    broken.write_text(
        (DEFAULT_DIR / "customer.yaml").read_text().replace("stamp: date+time", "stamp: hourly")
    )
    result = runner.invoke(app, ["mappings", "validate", str(broken)])
    assert result.exit_code == 1
    assert "systems.sap.stamp: 'hourly' is not one of" in result.output
    assert f"{broken}:" in result.output


def test_mappings_validate_fails_on_a_mapping_no_entity_module_declares(tmp_path) -> None:
    from mdm.config import DEFAULT_DIR

    orphan = tmp_path / "contact.yaml"
    product = (DEFAULT_DIR / "product.yaml").read_text()
    orphan.write_text(product.replace("entity: product", "entity: contact"))
    result = runner.invoke(app, ["mappings", "validate", str(orphan)])
    assert result.exit_code == 1
    assert "no module in mdm/entities" in result.output and "declares 'contact'" in result.output


def test_orders_list_shows_each_orders_state_and_why_it_waits(store, monkeypatch) -> None:
    from mdm import cli
    from mdm.store.models import OrderSync

    monkeypatch.setattr(cli.console, "width", 200)  # wide enough that no cell wraps

    with store.begin() as session:
        session.add_all(
            [
                OrderSync(
                    crm_order_id="801000000000001AAA",
                    crm_order_number="00000101",
                    state="waiting",
                    reason="customer: golden customer SH-AAAAAAAAAAAAAAAA is not in SAP yet",
                    attempts=0,
                ),
                OrderSync(crm_order_id="801000000000002AAA", state="created", erp_order="42", attempts=1),
            ]
        )

    waiting = runner.invoke(app, ["orders", "list", "--state", "waiting"])
    everything = runner.invoke(app, ["orders", "list"])

    assert waiting.exit_code == 0, waiting.output
    assert "801000000000001AAA" in waiting.output and "is not in SAP yet" in waiting.output
    assert "801000000000002AAA" not in waiting.output
    assert "1 created, 1 waiting" in everything.output and "42" in everything.output


def test_sandbox_commands_name_the_extra_to_install_when_it_is_missing(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("mdm.cli_sandbox.SANDBOX_MODULES", ("faker", "no_such_module_for_synchub"))
    for args in (["sandbox", "seed", "--out", str(tmp_path / "seed")], ["demo"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "pip install 'synchub[sandbox]'" in result.output
        assert "no_such_module_for_synchub" in result.output
    assert not (tmp_path / "seed").exists()
