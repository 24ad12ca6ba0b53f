"""Source records to canonical customers and back, on the seeded CRM and ERP (sandbox/seed/)."""

from __future__ import annotations

from typing import Any

import pytest

from mdm.canonical import CanonicalResult, EntityModel, to_canonical, to_target
from mdm.config import DEFAULT_DIR, load_mapping
from sandbox.salesforce.schema import load_schema
from sandbox.sap.model import load_model
from sandbox.seed import BP_SERVICE, SeedOptions, expanded_partners, generate


@pytest.fixture(scope="module")
def model() -> EntityModel:
    mapping = load_mapping(DEFAULT_DIR / "customer.yaml")
    assert mapping.model is not None
    return mapping.model


def _sap_partners(sets: dict[str, list[dict]]) -> dict[str, dict[str, Any]]:
    """A_BusinessPartner rows with their navigations expanded, as the SAP connector delivers them."""
    return {partner["BusinessPartner"]: partner for partner in expanded_partners(sets)}


@pytest.fixture(scope="module")
def seeded(model: EntityModel) -> dict[str, Any]:
    data, truth = generate(SeedOptions(seed=42, customers=300))
    read = load_mapping(DEFAULT_DIR / "customer.yaml").source.salesforce.fields
    accounts = {a["Id"]: {f: a[f] for f in read if f in a} for a in data.salesforce["Account"]}
    partners = _sap_partners(data.sap[BP_SERVICE])
    return {
        "truth": truth,
        "salesforce": {k: to_canonical(model, "salesforce", v) for k, v in accounts.items()},
        "sap": {k: to_canonical(model, "sap", v) for k, v in partners.items()},
        "accounts": accounts,
        "partners": partners,
    }


# --- inbound -----------------------------------------------------------------------------------------


def test_every_seeded_record_maps_to_a_named_canonical_customer(seeded: dict[str, Any]) -> None:
    results: list[CanonicalResult] = [*seeded["salesforce"].values(), *seeded["sap"].values()]
    assert len(results) == 600
    assert all(r.values["name"] for r in results)
    clean = sum(not r.problems for r in results) / len(results)
    print(f"records without problems: {clean:.3f}")
    assert clean >= 0.95


def test_same_companies_agree_on_country_vat_postal_code_and_erp_number(seeded: dict[str, Any]) -> None:
    fields = ("country", "vat_number", "postal_code", "erp_customer_number", "legal_form", "phone", "city")
    agree = {f: [0, 0] for f in fields}
    for company in seeded["truth"]["customers"]:
        for sf_id in company["salesforce"]:
            for bp in company["sap"]:
                crm, erp = seeded["salesforce"][sf_id].values, seeded["sap"][bp].values
                for f in fields:
                    if crm[f] is not None and erp[f] is not None:
                        agree[f][0] += crm[f] == erp[f]
                        agree[f][1] += 1
    shares = {f: same / total for f, (same, total) in agree.items()}
    print(
        "agreement of CRM and ERP on the same company:",
        {f: f"{s:.3f} of {agree[f][1]}" for f, s in shares.items()},
    )
    assert all(total >= 40 for _, total in agree.values())
    assert shares["country"] >= 0.99
    assert shares["vat_number"] >= 0.97
    assert shares["postal_code"] >= 0.95
    assert shares["erp_customer_number"] >= 0.9  # a CRM account links one of a company's SAP duplicates
    assert shares["legal_form"] >= 0.97
    assert shares["phone"] >= 0.97


def test_salesforce_record_is_read_field_by_field(model: EntityModel) -> None:
    result = to_canonical(
        model,
        "salesforce",
        {
            "Id": "001000000000001AAA",
            "Name": "Müller  Maschinenbau Gesellschaft mit beschränkter Haftung",
            "BillingStreet": "Hauptstr. 5a\n2. OG",
            "BillingCity": "MÜNCHEN",
            "BillingPostalCode": "D-80331",
            "BillingState": "Bayern",
            "BillingCountry": "Deutschland",
            "Phone": "089/1234567",
            "Website": "https://www.mueller-maschinenbau.de/kontakt",
            "Industry": "Machinery",
            "DunsNumber": "123456789",
            "VAT_Number__c": "DE 123 456 789",
            "SAP_Customer_Number__c": "0001000123",
        },
    )
    assert result.problems == []
    assert result.values == {
        "name": "Müller Maschinenbau Gesellschaft mit beschränkter Haftung",
        "legal_form": "GMBH",
        "street": "Hauptstraße",
        "house_number": "5a",
        "postal_code": "80331",
        "city": "München",
        "region": "BY",
        "country": "DE",
        "vat_number": "DE123456789",
        "duns": "123456789",
        "phone": "+49891234567",
        "email": None,
        "website": "mueller-maschinenbau.de",
        "industry": "Machinery",
        "erp_customer_number": "1000123",
        "erp_business_partner": None,
    }


