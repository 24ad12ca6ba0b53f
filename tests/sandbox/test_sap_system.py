"""SapSystem on its own: loading and dumping data files, numbering, stamps and atomic transactions."""

from __future__ import annotations

import datetime as dt

import pytest

from sandbox.sap.model import load_model
from sandbox.sap.odata import ODataError
from sandbox.sap.system import SapSystem
from sandbox.seed import SeedOptions, generate

BP = load_model()["API_BUSINESS_PARTNER"]
NOW = dt.datetime(2026, 5, 4, 12, 30, 15, tzinfo=dt.UTC)


def _system() -> SapSystem:
    return SapSystem(clock=lambda: NOW, standard_grouping="BP02", assigns_ordinal_numbers=True)


def test_dump_of_loaded_data_loads_back_identically() -> None:
    first = _system()
    first.load(
        {
            "API_BUSINESS_PARTNER": {
                "A_BusinessPartner": [{"BusinessPartner": "1000005", "OrganizationBPName1": "Acme"}],
                "A_BusinessPartnerAddress": [
                    {
                        "BusinessPartner": "1000005",
                        "AddressID": "40000",
                        "ValidityStartDate": "2026-01-01T00:00:00Z",
                    }
                ],
            },
            "API_PRODUCT_SRV": {"A_Product": [{"Product": "P1", "GrossWeight": "1.5"}]},
        }
    )
    dumped = first.dump()
    second = _system()
    second.load(dumped)
    assert second.dump() == dumped
    assert dumped["API_PRODUCT_SRV"]["A_Product"][0]["GrossWeight"] == "1.500"


def test_load_fills_missing_stamps_and_keeps_given_ones() -> None:
    system = _system()
    system.load(
        {
            "API_BUSINESS_PARTNER": {
                "A_BusinessPartner": [
                    {"BusinessPartner": "1", "LastChangeDate": "2025-12-24", "LastChangeTime": "PT18H00M00S"},
                    {"BusinessPartner": "2"},
                ]
            }
        }
    )
    first, second = system.records(BP["A_BusinessPartner"])
    assert (first["LastChangeDate"], first["LastChangeTime"]) == (dt.datetime(2025, 12, 24), dt.time(18, 0))
    assert (second["LastChangeDate"], second["LastChangeTime"]) == (
        dt.datetime(2026, 5, 4),
        dt.time(12, 30, 15),
    )
    assert second["BusinessPartnerUUID"] and second["CreationDate"] == dt.datetime(2026, 5, 4)


def test_load_rejects_unknown_property_naming_set_and_property() -> None:
    with pytest.raises(ValueError, match="A_BusinessPartner.*Nickname"):
        _system().load(
            {"API_BUSINESS_PARTNER": {"A_BusinessPartner": [{"BusinessPartner": "1", "Nickname": "x"}]}}
        )


def test_numbering_continues_after_the_highest_loaded_number() -> None:
    system = _system()
    system.load({"API_BUSINESS_PARTNER": {"A_BusinessPartner": [{"BusinessPartner": "1000041"}]}})
    created = system.create(
        BP["A_BusinessPartner"], {"BusinessPartnerCategory": "2", "OrganizationBPName1": "Next"}, user="U"
    )
    assert created.record["BusinessPartner"] == "1000042"


def test_failed_transaction_leaves_no_trace() -> None:
    system = _system()
    with pytest.raises(ODataError), system.transaction():
        system.create(
            BP["A_BusinessPartner"], {"BusinessPartnerCategory": "2", "OrganizationBPName1": "Gone"}, user="U"
        )
        system.create(BP["A_BusinessPartnerRole"], {"BusinessPartner": "404"}, user="U")
    assert system.records(BP["A_BusinessPartner"]) == []


def test_address_change_does_not_stamp_the_partner() -> None:
    clock = [NOW]
    system = SapSystem(clock=lambda: clock[0], standard_grouping="BP02")
    partner = system.create(
        BP["A_BusinessPartner"],
        {
            "BusinessPartnerCategory": "2",
            "OrganizationBPName1": "P",
            "to_BusinessPartnerAddress": [{"CityName": "A"}],
        },
        user="U",
    ).record
    (address,) = system.related(BP["A_BusinessPartner"], [partner], "to_BusinessPartnerAddress")[0]
    clock[0] = NOW + dt.timedelta(days=1)
    system.update(BP["A_BusinessPartnerAddress"], address, {"CityName": "B"}, user="U")
    assert system.get(BP["A_BusinessPartner"], partner)["LastChangeDate"] == dt.datetime(2026, 5, 4)
    system.update(BP["A_BusinessPartner"], partner, {"SearchTerm1": "P"}, user="U")
    assert system.get(BP["A_BusinessPartner"], partner)["LastChangeDate"] == dt.datetime(2026, 5, 5)


