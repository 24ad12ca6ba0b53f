"""The data directory: the JSON-lines layout both sandboxes start from and dump to."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.datadir import DataDirError, SandboxData, read_data_dir, write_data_dir
from sandbox.seed import SeedOptions, generate

BP = "API_BUSINESS_PARTNER"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _small() -> SandboxData:
    return SandboxData(
        salesforce={"Account": [{"Id": "0018d0000000001AAA", "Name": "Müller GmbH", "AnnualRevenue": 1.5e6}]},
        sap={
            BP: {
                "A_BusinessPartner": [
                    {
                        "BusinessPartner": "1000000",
                        "OrganizationBPName1": "Müller GmbH",
                        "LastChangeDate": None,
                    }
                ]
            }
        },
    )


def test_reading_what_was_written_gives_the_same_data(tmp_path: Path) -> None:
    data, _ = generate(SeedOptions(seed=3, customers=60, products=12, orders=15))

    write_data_dir(tmp_path, data)

    assert read_data_dir(tmp_path) == data


def test_files_follow_the_layout_one_record_per_line(tmp_path: Path) -> None:
    write_data_dir(tmp_path, _small())

    account = tmp_path / "salesforce" / "Account.jsonl"
    partner = tmp_path / "sap" / BP / "A_BusinessPartner.jsonl"
    assert account.read_text(encoding="utf-8").count("\n") == 1
    assert "Müller" in partner.read_text(encoding="utf-8")  # UTF-8 as is, not \u escapes


def test_the_same_data_is_written_as_the_same_bytes(tmp_path: Path) -> None:
    write_data_dir(tmp_path / "a", _small())
    write_data_dir(tmp_path / "b", _small())

    for first in (tmp_path / "a").rglob("*.jsonl"):
        assert first.read_bytes() == (tmp_path / "b" / first.relative_to(tmp_path / "a")).read_bytes()


def test_writing_drops_files_of_objects_that_are_now_empty(tmp_path: Path) -> None:
    write_data_dir(tmp_path, _small())
    emptied = SandboxData(salesforce={"Account": []}, sap={BP: {"A_BusinessPartner": []}})

    write_data_dir(tmp_path, emptied)

    assert list(tmp_path.rglob("*.jsonl")) == []
    assert read_data_dir(tmp_path) == SandboxData(salesforce={}, sap={})


def test_empty_lines_are_skipped(tmp_path: Path) -> None:
    _write(tmp_path / "salesforce" / "Account.jsonl", '\n{"Name": "A"}\n\n   \n{"Name": "B"}\n')

    assert [r["Name"] for r in read_data_dir(tmp_path).salesforce["Account"]] == ["A", "B"]


def test_an_unknown_salesforce_field_is_reported_with_file_line_and_field(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "salesforce" / "Account.jsonl", '{"Name": "A"}\n\n{"Name": "B", "Colour__c": 1}\n'
    )

    with pytest.raises(DataDirError) as err:
        read_data_dir(tmp_path)

    assert (err.value.path, err.value.line, err.value.field) == (path, 3, "Colour__c")
    assert f"{path}:3" in str(err.value) and "Colour__c" in str(err.value)


def test_an_unknown_sap_property_is_reported_with_file_line_and_field(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "sap" / BP / "A_BusinessPartnerAddress.jsonl",
        '{"BusinessPartner": "1", "AddressID": "2", "Street": "Hauptstr. 5"}\n',
    )

    with pytest.raises(DataDirError) as err:
        read_data_dir(tmp_path)

    assert (err.value.path, err.value.line, err.value.field) == (path, 1, "Street")
    assert "A_BusinessPartnerAddressType" in str(err.value)


def test_sap_property_names_are_case_sensitive(tmp_path: Path) -> None:
    _write(tmp_path / "sap" / BP / "A_BusinessPartner.jsonl", '{"businesspartner": "1"}\n')

    with pytest.raises(DataDirError, match="businesspartner"):
        read_data_dir(tmp_path)


def test_salesforce_field_names_are_matched_case_insensitively_and_stored_canonically(tmp_path: Path) -> None:
    _write(tmp_path / "salesforce" / "Account.jsonl", '{"name": "A", "billingcity": "Berlin"}\n')

    assert read_data_dir(tmp_path).salesforce["Account"] == [{"Name": "A", "BillingCity": "Berlin"}]


def test_a_field_given_twice_under_different_case_is_rejected(tmp_path: Path) -> None:
    _write(tmp_path / "salesforce" / "Account.jsonl", '{"Name": "A", "NAME": "B"}\n')

    with pytest.raises(DataDirError, match="given twice"):
        read_data_dir(tmp_path)


def test_bad_json_is_reported_with_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "salesforce" / "Contact.jsonl", '{"LastName": "A"}\n{"LastName": "B",\n')

    with pytest.raises(DataDirError) as err:
        read_data_dir(tmp_path)

    assert (err.value.path, err.value.line) == (path, 2)
    assert "invalid JSON" in str(err.value)


def test_a_line_that_is_not_an_object_is_rejected(tmp_path: Path) -> None:
    _write(tmp_path / "salesforce" / "Contact.jsonl", '["LastName", "A"]\n')

    with pytest.raises(DataDirError, match="expected a JSON object"):
        read_data_dir(tmp_path)


def test_an_unknown_object_file_is_rejected_by_name(tmp_path: Path) -> None:
    path = _write(tmp_path / "salesforce" / "Opportunity.jsonl", '{"Name": "A"}\n')

    with pytest.raises(DataDirError) as err:
        read_data_dir(tmp_path)

    assert err.value.path == path and "Opportunity" in str(err.value)


def test_an_unknown_service_directory_is_rejected_by_name(tmp_path: Path) -> None:
    _write(tmp_path / "sap" / "API_SUPPLIER_INVOICE_SRV" / "A_SupplierInvoice.jsonl", "{}\n")

    with pytest.raises(DataDirError, match="API_SUPPLIER_INVOICE_SRV"):
        read_data_dir(tmp_path)


def test_an_entity_set_of_another_service_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path / "sap" / BP / "A_Product.jsonl", '{"Product": "TG-1"}\n')

    with pytest.raises(DataDirError) as err:
        read_data_dir(tmp_path)

    assert err.value.path == path and "A_Product" in str(err.value)


def test_nested_navigation_records_are_rejected_in_sap_files(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "sap" / BP / "A_BusinessPartner.jsonl",
        '{"BusinessPartner": "1"}\n{"BusinessPartner": "2", "to_BusinessPartnerAddress": {"results": []}}\n',
    )

    with pytest.raises(DataDirError) as err:
        read_data_dir(tmp_path)

    assert (err.value.path, err.value.line, err.value.field) == (path, 2, "to_BusinessPartnerAddress")


def test_nested_values_are_rejected_in_salesforce_files(tmp_path: Path) -> None:
    _write(tmp_path / "salesforce" / "Contact.jsonl", '{"LastName": "A", "Description": {"x": 1}}\n')

    with pytest.raises(DataDirError) as err:
        read_data_dir(tmp_path)

    assert err.value.field == "Description"


def test_brackets_inside_strings_are_not_mistaken_for_nesting(tmp_path: Path) -> None:
    _write(tmp_path / "salesforce" / "Account.jsonl", '{"Name": "ACME [old] {do not use}"}\n')

    assert read_data_dir(tmp_path).salesforce["Account"] == [{"Name": "ACME [old] {do not use}"}]


def test_api_envelopes_are_dropped(tmp_path: Path) -> None:
    _write(
        tmp_path / "salesforce" / "Account.jsonl",
        '{"attributes": {"type": "Account", "url": "/x"}, "Name": "A"}\n',
    )
    _write(
        tmp_path / "sap" / BP / "A_BusinessPartner.jsonl",
        '{"__metadata": {"id": "x", "uri": "x", "type": "t"}, "BusinessPartner": "1"}\n',
    )

    data = read_data_dir(tmp_path)

    assert data.salesforce["Account"] == [{"Name": "A"}]
    assert data.sap[BP]["A_BusinessPartner"] == [{"BusinessPartner": "1"}]


def test_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_data_dir(tmp_path / "nope")


def test_a_directory_without_data_reads_as_empty(tmp_path: Path) -> None:
    assert read_data_dir(tmp_path) == SandboxData(salesforce={}, sap={})