def _partner(**changes: Any) -> dict[str, Any]:
    partner: dict[str, Any] = {
        "BusinessPartner": "1000123",
        "OrganizationBPName1": "Müller Maschinenbau",
        "OrganizationBPName2": "GmbH",
        "LegalForm": "02",
        "to_BusinessPartnerAddress": [
            {
                "StreetName": "Hauptstraße",
                "HouseNumber": "5a",
                "PostalCode": "80331",
                "CityName": "München",
                "Region": "BY",
                "Country": "DE",
                "to_EmailAddress": [{"EmailAddress": "Info@Mueller-Maschinenbau.de"}],
                "to_PhoneNumber": [
                    {"PhoneNumber": "089 1234567", "DestinationLocationCountry": "DE",
                     "InternationalPhoneNumber": "+49891234567"}
                ],
            }
        ],
        "to_BusinessPartnerRole": [{"BusinessPartnerRole": "FLCU01"}],
        "to_BusinessPartnerTax": [{"BPTaxType": "DE0", "BPTaxNumber": "DE123456789"}],
        "Customer": "17100045",
        "to_Customer": {"Customer": "17100045", "Industry": "MACH", "VATRegistration": ""},
    }  # fmt: skip
    partner.update(changes)
    return partner


def test_sap_partner_is_read_through_its_expanded_navigations(model: EntityModel) -> None:
    result = to_canonical(model, "sap", _partner())
    assert result.problems == []
    assert result.values == {
        "name": "Müller Maschinenbau GmbH",
        "legal_form": "GMBH",
        "street": "Hauptstraße",
        "house_number": "5a",
        "postal_code": "80331",
        "city": "München",
        "region": "BY",
        "country": "DE",
        "vat_number": "DE123456789",
        "duns": None,
        "phone": "+49891234567",
        "email": "info@mueller-maschinenbau.de",
        "website": None,
        "industry": "Machinery",
        "erp_customer_number": "17100045",
        "erp_business_partner": "1000123",
    }


def test_sap_legacy_street_with_the_house_number_inside_is_split(model: EntityModel) -> None:
    partner = _partner()
    partner["to_BusinessPartnerAddress"][0] |= {"StreetName": "Hauptstr. 5a", "HouseNumber": ""}
    values = to_canonical(model, "sap", partner).values
    assert (values["street"], values["house_number"]) == ("Hauptstraße", "5a")


def test_sap_tax_number_is_the_first_of_any_tax_entry_then_the_customer_vat(model: EntityModel) -> None:
    taxes = [{"BPTaxType": "DE1", "BPTaxNumber": ""}, {"BPTaxType": "DE0", "BPTaxNumber": "DE 987 654 321"}]
    assert (
        to_canonical(model, "sap", _partner(to_BusinessPartnerTax=taxes)).values["vat_number"]
        == "DE987654321"
    )
    customer = {"Customer": "1000123", "VATRegistration": "DE111222333"}
    fallback = to_canonical(model, "sap", _partner(to_BusinessPartnerTax=[], to_Customer=customer))
    assert fallback.values["vat_number"] == "DE111222333"


def test_sap_phone_falls_back_to_the_national_number_and_its_country(model: EntityModel) -> None:
    partner = _partner()
    partner["to_BusinessPartnerAddress"][0]["to_PhoneNumber"] = [
        {"PhoneNumber": "020 12345678", "DestinationLocationCountry": "GB", "InternationalPhoneNumber": ""}
    ]
    assert to_canonical(model, "sap", partner).values["phone"] == "+442012345678"


def test_sap_partner_without_address_or_customer_still_maps(model: EntityModel) -> None:
    result = to_canonical(model, "sap", _partner(to_BusinessPartnerAddress=[], to_Customer=None))
    assert result.values["name"] == "Müller Maschinenbau GmbH"
    assert result.values["country"] is None and result.values["street"] is None
    assert result.problems == []


def test_odata_verbose_results_wrappers_are_read_too(model: EntityModel) -> None:
    partner = _partner()
    partner["to_BusinessPartnerTax"] = {"results": partner["to_BusinessPartnerTax"]}
    assert to_canonical(model, "sap", partner).values["vat_number"] == "DE123456789"


def test_an_unreadable_value_is_a_problem_naming_field_and_kind_not_the_value(model: EntityModel) -> None:
    result = to_canonical(
        model,
        "salesforce",
        {"Name": "Acme Inc.", "BillingCountry": "USA", "Phone": "call Bob", "Website": "n/a"},
    )
    assert result.values["phone"] is None and result.values["website"] is None
    assert result.values["country"] == "US"  # the other fields are still read
    assert "phone: not a phone number (a 8-character text in Phone)" in result.problems
    assert "website: not a web address with a domain (a 3-character text in Website)" in result.problems
    assert not any("Bob" in p for p in result.problems)