def test_condition_records_are_numbered_with_leading_zeros() -> None:
    prices = load_model()["API_SLSPRICINGCONDITIONRECORD_SRV"]
    created = _system().create(
        prices["A_SlsPrcgConditionRecord"],
        {
            "ConditionType": "PR00",
            "to_SlsPrcgCndnRecdValidity": [
                {
                    "ConditionValidityEndDate": "9999-12-31",
                    "ConditionValidityStartDate": "2026-01-01",
                    "Material": "P1",
                }
            ],
        },
        user="U",
    )
    assert created.record["ConditionRecord"] == "0000000001"
    (validity,) = created.children["to_SlsPrcgCndnRecdValidity"]
    assert validity.record["ConditionRecord"] == "0000000001"


# ------------------------------------------------------------------------------------------ initial values

ORG = {"BusinessPartnerCategory": "2", "OrganizationBPName1": "Org"}


def test_loaded_records_hold_abap_initial_values_for_missing_fields() -> None:
    system = _system()
    system.load(
        {
            "API_BUSINESS_PARTNER": {"A_BusinessPartner": [{"BusinessPartner": "1", "SearchTerm2": None}]},
            "API_PRODUCT_SRV": {"A_Product": [{"Product": "P1"}]},
        }
    )
    (partner,) = system.records(BP["A_BusinessPartner"])
    (product,) = system.records(load_model()["API_PRODUCT_SRV"]["A_Product"])
    assert (partner["SearchTerm2"], partner["BusinessPartnerIsBlocked"], partner["BirthDate"]) == (
        "",
        False,
        None,
    )
    assert str(product["GrossWeight"]) == "0.000" and product["CrossPlantStatusValidityDate"] is None


def test_put_resets_unsent_fields_to_initial_values_not_null() -> None:
    system = _system()
    partner = system.create(BP["A_BusinessPartner"], {**ORG, "SearchTerm1": "S", "IsFemale": True}, user="U")
    system.update(BP["A_BusinessPartner"], partner.record, ORG, user="U", replace=True)
    stored = system.get(BP["A_BusinessPartner"], partner.record)
    assert (stored["SearchTerm1"], stored["IsFemale"]) == ("", False)


def test_dump_shows_initial_values_and_loads_back_identically() -> None:
    first = _system()
    first.create(BP["A_BusinessPartner"], {**ORG, "to_BusinessPartnerAddress": [{"CityName": "A"}]}, user="U")
    dumped = first.dump()
    (partner,) = dumped["API_BUSINESS_PARTNER"]["A_BusinessPartner"]
    assert partner["SearchTerm2"] == "" and partner["IsMarkedForArchiving"] is False
    assert "BirthDate" not in partner  # null dates are left out
    second = _system()
    second.load(dumped)
    assert second.dump() == dumped


# ------------------------------------------------------------------------------------------ create rules


def test_create_rejects_a_partner_without_category_but_load_keeps_one() -> None:
    system = _system()
    with pytest.raises(ODataError) as failed:
        system.create(BP["A_BusinessPartner"], {"OrganizationBPName1": "X"}, user="U")
    assert (failed.value.status, failed.value.details[0]["propertyref"]) == (400, "BusinessPartnerCategory")
    system.load({"API_BUSINESS_PARTNER": {"A_BusinessPartner": [{"BusinessPartner": "7"}]}})
    assert [p["BusinessPartner"] for p in system.records(BP["A_BusinessPartner"])] == ["7"]


def test_seeded_partners_and_orders_pass_the_create_rules() -> None:
    data, _ = generate(SeedOptions(seed=3, customers=12, products=8, orders=12))
    system = _system()
    system.load(data.sap)
    orders = load_model()["API_SALES_ORDER_SRV"]
    read_only = {"BusinessPartner", "Customer", "BusinessPartnerUUID", "SalesOrder", "SalesOrderItem"}
    for partner in data.sap["API_BUSINESS_PARTNER"]["A_BusinessPartner"]:
        payload = {k: v for k, v in partner.items() if k not in read_only}
        system.create(BP["A_BusinessPartner"], payload, user="U")
    items = data.sap["API_SALES_ORDER_SRV"]["A_SalesOrderItem"]
    for order in data.sap["API_SALES_ORDER_SRV"]["A_SalesOrder"]:
        payload = {k: v for k, v in order.items() if k not in read_only}
        payload["to_Item"] = [
            {k: v for k, v in i.items() if k not in read_only}
            for i in items
            if i["SalesOrder"] == order["SalesOrder"]
        ]
        system.create(orders["A_SalesOrder"], payload, user="U")
    seeded = data.sap["API_SALES_ORDER_SRV"]["A_SalesOrder"]
    assert seeded and system.count(orders["A_SalesOrder"]) == 2 * len(seeded)


