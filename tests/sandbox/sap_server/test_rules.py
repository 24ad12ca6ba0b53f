"""What the SAP sandbox server holds to as S/4 does: ABAP initial values, required fields, JSON only, typed
filter literals, PATCH and stamps read back."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pyodata
import pytest
from pyodata.exceptions import HttpError

from tests.sandbox.sap_server.kit import (
    BP_SRV,
    ORDER_HEADER,
    PRICE_SRV,
    SO_SRV,
    Sandbox,
    error_of,
    new_order,
    new_partner,
)


def _get_json(sandbox: Sandbox, service: str, path: str, **params: str) -> dict:
    response = sandbox.session(token=False).get(sandbox.url(service) + path, params=params)
    assert response.status_code == 200, response.text
    return response.json()["d"]


def test_unset_fields_read_as_abap_initial_values_not_null(sandbox: Sandbox) -> None:
    partner = _get_json(sandbox, BP_SRV, "A_BusinessPartner('1000001')")
    product = _get_json(sandbox, "API_PRODUCT_SRV", "A_Product('TG11')")
    assert (partner["SearchTerm2"], partner["BusinessPartnerIsBlocked"]) == ("", False)
    assert (product["GrossWeight"], product["QuarantinePeriod"]) == ("0.000", "0")
    assert (partner["BirthDate"], product["CrossPlantStatusValidityDate"]) == (None, None)


def test_filter_eq_empty_string_matches_fields_never_filled(bp: pyodata.Client) -> None:
    partners = bp.entity_sets.A_BusinessPartner
    empty = partners.get_entities().filter("SearchTerm2 eq '' and BusinessPartner le '1000003'").execute()
    assert [p.BusinessPartner for p in empty] == ["1000001", "1000002", "1000003"]
    assert partners.get_entities().filter("SearchTerm2 eq null").execute() == []


def test_orderby_sorts_initial_values_as_empty_strings(sandbox: Sandbox) -> None:
    partners = _get_json(
        sandbox,
        BP_SRV,
        "A_BusinessPartner",
        **{"$filter": "BusinessPartner le '1000003'", "$orderby": "LastName desc", "$select": "LastName"},
    )["results"]
    assert [p["LastName"] for p in partners] == ["Gamma", "", ""]


def test_reads_and_dump_show_the_same_initial_values(sandbox: Sandbox) -> None:
    entity = _get_json(sandbox, BP_SRV, "A_BusinessPartner('1000002')")
    (dumped,) = [
        p for p in sandbox.system.dump()[BP_SRV]["A_BusinessPartner"] if p["BusinessPartner"] == "1000002"
    ]
    assert {k: entity[k] for k in dumped} == dumped
    assert dumped["SearchTerm2"] == "" and "BirthDate" not in dumped


def test_null_sent_for_a_string_is_stored_as_empty(sandbox: Sandbox, bp: pyodata.Client) -> None:
    partner = new_partner(bp, "Sigma GmbH", SearchTerm1="SIGMA")
    response = sandbox.session().patch(
        sandbox.url(BP_SRV) + f"A_BusinessPartner('{partner.BusinessPartner}')", json={"SearchTerm1": None}
    )
    assert response.status_code == 204
    assert _get_json(sandbox, BP_SRV, f"A_BusinessPartner('{partner.BusinessPartner}')")["SearchTerm1"] == ""


def test_deep_inserted_children_get_initial_values(sandbox: Sandbox, bp: pyodata.Client) -> None:
    partner = new_partner(bp, "Tau GmbH", to_BusinessPartnerAddress=[{"CityName": "Graz", "Country": "AT"}])
    addresses = _get_json(
        sandbox, BP_SRV, f"A_BusinessPartner('{partner.BusinessPartner}')/to_BusinessPartnerAddress"
    )["results"]
    assert [(a["CityName"], a["StreetName"], a["PostalCode"]) for a in addresses] == [("Graz", "", "")]


# ------------------------------------------------------------------------------------------ required fields


def _create_error(sandbox: Sandbox, service: str, set_name: str, payload: dict) -> dict:
    response = sandbox.session().post(sandbox.url(service) + set_name, json=payload)
    assert response.status_code == 400, response.text
    return error_of(response)


def _propertyrefs(error: dict) -> list[str]:
    return [d["propertyref"] for d in error["innererror"]["errordetails"]]


def test_partner_without_category_is_400_naming_the_property(sandbox: Sandbox) -> None:
    error = _create_error(sandbox, BP_SRV, "A_BusinessPartner", {"OrganizationBPName1": "No category"})
    assert _propertyrefs(error) == ["BusinessPartnerCategory"]
    assert error["innererror"]["errordetails"][0]["severity"] == "error"


def test_partner_with_unknown_category_is_400(sandbox: Sandbox) -> None:
    payload = {"BusinessPartnerCategory": "9", "OrganizationBPName1": "Nine"}
    error = _create_error(sandbox, BP_SRV, "A_BusinessPartner", payload)
    assert _propertyrefs(error) == ["BusinessPartnerCategory"] and "9" in error["message"]["value"]


def test_organisation_and_group_need_name_1(sandbox: Sandbox) -> None:
    for category in ("2", "3"):
        payload = {"BusinessPartnerCategory": category, "OrganizationBPName2": "only line 2"}
        error = _create_error(sandbox, BP_SRV, "A_BusinessPartner", payload)
        assert _propertyrefs(error) == ["OrganizationBPName1"]


def test_person_needs_a_last_name(sandbox: Sandbox) -> None:
    error = _create_error(
        sandbox, BP_SRV, "A_BusinessPartner", {"BusinessPartnerCategory": "1", "FirstName": "Ann"}
    )
    assert _propertyrefs(error) == ["LastName"]


def test_server_derives_full_name_and_name_of_a_person(bp: pyodata.Client) -> None:
    person = (
        bp.entity_sets.A_BusinessPartner.create_entity()
        .set(BusinessPartnerCategory="1", FirstName="Rita", LastName="Roe")
        .execute()
    )
    assert (person.BusinessPartnerFullName, person.BusinessPartnerName) == ("Rita Roe", "Rita Roe")
    lone = bp.entity_sets.A_BusinessPartner.create_entity().set(BusinessPartnerCategory="1", LastName="Poe")
    assert lone.execute().BusinessPartnerFullName == "Poe"


def test_server_derives_full_name_of_an_organisation_from_both_name_lines(bp: pyodata.Client) -> None:
    org = new_partner(bp, "Upsilon Tools", OrganizationBPName2="GmbH")
    stored = bp.entity_sets.A_BusinessPartner.get_entity(org.BusinessPartner).execute()
    assert (stored.BusinessPartnerFullName, stored.BusinessPartnerName) == ("Upsilon Tools GmbH",) * 2


def test_given_full_name_is_kept(bp: pyodata.Client) -> None:
    org = new_partner(bp, "Phi", BusinessPartnerFullName="Phi Holding")
    assert bp.entity_sets.A_BusinessPartner.get_entity(
        org.BusinessPartner
    ).execute().BusinessPartnerFullName == ("Phi Holding")


def test_sales_order_without_organisational_data_lists_every_missing_field(sandbox: Sandbox) -> None:
    error = _create_error(sandbox, SO_SRV, "A_SalesOrder", {"SoldToParty": "1000001"})
    assert _propertyrefs(error) == [
        "SalesOrderType",
        "SalesOrganization",
        "DistributionChannel",
        "OrganizationDivision",
    ]


def test_sales_order_without_sold_to_party_is_400(sandbox: Sandbox) -> None:
    payload = {k: v for k, v in ORDER_HEADER.items() if k != "SoldToParty"}
    assert _propertyrefs(_create_error(sandbox, SO_SRV, "A_SalesOrder", payload)) == ["SoldToParty"]


def test_sales_order_item_needs_material_and_positive_quantity(sandbox: Sandbox) -> None:
    before = sandbox.system.count(sandbox.system.model[SO_SRV]["A_SalesOrder"])
    no_material = {**ORDER_HEADER, "to_Item": [{"RequestedQuantity": "1"}]}
    assert _propertyrefs(_create_error(sandbox, SO_SRV, "A_SalesOrder", no_material)) == ["Material"]
    zero = {**ORDER_HEADER, "to_Item": [{"Material": "TG11", "RequestedQuantity": "0"}]}
    assert _propertyrefs(_create_error(sandbox, SO_SRV, "A_SalesOrder", zero)) == ["RequestedQuantity"]
    assert sandbox.system.count(sandbox.system.model[SO_SRV]["A_SalesOrder"]) == before  # deep insert atomic


def test_item_added_to_an_existing_order_is_checked_too(so: pyodata.Client) -> None:
    order = new_order(so)
    items = so.entity_sets.A_SalesOrder.get_entity(order.SalesOrder).nav("to_Item")
    with pytest.raises(HttpError) as failed:
        so.entity_sets.A_SalesOrderItem.create_entity().set(
            SalesOrder=order.SalesOrder, Material="TG11", RequestedQuantity="-1"
        ).execute()
    assert failed.value.response.status_code == 400
    assert items.get_entities().execute() == []


# ------------------------------------------------------------------------------------------------ JSON only


def test_data_request_without_json_accept_is_406_in_sap_error_shape(sandbox: Sandbox) -> None:
    session = sandbox.session(token=False, json=False)  # requests sends Accept: */*
    response = session.get(sandbox.url(BP_SRV) + "A_BusinessPartner")
    assert response.status_code == 406
    message = error_of(response)["message"]["value"]
    assert "application/json" in message and "$format=json" in message


@pytest.mark.parametrize(
    ("path", "params", "accept"),
    [
        ("A_BusinessPartner('1000001')", {}, "application/xml"),
        ("A_BusinessPartner('1000001')/to_BusinessPartnerAddress", {}, "application/atom+xml"),
        ("A_BusinessPartner('1000001')/SearchTerm1", {}, "*/*"),
        ("A_BusinessPartner", {"$format": "xml"}, "application/json"),
        ("A_BusinessPartner", {}, "application/json;q=0, */*"),
    ],
)
def test_entity_data_is_not_served_as_xml(sandbox: Sandbox, path: str, params: dict, accept: str) -> None:
    response = sandbox.session(token=False, json=False).get(
        sandbox.url(BP_SRV) + path, params=params, headers={"Accept": accept}
    )
    assert response.status_code == 406


def test_format_json_is_enough_without_an_accept_header(sandbox: Sandbox) -> None:
    response = sandbox.session(token=False, json=False).get(
        sandbox.url(BP_SRV) + "A_BusinessPartner('1000001')", params={"$format": "json"}
    )
    assert response.status_code == 200 and response.json()["d"]["BusinessPartner"] == "1000001"


def test_count_metadata_and_value_need_no_json_accept(sandbox: Sandbox) -> None:
    session = sandbox.session(token=False, json=False)
    count = session.get(sandbox.url(BP_SRV) + "A_BusinessPartnerAddress/$count")
    assert (count.status_code, count.headers["content-type"].split(";")[0]) == (200, "text/plain")
    metadata = session.get(sandbox.url(BP_SRV) + "$metadata")
    assert metadata.status_code == 200 and metadata.headers["content-type"].startswith("application/xml")
    value = session.get(sandbox.url(BP_SRV) + "A_BusinessPartner('1000001')/SearchTerm1/$value")
    assert (value.status_code, value.text) == (200, "ALPHA")


def test_head_on_an_entity_set_fetches_a_token_without_json_accept(sandbox: Sandbox) -> None:
    response = sandbox.session(token=False, json=False).head(
        sandbox.url(BP_SRV) + "A_BusinessPartner", headers={"X-CSRF-Token": "Fetch"}
    )
    assert response.status_code == 200 and response.headers["x-csrf-token"] not in ("", "Required")


def test_create_without_json_accept_is_406_and_creates_nothing(sandbox: Sandbox) -> None:
    partners = sandbox.system.model[BP_SRV]["A_BusinessPartner"]
    before = sandbox.system.count(partners)
    session = sandbox.session(json=False)
    response = session.post(
        sandbox.url(BP_SRV) + "A_BusinessPartner",
        json={"BusinessPartnerCategory": "2", "OrganizationBPName1": "Atom Ltd"},
    )
    assert response.status_code == 406
    assert sandbox.system.count(partners) == before


def test_pyodata_reads_a_single_property_through_the_entity_proxy(bp: pyodata.Client) -> None:
    partner = bp.entity_sets.A_BusinessPartner.get_entity("1000002").execute()
    assert partner.get_proprty("SearchTerm1").execute() == "BETA"


# ------------------------------------------------------------------------------------ typed filter literals


def test_filter_with_time_literal_compares_change_times(bp: pyodata.Client) -> None:
    query = "LastChangeTime ge time'PT10H00M00S' and BusinessPartner le '1000003'"
    found = bp.entity_sets.A_BusinessPartner.get_entities().filter(query).execute()
    assert [p.BusinessPartner for p in found] == ["1000002", "1000003"]
    exact = "LastChangeTime eq time'PT08H00M00S' and BusinessPartner le '1000003'"
    assert [
        p.BusinessPartner for p in bp.entity_sets.A_BusinessPartner.get_entities().filter(exact).execute()
    ] == ["1000001"]


def test_filter_with_datetimeoffset_literal_on_products(sandbox: Sandbox) -> None:
    products = sandbox.client("API_PRODUCT_SRV").entity_sets.A_Product
    query = "LastChangeDateTime gt datetimeoffset'2026-03-01T00:00:00Z' and startswith(Product,'TG1') eq true"
    assert [p.Product for p in products.get_entities().filter(query).execute()] == ["TG12"]
    before = "LastChangeDateTime lt datetimeoffset'2026-01-10T08:00:01Z'"
    assert [p.Product for p in products.get_entities().filter(before).execute()] == ["TG11"]


def test_filter_with_datetimeoffset_literal_on_sales_orders(sandbox: Sandbox, so: pyodata.Client) -> None:
    first = new_order(so)
    sandbox.clock.advance(120)
    middle = sandbox.clock.now - dt.timedelta(seconds=60)
    second = new_order(so)
    literal = middle.strftime("%Y-%m-%dT%H:%M:%SZ")
    query = (
        f"LastChangeDateTime gt datetimeoffset'{literal}' and "
        f"(SalesOrder eq '{first.SalesOrder}' or SalesOrder eq '{second.SalesOrder}')"
    )
    found = so.entity_sets.A_SalesOrder.get_entities().filter(query).execute()
    assert [o.SalesOrder for o in found] == [second.SalesOrder]


# ------------------------------------------------------------------------------------ PATCH, stamps via GET


def test_patch_answers_204_and_changes_the_entity(sandbox: Sandbox, bp: pyodata.Client) -> None:
    partner = new_partner(bp, "Chi GmbH")
    response = sandbox.session().patch(
        sandbox.url(BP_SRV) + f"A_BusinessPartner('{partner.BusinessPartner}')", json={"SearchTerm1": "CHI"}
    )
    assert (response.status_code, response.content) == (204, b"")
    assert bp.entity_sets.A_BusinessPartner.get_entity(partner.BusinessPartner).execute().SearchTerm1 == "CHI"


def test_pyodata_patch_update_answers_204(sandbox: Sandbox, bp: pyodata.Client) -> None:
    partner = new_partner(bp, "Psi GmbH")
    bp.config["http"]["update_method"] = "PATCH"
    assert (
        bp.entity_sets.A_BusinessPartner.update_entity(partner.BusinessPartner)
        .set(SearchTerm1="PSI")
        .execute()
        is None
    )
    assert bp.entity_sets.A_BusinessPartner.get_entity(partner.BusinessPartner).execute().SearchTerm1 == "PSI"


def _stamp_of(partner: object) -> dt.datetime:
    """A partner's change stamp as one moment (S/4 keeps it as a date and a time of day; pyodata gives the
    Edm.Time as its wire text, PT10H30M00S)."""
    hours, minutes, seconds = map(int, re.findall(r"\d+", partner.LastChangeTime))  # type: ignore[attr-defined]
    return partner.LastChangeDate.replace(tzinfo=None) + dt.timedelta(  # type: ignore[attr-defined]
        hours=hours, minutes=minutes, seconds=seconds
    )


def test_partner_stamp_strictly_moves_on_update(sandbox: Sandbox, bp: pyodata.Client) -> None:
    partner = new_partner(bp, "Omega GmbH")
    created = _stamp_of(bp.entity_sets.A_BusinessPartner.get_entity(partner.BusinessPartner).execute())
    sandbox.clock.advance(90)
    bp.entity_sets.A_BusinessPartner.update_entity(partner.BusinessPartner).set(SearchTerm1="OMEGA").execute()
    stored = bp.entity_sets.A_BusinessPartner.get_entity(partner.BusinessPartner).execute()
    assert _stamp_of(stored) > created
    assert _stamp_of(stored) == sandbox.clock.now.replace(tzinfo=None)


def test_product_stamps_strictly_move_on_update(sandbox: Sandbox) -> None:
    products = sandbox.client("API_PRODUCT_SRV").entity_sets.A_Product
    before = products.get_entity("TG12").execute()
    sandbox.clock.advance(90)
    products.update_entity("TG12").set(ProductGroup="L003").execute()
    after = products.get_entity("TG12").execute()
    assert after.LastChangeDateTime > before.LastChangeDateTime
    assert after.LastChangeDateTime == sandbox.clock.now
    assert after.LastChangeDate.date() == sandbox.clock.now.date()


def test_sales_order_stamp_and_etag_move_on_update(sandbox: Sandbox, so: pyodata.Client) -> None:
    order = so.entity_sets.A_SalesOrder.get_entity(new_order(so).SalesOrder).execute()
    sandbox.clock.advance(90)
    request = so.entity_sets.A_SalesOrder.update_entity(order.SalesOrder).set(PurchaseOrderByCustomer="PO-9")
    request.add_headers({"If-Match": order.etag})
    request.execute()
    after = so.entity_sets.A_SalesOrder.get_entity(order.SalesOrder).execute()
    assert after.LastChangeDateTime > order.LastChangeDateTime and after.etag != order.etag


def test_sets_without_stamps_have_none_in_reads(sandbox: Sandbox) -> None:
    condition = _get_json(sandbox, PRICE_SRV, "A_SlsPrcgConditionRecord('7001')")
    address = _get_json(
        sandbox, BP_SRV, "A_BusinessPartnerAddress(BusinessPartner='1000001',AddressID='30001')"
    )
    partner = _get_json(sandbox, BP_SRV, "A_BusinessPartner('1000001')")
    assert not [k for k in (*condition, *address) if k.startswith("LastChange")]
    assert "LastChangeDateTime" not in partner and {"LastChangeDate", "LastChangeTime"} <= set(partner)


# ------------------------------------------------------------------------------------- product, price reads


def test_product_with_its_descriptions_through_expand(sandbox: Sandbox) -> None:
    products = sandbox.client("API_PRODUCT_SRV").entity_sets.A_Product
    product = products.get_entity("TG11").expand("to_Description").execute()
    assert {(d.Language, d.ProductDescription) for d in product.to_Description} == {
        ("EN", "Trading good 11"),
        ("DE", "Handelsware 11"),
    }
    listed = products.get_entities().filter("Product eq 'TG12'").expand("to_Description").execute()
    assert [p.to_Description for p in listed] == [[]]


def test_condition_record_with_its_validity_through_expand(sandbox: Sandbox) -> None:
    records = sandbox.client(PRICE_SRV).entity_sets.A_SlsPrcgConditionRecord
    (record,) = (
        records.get_entities()
        .filter("ConditionRecord eq '7001'")
        .expand("to_SlsPrcgCndnRecdValidity")
        .execute()
    )
    assert Decimal(record.ConditionRateValue) == Decimal("12.50") and record.ConditionType == "PR00"
    (validity,) = record.to_SlsPrcgCndnRecdValidity
    assert (validity.Material, validity.SalesOrganization) == ("TG11", "1710")
    assert validity.ConditionValidityEndDate == dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