def test_a_value_outside_the_canonical_vocabulary_is_a_problem(model: EntityModel) -> None:
    result = to_canonical(model, "salesforce", {"Name": "Acme Inc.", "Industry": "Rocket Science"})
    assert result.values["industry"] is None
    assert result.problems == ["industry: not one of the allowed values (a 14-character text)"]


def test_a_missing_required_name_is_a_problem(model: EntityModel) -> None:
    result = to_canonical(model, "salesforce", {"Name": "  ", "BillingCountry": "DE"})
    assert result.problems == ["name: required, but the record has no usable value"]


def test_a_missing_country_is_inferred_from_the_vat_id_then_the_phone(model: EntityModel) -> None:
    by_vat = to_canonical(model, "salesforce", {"Name": "X GmbH", "VAT_Number__c": "ATU12345678"})
    assert by_vat.values["country"] == "AT"
    by_phone = to_canonical(model, "salesforce", {"Name": "X Ltd", "Phone": "+44 20 12345678"})
    assert by_phone.values["country"] == "GB"


def test_the_crm_business_partner_number_is_not_taken_for_a_customer_number(model: EntityModel) -> None:
    # Issue 11, row 2: the two numbers differ unless the CVI assigns the same numbers.
    values = to_canonical(
        model, "salesforce", {"Name": "X AG", "SAP_Business_Partner__c": "0001000042"}
    ).values
    assert (values["erp_customer_number"], values["erp_business_partner"]) == (None, "1000042")


def test_the_sap_customer_number_is_the_partners_customer_not_the_partner(model: EntityModel) -> None:
    values = to_canonical(model, "sap", _partner()).values
    assert (values["erp_customer_number"], values["erp_business_partner"]) == ("17100045", "1000123")
    # A read without the partner's Customer property still finds it through to_Customer.
    without = {k: v for k, v in _partner().items() if k != "Customer"}
    assert to_canonical(model, "sap", without).values["erp_customer_number"] == "17100045"
    # A partner without a customer role has no customer number (never the partner's own).
    plain = _partner(Customer="", to_Customer=None)
    assert to_canonical(model, "sap", plain).values["erp_customer_number"] is None


# --- outbound ----------------------------------------------------------------------------------------

GOLDEN = {
    "name": "Bolander und Fliegner Gesellschaft mit beschränkter Haftung",
    "legal_form": "GMBH",
    "street": "Hauptstraße",
    "house_number": "5a",
    "postal_code": "80331",
    "city": "München",
    "region": "BY",
    "country": "DE",
    "vat_number": "DE123456789",
    "duns": "123456789",
    "phone": "+49891234567",
    "email": "info@bolander.de",
    "website": "bolander.de",
    "industry": "Machinery",
    "erp_customer_number": "1000123",
}


def test_salesforce_target_is_flat_and_only_what_the_crm_may_receive(model: EntityModel) -> None:
    assert to_target(model, "salesforce", GOLDEN) == {
        "Name": "Bolander und Fliegner Gesellschaft mit beschränkter Haftung",
        "BillingStreet": "Hauptstraße 5a",
        "BillingCity": "München",
        "BillingPostalCode": "80331",
        "BillingState": "Bayern",
        "BillingCountry": "Germany",
        "Phone": "+49891234567",
        "Website": "bolander.de",
        "Industry": "Machinery",
        "VAT_Number__c": "DE123456789",
        "SAP_Customer_Number__c": "1000123",
    }


SALES_AREA = {
    "SalesOrganization": "1010",
    "DistributionChannel": "10",
    "Division": "00",
    "Currency": "EUR",
    "CustomerPaymentTerms": "0001",
    "IncotermsClassification": "EXW",
    "IncotermsLocation1": "Walldorf",
}


def test_sap_target_is_nested_for_a_deep_insert(model: EntityModel) -> None:
    assert to_target(model, "sap", GOLDEN) == {
        "OrganizationBPName1": "Bolander und Fliegner Gesellschaft mit",
        "OrganizationBPName2": "beschränkter Haftung",
        "BusinessPartnerCategory": "2",
        "BusinessPartnerGrouping": "BP02",
        "Language": "DE",
        "to_BusinessPartnerAddress": [
            {
                "StreetName": "Hauptstraße",
                "HouseNumber": "5a",
                "PostalCode": "80331",
                "CityName": "München",
                "Region": "BY",
                "Country": "DE",
                "to_PhoneNumber": [{"PhoneNumber": "089 1234567", "DestinationLocationCountry": "DE"}],
                "to_EmailAddress": [{"EmailAddress": "info@bolander.de"}],
            }
        ],
        "to_BusinessPartnerTax": [{"BPTaxType": "DE0", "BPTaxNumber": "DE123456789"}],
        "to_BusinessPartnerRole": [{"BusinessPartnerRole": "FLCU00"}, {"BusinessPartnerRole": "FLCU01"}],
        # Issue 11, row 3: the customer is extended to the sales area orders go to.
        "to_Customer": {"to_CustomerSalesArea": [SALES_AREA]},
    }


