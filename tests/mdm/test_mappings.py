"""Mapping files: every shipped file loads, and a broken one fails naming its file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdm.config import DEFAULT_DIR, MappingError, entity_source, load_mapping, load_mappings
from mdm.entities import names as entity_names


@pytest.mark.parametrize("path", sorted(DEFAULT_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_mapping_loads(path: Path) -> None:
    mapping = load_mapping(path)
    assert mapping.entity == path.stem


def test_there_is_a_mapping_per_entity() -> None:
    assert set(load_mappings()) == set(entity_names())  # one mapping per declared entity


def test_sources_carry_the_stamps_each_system_really_has() -> None:
    assert entity_source("customer").sap.stamp_fields == ("LastChangeDate", "LastChangeTime")
    assert entity_source("product").sap.stamp_fields == ("LastChangeDateTime",)
    assert entity_source("order").sap.stamp_fields == ("LastChangeDateTime",)
    assert entity_source("price").sap.stamp_fields == ()
    order = entity_source("order").salesforce
    assert [c.object for c in order.children] == ["OrderItem"]


def _write(tmp_path: Path, text: str, name: str = "customer.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


VALID = (DEFAULT_DIR / "customer.yaml").read_text()


def test_a_bad_enum_value_names_file_line_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID.replace("stamp: date+time", "stamp: daily"))
    with pytest.raises(MappingError) as error:
        load_mapping(path)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "stamp: daily" in text)
    assert error.value.line == line
    assert error.value.field == "systems.sap.stamp"
    assert str(error.value).startswith(f"{path}:{line}: systems.sap.stamp: 'daily' is not one of")


def test_an_unknown_key_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID.replace("    key: Id\n", "    key: Id\n    kye: Name\n"))
    with pytest.raises(
        MappingError, match=r"systems\.salesforce: Additional properties are not allowed \('kye'"
    ):
        load_mapping(path)


def test_a_missing_required_key_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID.replace("    entity_set: A_BusinessPartner\n", ""))
    with pytest.raises(MappingError, match="'entity_set' is a required property"):
        load_mapping(path)


def test_a_bad_item_in_a_list_names_its_index(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID.replace("read: [Name,", "read: [Na me,"))
    with pytest.raises(MappingError) as error:
        load_mapping(path)
    assert error.value.field == "systems.salesforce.read[0]"


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "entity: customer\nsystems: [unclosed\n")
    with pytest.raises(MappingError, match="not valid YAML") as error:
        load_mapping(path)
    assert error.value.line is not None


def test_the_file_name_must_match_the_entity(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID, name="product.yaml")
    with pytest.raises(MappingError, match="declares entity 'customer'; name it customer.yaml"):
        load_mapping(path)


# --- the canonical part: fields, transforms, publish ---------------------------------------------------


def _error_for(tmp_path: Path, old: str, new: str) -> MappingError:
    assert old in VALID, old
    path = _write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(MappingError) as error:
        load_mapping(path)
    assert error.value.path == path
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if new.splitlines()[0] in text)
    assert error.value.line == line, str(error.value)
    return error.value


def test_the_customer_mapping_compiles_its_canonical_rules() -> None:
    model = load_mapping(DEFAULT_DIR / "customer.yaml").model
    assert model is not None
    assert {"name", "country", "vat_number", "erp_customer_number"} <= set(model.fields)
    assert "to_BusinessPartnerTax[0].BPTaxNumber" in model.receivable("sap")
    assert "DunsNumber" not in model.receivable("salesforce")


def test_an_unknown_transform_names_file_line_and_field(tmp_path: Path) -> None:
    error = _error_for(
        tmp_path, "vat_number: {from: VAT_Number__c, transforms: [vat_normalise]}",
        "vat_number: {from: VAT_Number__c, transforms: [vat_normalize]}",
    )  # fmt: skip
    assert error.field == "systems.salesforce.fields.vat_number.transforms[0]"
    assert "unknown transform 'vat_normalize'" in error.reason


def test_bad_transform_arguments_name_file_line_and_field(tmp_path: Path) -> None:
    error = _error_for(
        tmp_path, "BillingCity: {from: city, transforms: [{truncate: 40}]}",
        "BillingCity: {from: city, transforms: [{truncate: forty}]}",
    )  # fmt: skip
    assert error.field == "systems.salesforce.publish.BillingCity.transforms[0]"
    assert "argument 'length' must be an integer" in error.reason


def test_an_unknown_value_map_is_refused(tmp_path: Path) -> None:
    error = _error_for(
        tmp_path, "industry: {from: to_Customer.Industry, transforms: [{value_map: industry}]}",
        "industry: {from: to_Customer.Industry, transforms: [{value_map: industries}]}",
    )  # fmt: skip
    assert error.field == "systems.sap.fields.industry.transforms[0]"
    assert "no map 'industries'" in error.reason


def test_a_field_that_is_not_canonical_is_refused(tmp_path: Path) -> None:
    error = _error_for(tmp_path, "duns: {from: DunsNumber,", "dunz: {from: DunsNumber,")
    assert error.field == "systems.salesforce.fields.dunz"
    assert "'dunz' is not a canonical field" in error.reason


def test_a_source_field_salesforce_does_not_read_is_refused(tmp_path: Path) -> None:
    error = _error_for(
        tmp_path,
        "phone: {from: Phone, transforms: [phone_e164]}",
        "phone: {from: Fax, transforms: [phone_e164]}",
    )
    assert error.field == "systems.salesforce.fields.phone.from"
    assert "Fax is not in systems.salesforce.read" in error.reason


def test_an_sap_navigation_that_is_not_expanded_is_refused(tmp_path: Path) -> None:
    error = _error_for(tmp_path, "from: to_Customer.VATRegistration", "from: to_Supplier.VATRegistration")
    assert error.field == "systems.sap.fields.vat_number.fallback[0].from"
    assert "navigation to_Supplier is not in systems.sap.expand" in error.reason


def test_a_target_the_system_may_not_receive_is_refused(tmp_path: Path) -> None:
    error = _error_for(tmp_path, "      Website: website\n", "      Description: website\n")
    assert error.field == "systems.salesforce.publish.Description"
    assert "Description is not in systems.salesforce.writable" in error.reason


def test_a_publish_rule_needs_from_or_value(tmp_path: Path) -> None:
    error = _error_for(
        tmp_path, 'BusinessPartnerCategory: {value: "2"}', "BusinessPartnerCategory: {transforms: [trim]}"
    )
    assert "give either 'from' (canonical fields) or 'value' (a constant)" in error.reason


def test_a_bad_canonical_type_is_refused_by_the_schema(tmp_path: Path) -> None:
    error = _error_for(tmp_path, "    email: {type: email}", "    email: {type: e-mail}")
    assert error.field == "canonical.fields.email.type"


def test_errors_inside_a_section_schema_name_file_line_and_field(tmp_path: Path, monkeypatch) -> None:
    import json
    import shutil

    import mdm.config.mapping as mappings

    schemas = tmp_path / "schemas"
    schemas.mkdir()
    shutil.copy(DEFAULT_DIR / "schema.json", schemas / "schema.json")
    (schemas / "survivorship.schema.json").write_text('{"type": "object"}')
    (schemas / "match.schema.json").write_text(json.dumps({
        "$id": "https://example.org/match.json", "type": "object",
        "properties": {"rules": {"type": "array", "items": {"$ref": "#/$defs/rule"}}},
        "$defs": {"rule": {"type": "object", "required": ["name"]}},
    }))  # fmt: skip
    monkeypatch.setattr(mappings, "DEFAULT_DIR", schemas)
    mappings._validator.cache_clear()
    try:
        without_match = VALID.split("\nmatch:")[0] + "\n"
        path = _write(tmp_path, without_match + "match:\n  rules:\n    - name: same_vat\n    - kind: fuzzy\n")
        with pytest.raises(MappingError) as error:
            load_mapping(path)
    finally:
        mappings._validator.cache_clear()
    assert error.value.field == "match.rules[1]"
    assert error.value.line == len(without_match.splitlines()) + 4
    assert "'name' is a required property" in error.value.reason


# --- the pricing section (price.yaml) ------------------------------------------------------------------

PRICE = (DEFAULT_DIR / "price.yaml").read_text()


def _price_error(tmp_path: Path, old: str, new: str) -> MappingError:
    assert old in PRICE, old
    path = _write(tmp_path, PRICE.replace(old, new, 1), name="price.yaml")
    with pytest.raises(MappingError) as error:
        load_mapping(path)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if new.splitlines()[0] in text)
    assert (error.value.path, error.value.line) == (path, line), str(error.value)
    return error.value


def test_a_bad_pricing_value_names_file_line_and_field(tmp_path: Path) -> None:
    error = _price_error(
        tmp_path,
        'standard: {sales_org: "1010", distribution_channel: "10", currency: EUR}',
        'standard: {sales_org: "1010", distribution_channel: "10", currency: Euro}',
    )
    assert error.field == "pricing.standard.currency"
    assert "'Euro' does not match" in error.reason


def test_a_sap_filter_for_another_condition_type_is_refused(tmp_path: Path) -> None:
    expand = "    expand: [to_SlsPrcgCndnRecdValidity]\n"
    error = _price_error(tmp_path, expand, "    filter: \"ConditionType eq 'ZPR0'\"\n" + expand)
    assert error.field == "systems.sap.filter"
    assert "condition type ZPR0 but pricing.condition_type is PR00" in error.reason


def test_a_pricebook_listed_twice_needs_a_multi_currency_org(tmp_path: Path) -> None:
    gbp, chf_again = (
        '{name: GBP Price Book, key: SH-GBP, sales_org: "1510"',
        '{name: CHF Price Book, sales_org: "1510"',
    )
    error = _price_error(tmp_path, gbp, chf_again)
    assert error.field == "pricing.pricebooks[1].name"
    assert "'CHF Price Book' is listed twice" in error.reason


def test_partners_synchub_creates_are_extended_to_the_sales_area_its_orders_go_to() -> None:
    # Issue 11, row 3: SD refuses an order whose sold-to party lacks the order's sales area.
    customer = load_mapping(DEFAULT_DIR / "customer.yaml").raw["systems"]["sap"]["publish"]
    header = load_mapping(DEFAULT_DIR / "order.yaml").raw["orders"]["header"]
    prefix = "to_Customer.to_CustomerSalesArea[0]."
    area = {k.removeprefix(prefix): v["value"] for k, v in customer.items() if k.startswith(prefix)}
    assert (area["SalesOrganization"], area["DistributionChannel"], area["Division"]) == (
        header["SalesOrganization"],
        header["DistributionChannel"],
        header["OrganizationDivision"],
    )
    assert area["Currency"] == load_mapping(DEFAULT_DIR / "order.yaml").raw["orders"]["currency"]