# --- CVI: a customer role creates the partner's customer, with its own number (issue 11, row 2) -------


def _partner_with_roles(system: SapSystem) -> dict:
    created = system.create(
        BP["A_BusinessPartner"],
        {
            "BusinessPartnerCategory": "2",
            "OrganizationBPName1": "Acme GmbH",
            "to_BusinessPartnerRole": [{"BusinessPartnerRole": "FLCU00"}, {"BusinessPartnerRole": "FLCU01"}],
        },
        user="U",
    )
    return system.get(BP["A_BusinessPartner"], {"BusinessPartner": created.record["BusinessPartner"]})


def test_a_customer_role_gives_the_partner_a_customer_numbered_from_the_customers_own_range() -> None:
    system = _system()
    first, second = _partner_with_roles(system), _partner_with_roles(system)
    for partner in (first, second):
        assert partner["Customer"] and partner["Customer"] != partner["BusinessPartner"]
        customer = system.get(BP["A_Customer"], {"Customer": partner["Customer"]})
        assert customer["CustomerName"] == "Acme GmbH"
    assert int(second["Customer"]) == int(first["Customer"]) + 1
    # A partner's number is no customer: SD would refuse it as sold-to party.
    with pytest.raises(ODataError):
        system.get(BP["A_Customer"], {"Customer": first["BusinessPartner"]})


def test_with_same_numbers_the_customer_takes_the_partners_number() -> None:
    system = SapSystem(clock=lambda: NOW, same_customer_numbers=True, standard_grouping="BP02")
    partner = _partner_with_roles(system)
    assert partner["Customer"] == partner["BusinessPartner"]
    assert (
        system.get(BP["A_Customer"], {"Customer": partner["BusinessPartner"]})["Customer"]
        == partner["Customer"]
    )


def test_new_customers_are_numbered_after_the_loaded_ones() -> None:
    data, _ = generate(SeedOptions(seed=3, customers=12, products=0, orders=0))
    system = _system()
    system.load(data.sap)
    highest = max(int(c["Customer"]) for c in data.sap["API_BUSINESS_PARTNER"]["A_Customer"])
    assert int(_partner_with_roles(system)["Customer"]) == highest + 1


# --- what real systems refuse in a partner create (issue 11, row 8) ----------------------------------


def test_a_partner_without_grouping_is_refused_where_no_standard_grouping_is_defined() -> None:
    strict = SapSystem(clock=lambda: NOW)
    with pytest.raises(ODataError) as failed:
        strict.create(BP["A_BusinessPartner"], ORG, user="U")
    assert failed.value.details[0]["propertyref"] == "BusinessPartnerGrouping"
    with pytest.raises(ODataError) as unknown:
        strict.create(BP["A_BusinessPartner"], {**ORG, "BusinessPartnerGrouping": "XX99"}, user="U")
    assert "XX99" in unknown.value.message
    created = strict.create(BP["A_BusinessPartner"], {**ORG, "BusinessPartnerGrouping": "Z001"}, user="U")
    assert created.record["BusinessPartnerGrouping"] == "Z001"
    lenient = SapSystem(clock=lambda: NOW, standard_grouping="BP02")
    assert lenient.create(BP["A_BusinessPartner"], ORG, user="U").record["BusinessPartnerGrouping"] == "BP02"


def test_a_phone_or_email_without_its_ordinal_number_is_refused() -> None:
    # Deep inserted under an organisation's address, the items take its (initial) Person.
    strict = SapSystem(clock=lambda: NOW)
    address = {"Country": "DE", "CityName": "Berlin"}
    for nav in ("to_PhoneNumber", "to_EmailAddress"):
        item = {"PhoneNumber": "030 1234"} if nav == "to_PhoneNumber" else {"EmailAddress": "a@b.example"}
        payload = {
            **ORG,
            "BusinessPartnerGrouping": "BP02",
            "to_BusinessPartnerAddress": [{**address, nav: [item]}],
        }
        with pytest.raises(ODataError) as failed:
            strict.create(BP["A_BusinessPartner"], payload, user="U")
        assert {d["propertyref"] for d in failed.value.details} == {"OrdinalNumber"}
        keyed = {
            **payload,
            "to_BusinessPartnerAddress": [{**address, nav: [{**item, "Person": "", "OrdinalNumber": "1"}]}],
        }
        strict.create(BP["A_BusinessPartner"], keyed, user="U")