def test_missing_values_are_left_out_of_the_target(model: EntityModel) -> None:
    sparse = {"name": "Acme Inc.", "country": "US"}
    assert to_target(model, "sap", sparse) == {
        "OrganizationBPName1": "Acme Inc.",
        "BusinessPartnerCategory": "2",
        "BusinessPartnerGrouping": "BP02",
        "Language": "EN",
        "to_BusinessPartnerAddress": [{"Country": "US"}],
        "to_BusinessPartnerRole": [{"BusinessPartnerRole": "FLCU00"}, {"BusinessPartnerRole": "FLCU01"}],
        "to_Customer": {"to_CustomerSalesArea": [SALES_AREA]},
    }
    assert to_target(model, "salesforce", sparse) == {"Name": "Acme Inc.", "BillingCountry": "United States"}


def test_include_nulls_writes_missing_values_as_none_to_clear_them(model: EntityModel) -> None:
    target = to_target(model, "salesforce", {"name": "Acme Inc."}, include_nulls=True)
    assert target["Phone"] is None and target["Name"] == "Acme Inc."
    assert set(target) == set(model.receivable("salesforce"))


# The fields each system receives and reads back (legal_form is derived from the name in both).
OWNED = {
    "salesforce": ("name", "street", "house_number", "postal_code", "city", "region", "country", "vat_number",
                   "phone", "website", "industry", "erp_customer_number"),
    "sap": ("name", "street", "house_number", "postal_code", "city", "region", "country", "vat_number",
            "phone", "email"),
}  # fmt: skip


@pytest.mark.parametrize("system", ["salesforce", "sap"])
def test_round_trip_restores_the_fields_a_system_receives(
    model: EntityModel, seeded: dict[str, Any], system: str
) -> None:
    mismatches = []
    for result in [*seeded["salesforce"].values(), *seeded["sap"].values()]:
        values = result.values
        back = to_canonical(model, system, to_target(model, system, values)).values  # type: ignore[arg-type]
        for f in OWNED[system]:
            if system == "sap" and f == "vat_number" and not values.get("country"):
                continue  # SAP takes a tax number only with its type, which comes from the country
            if back[f] != values[f]:
                mismatches.append((f, values[f], back[f]))
    assert mismatches == []


def _sap_lengths(node: dict[str, Any], entity_set: str, found: list[str]) -> None:
    sets = load_model()[BP_SERVICE]
    spec = sets[entity_set]
    for name, value in node.items():
        if isinstance(value, list | dict):
            for item in value if isinstance(value, list) else [value]:
                _sap_lengths(item, spec.navigations[name].target_set, found)
        elif name not in spec.properties:
            found.append(f"{entity_set}.{name}: no such property")
        elif isinstance(value, str) and spec.properties[name].max_length is not None:
            if len(value) > spec.properties[name].max_length:
                found.append(f"{entity_set}.{name}: {len(value)} > {spec.properties[name].max_length}")


def test_outbound_values_fit_the_real_field_lengths(model: EntityModel, seeded: dict[str, Any]) -> None:
    account = load_schema()["Account"]
    long_name = (
        "Internationale Spedition und Lagerhaltung Nordrhein-Westfalen Gesellschaft mit beschränkter Haftung"
    )
    stress = dict(GOLDEN, name=long_name, street="x" * 70, city="y" * 50, house_number="1" * 12)
    too_long: list[str] = []
    for values in [stress, *(r.values for r in [*seeded["salesforce"].values(), *seeded["sap"].values()])]:
        for name, value in to_target(model, "salesforce", values).items():
            field = account.field(name)
            if field is None:
                too_long.append(f"Account.{name}: no such field")
            elif isinstance(value, str) and field.length and len(value) > field.length:
                too_long.append(f"Account.{name}: {len(value)} > {field.length}")
        _sap_lengths(to_target(model, "sap", values), "A_BusinessPartner", too_long)
    assert too_long == []


def test_a_tax_number_goes_to_sap_only_with_the_country_that_gives_its_type(model: EntityModel) -> None:
    # SAP rejects a tax number without its tax type, and the type comes from the country.
    assert "to_BusinessPartnerTax" not in to_target(
        model, "sap", {"name": "X Corp", "vat_number": "949135976"}
    )
    taxes = to_target(model, "sap", {"name": "X GmbH", "vat_number": "DE123456789", "country": "DE"})
    assert taxes["to_BusinessPartnerTax"] == [{"BPTaxType": "DE0", "BPTaxNumber": "DE123456789"}]
