"""The SAP sandbox server's creates, updates and stamps, ETags, deletes and ``$batch``, through pyodata and
plain requests over HTTPS."""

from __future__ import annotations

import pyodata
import pytest
from pyodata.exceptions import HttpError

from tests.sandbox.sap_server.kit import (
    BP_SRV,
    ORDER_HEADER,
    PRICE_SRV,
    SO_SRV,
    USER,
    Sandbox,
    error_of,
    new_order,
    new_partner,
)


def test_create_assigns_partner_number_and_returns_201_with_location(sandbox: Sandbox) -> None:
    session = sandbox.session()
    response = session.post(
        sandbox.url(BP_SRV) + "A_BusinessPartner",
        json={"BusinessPartnerCategory": "2", "OrganizationBPName1": "Delta Ltd"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 201
    entity = response.json()["d"]
    number = entity["BusinessPartner"]
    assert number.isdigit() and int(number) > 1000003
    assert response.headers["location"].endswith(f"A_BusinessPartner('{number}')")
    assert entity["__metadata"]["type"].endswith("A_BusinessPartnerType")
    assert entity["BusinessPartnerUUID"] and entity["CreatedByUser"] == USER
    assert entity["CreationDate"].startswith("/Date(")


def test_deep_insert_creates_partner_addresses_emails_roles_and_customer(bp: pyodata.Client) -> None:
    partner = (
        bp.entity_sets.A_BusinessPartner.create_entity()
        .set(
            BusinessPartnerCategory="2",
            OrganizationBPName1="Epsilon SA",
            to_BusinessPartnerAddress=[
                {
                    "CityName": "Lyon",
                    "Country": "FR",
                    "to_EmailAddress": [
                        {"EmailAddress": "a@epsilon.example"},
                        {"EmailAddress": "b@eps.example"},
                    ],
                    "to_PhoneNumber": [{"PhoneNumber": "+33 4 1234"}],
                }
            ],
            to_BusinessPartnerRole=[{"BusinessPartnerRole": "FLCU01"}],
            to_BusinessPartnerTax=[{"BPTaxType": "FR1", "BPTaxNumber": "FR123"}],
            to_Customer={
                "CustomerName": "Epsilon SA",
                "to_CustomerSalesArea": [
                    {"SalesOrganization": "1710", "DistributionChannel": "10", "Division": "00"}
                ],
            },
        )
        .execute()
    )
    number = partner.BusinessPartner
    stored = (
        bp.entity_sets.A_BusinessPartner.get_entity(number)
        .expand(
            "to_BusinessPartnerAddress/to_EmailAddress,to_BusinessPartnerAddress/to_PhoneNumber,"
            "to_BusinessPartnerRole,to_BusinessPartnerTax,to_Customer/to_CustomerSalesArea"
        )
        .execute()
    )
    (address,) = stored.to_BusinessPartnerAddress
    assert address.BusinessPartner == number and address.AddressID
    assert [(e.AddressID, e.OrdinalNumber) for e in address.to_EmailAddress] == [
        (address.AddressID, "1"),
        (address.AddressID, "2"),
    ]
    assert [p.PhoneNumber for p in address.to_PhoneNumber] == ["+33 4 1234"]
    assert [r.BusinessPartnerRole for r in stored.to_BusinessPartnerRole] == ["FLCU01"]
    assert stored.to_BusinessPartnerTax[0].BPTaxNumber == "FR123"
    # The customer has its own number (CVI without "same numbers"); the partner names it.
    customer = stored.Customer
    assert customer and customer != number and stored.to_Customer.Customer == customer
    assert stored.to_Customer.CustomerName == "Epsilon SA"
    assert [a.Customer for a in stored.to_Customer.to_CustomerSalesArea] == [customer]


def test_deep_insert_is_atomic(sandbox: Sandbox, bp: pyodata.Client) -> None:
    before = sandbox.system.count(sandbox.system.model[BP_SRV]["A_BusinessPartner"])
    with pytest.raises(HttpError) as failed:
        bp.entity_sets.A_BusinessPartner.create_entity().set(
            BusinessPartnerCategory="2",
            OrganizationBPName1="Zeta",
            to_BusinessPartnerAddress=[{"CityName": "Oslo", "Country": "NORWAY"}],  # Country is 3 long
        ).execute()
    assert failed.value.response.status_code == 400
    assert sandbox.system.count(sandbox.system.model[BP_SRV]["A_BusinessPartner"]) == before


def test_customer_role_creates_the_customer_that_the_partner_names(bp: pyodata.Client) -> None:
    partner = new_partner(bp, "Eta Corp")
    bp.entity_sets.A_BusinessPartnerRole.create_entity().set(
        BusinessPartner=partner.BusinessPartner, BusinessPartnerRole="FLCU00"
    ).execute()
    number = bp.entity_sets.A_BusinessPartner.get_entity(partner.BusinessPartner).execute().Customer
    assert number and number != partner.BusinessPartner
    customer = bp.entity_sets.A_Customer.get_entity(number).execute()
    assert customer.CustomerName == "Eta Corp"


def test_unknown_property_is_400(sandbox: Sandbox) -> None:
    response = sandbox.session().post(
        sandbox.url(BP_SRV) + "A_BusinessPartner", json={"OrganizationBPName1": "X", "Nickname": "x"}
    )
    assert response.status_code == 400
    error = error_of(response)
    assert "Nickname" in error["message"]["value"]
    assert error["innererror"]["errordetails"][0]["propertyref"] == "Nickname"


def test_value_longer_than_max_length_is_400(sandbox: Sandbox) -> None:
    response = sandbox.session().post(
        sandbox.url(BP_SRV) + "A_BusinessPartner", json={"BusinessPartnerIDByExtSystem": "X" * 21}
    )
    assert (
        response.status_code == 400
        and "BusinessPartnerIDByExtSystem" in error_of(response)["message"]["value"]
    )


def test_missing_client_key_is_400(sandbox: Sandbox) -> None:
    response = sandbox.session().post(
        sandbox.url(BP_SRV) + "A_BusinessPartnerRole", json={"BusinessPartner": "1000002"}
    )
    assert response.status_code == 400 and "BusinessPartnerRole" in error_of(response)["message"]["value"]


def test_duplicate_key_is_400(bp: pyodata.Client) -> None:
    with pytest.raises(HttpError) as failed:
        bp.entity_sets.A_BusinessPartnerRole.create_entity().set(
            BusinessPartner="1000001", BusinessPartnerRole="FLCU01"
        ).execute()
    assert failed.value.response.status_code == 400
    assert "already exists" in failed.value.response.json()["error"]["message"]["value"]


def test_child_of_missing_parent_is_400(bp: pyodata.Client) -> None:
    with pytest.raises(HttpError) as failed:
        bp.entity_sets.A_BusinessPartnerAddress.create_entity().set(
            BusinessPartner="1999999", CityName="X"
        ).execute()
    assert failed.value.response.status_code == 400


def test_customer_cannot_be_created_on_its_own(sandbox: Sandbox) -> None:
    response = sandbox.session().post(sandbox.url(BP_SRV) + "A_Customer", json={"Customer": "1000002"})
    assert response.status_code == 501 and error_of(response)["code"]


def test_sales_order_deep_insert_numbers_order_and_items(so: pyodata.Client) -> None:
    order = (
        so.entity_sets.A_SalesOrder.create_entity()
        .set(
            SalesOrderType="OR",
            SalesOrganization="1710",
            DistributionChannel="10",
            OrganizationDivision="00",
            SoldToParty="1000001",
            to_Item=[
                {"Material": "TG11", "RequestedQuantity": "2", "NetAmount": "25.00"},
                {"Material": "TG12", "RequestedQuantity": "1", "NetAmount": "10.50"},
            ],
            to_Partner=[{"PartnerFunction": "SH", "Customer": "1000001"}],
        )
        .execute()
    )
    assert order.SalesOrder.isdigit()
    items = so.entity_sets.A_SalesOrder.get_entity(order.SalesOrder).nav("to_Item").get_entities().execute()
    assert [(i.SalesOrder, i.SalesOrderItem) for i in items] == [
        (order.SalesOrder, "10"),
        (order.SalesOrder, "20"),
    ]
    fetched = so.entity_sets.A_SalesOrder.get_entity(order.SalesOrder).execute()
    assert str(fetched.TotalNetAmount) == "35.500"
    assert fetched.etag.startswith('W/"datetimeoffset')


def test_sales_order_for_unknown_customer_is_400(sandbox: Sandbox) -> None:
    response = sandbox.session().post(
        sandbox.url(SO_SRV) + "A_SalesOrder", json={**ORDER_HEADER, "SoldToParty": "1000002"}
    )
    assert response.status_code == 400 and "1000002" in error_of(response)["message"]["value"]


def test_sales_order_for_a_customer_not_extended_to_its_sales_area_is_400(sandbox: Sandbox) -> None:
    # Issue 11, row 3: the customer exists, but only in sales area 1710/10/00.
    response = sandbox.session().post(
        sandbox.url(SO_SRV) + "A_SalesOrder", json={**ORDER_HEADER, "SalesOrganization": "1010"}
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["message"]["value"] == "Sold-to party 1000001 not maintained for sales area 1010 10 00"
    assert error["innererror"]["errordetails"][0]["propertyref"] == "SoldToParty"


def test_sales_order_item_with_unknown_material_is_400(sandbox: Sandbox) -> None:
    response = sandbox.session().post(
        sandbox.url(SO_SRV) + "A_SalesOrder",
        json={**ORDER_HEADER, "to_Item": [{"Material": "NOPE", "RequestedQuantity": "1"}]},
    )
    assert response.status_code == 400 and "NOPE" in error_of(response)["message"]["value"]


# ------------------------------------------------------------------------------------------ updates, stamps


def test_merge_updates_only_sent_properties_and_answers_204(sandbox: Sandbox, bp: pyodata.Client) -> None:
    partner = new_partner(bp, "Theta GmbH", SearchTerm1="THETA")
    bp.entity_sets.A_BusinessPartner.update_entity(partner.BusinessPartner).set(SearchTerm2="T2").execute()
    stored = bp.entity_sets.A_BusinessPartner.get_entity(partner.BusinessPartner).execute()
    assert (stored.SearchTerm1, stored.SearchTerm2) == ("THETA", "T2")


def test_put_resets_properties_not_sent(sandbox: Sandbox, bp: pyodata.Client) -> None:
    partner = new_partner(bp, "Iota GmbH", SearchTerm1="IOTA")
    response = sandbox.session().put(
        sandbox.url(BP_SRV) + f"A_BusinessPartner('{partner.BusinessPartner}')",
        json={"OrganizationBPName1": "Iota AG"},
    )
    assert response.status_code == 204
    stored = bp.entity_sets.A_BusinessPartner.get_entity(partner.BusinessPartner).execute()
    assert (stored.OrganizationBPName1, stored.SearchTerm1) == ("Iota AG", "")  # pyodata shows null as ""


def test_merge_tunnelled_through_post_with_x_http_method(sandbox: Sandbox, bp: pyodata.Client) -> None:
    partner = new_partner(bp, "Kappa GmbH")
    response = sandbox.session().post(
        sandbox.url(BP_SRV) + f"A_BusinessPartner('{partner.BusinessPartner}')",
        json={"SearchTerm2": "TUNNEL"},
        headers={"X-HTTP-Method": "MERGE"},
    )
    assert response.status_code == 204
    assert (
        bp.entity_sets.A_BusinessPartner.get_entity(partner.BusinessPartner).execute().SearchTerm2 == "TUNNEL"
    )


def test_partner_change_moves_its_stamp(sandbox: Sandbox, bp: pyodata.Client) -> None:
    partner = new_partner(bp, "Lambda GmbH")
    created = (partner.LastChangeDate, partner.LastChangeTime)
    sandbox.clock.advance(3600)
    bp.entity_sets.A_BusinessPartner.update_entity(partner.BusinessPartner).set(
        SearchTerm1="LAMBDA"
    ).execute()
    stored = bp.entity_sets.A_BusinessPartner.get_entity(partner.BusinessPartner).execute()
    assert (stored.LastChangeDate, stored.LastChangeTime) != created
    assert stored.LastChangedByUser == USER


def test_address_change_leaves_the_partner_stamp_alone(sandbox: Sandbox, bp: pyodata.Client) -> None:
    before = bp.entity_sets.A_BusinessPartner.get_entity("1000002").execute()
    sandbox.clock.advance(3600)
    bp.entity_sets.A_BusinessPartnerAddress.update_entity(BusinessPartner="1000002", AddressID="30003").set(
        StreetName="Bahnhofstrasse"
    ).execute()
    bp.entity_sets.A_BusinessPartner.get_entity("1000002").nav("to_BusinessPartnerAddress").get_entities()
    after = bp.entity_sets.A_BusinessPartner.get_entity("1000002").execute()
    assert (after.LastChangeDate, after.LastChangeTime) == (before.LastChangeDate, before.LastChangeTime)
    address = bp.entity_sets.A_BusinessPartnerAddress.get_entity(BusinessPartner="1000002", AddressID="30003")
    assert address.execute().StreetName == "Bahnhofstrasse"


def test_stamps_exist_only_on_sets_that_have_them(sandbox: Sandbox) -> None:
    dump = sandbox.system.dump()
    assert "LastChangeDateTime" not in dump[PRICE_SRV]["A_SlsPrcgConditionRecord"][0]
    assert {"LastChangeDate", "LastChangeTime"} <= set(dump[BP_SRV]["A_BusinessPartner"][0])
    assert "LastChangeDateTime" in dump["API_PRODUCT_SRV"]["A_Product"][0]
    assert not any(k.startswith("LastChange") for k in dump[BP_SRV]["A_BusinessPartnerAddress"][0])


def test_key_change_in_update_is_400(sandbox: Sandbox) -> None:
    response = sandbox.session().patch(
        sandbox.url(BP_SRV) + "A_BusinessPartner('1000003')", json={"BusinessPartner": "1000009"}
    )
    assert response.status_code == 400


# ----------------------------------------------------------------------------------------------------- ETag


def test_update_without_if_match_is_428(so: pyodata.Client) -> None:
    order = new_order(so)
    with pytest.raises(HttpError) as failed:
        so.entity_sets.A_SalesOrder.update_entity(order.SalesOrder).set(
            PurchaseOrderByCustomer="PO-1"
        ).execute()
    assert failed.value.response.status_code == 428
    assert failed.value.response.json()["error"]["code"]


def test_update_with_stale_etag_is_412_and_with_current_etag_succeeds(
    sandbox: Sandbox, so: pyodata.Client
) -> None:
    order = so.entity_sets.A_SalesOrder.get_entity(new_order(so).SalesOrder).execute()
    stale = order.etag
    request = so.entity_sets.A_SalesOrder.update_entity(order.SalesOrder).set(PurchaseOrderByCustomer="PO-2")
    request.add_headers({"If-Match": stale})
    request.execute()
    again = so.entity_sets.A_SalesOrder.update_entity(order.SalesOrder).set(PurchaseOrderByCustomer="PO-3")
    again.add_headers({"If-Match": stale})
    with pytest.raises(HttpError) as failed:
        again.execute()
    assert failed.value.response.status_code == 412
    fresh = so.entity_sets.A_SalesOrder.get_entity(order.SalesOrder).execute()
    assert fresh.etag != stale and fresh.PurchaseOrderByCustomer == "PO-2"


def test_if_match_star_deletes_without_etag(so: pyodata.Client) -> None:
    order = new_order(so)
    request = so.entity_sets.A_SalesOrder.delete_entity(order.SalesOrder)
    request.add_headers({"If-Match": "*"})
    request.execute()
    with pytest.raises(HttpError) as failed:
        so.entity_sets.A_SalesOrder.get_entity(order.SalesOrder).execute()
    assert failed.value.response.status_code == 404


def test_single_get_sends_etag_header(sandbox: Sandbox, so: pyodata.Client) -> None:
    order = new_order(so)
    response = sandbox.session(token=False).get(
        sandbox.url(SO_SRV) + f"A_SalesOrder('{order.SalesOrder}')", params={"$format": "json"}
    )
    assert response.headers["etag"] == response.json()["d"]["__metadata"]["etag"]


# --------------------------------------------------------------------------------------------------- delete


def test_delete_answers_204_and_the_entity_is_gone(bp: pyodata.Client) -> None:
    partner = new_partner(bp, "Mu GmbH", to_BusinessPartnerRole=[{"BusinessPartnerRole": "BUP002"}])
    bp.entity_sets.A_BusinessPartnerRole.delete_entity(
        BusinessPartner=partner.BusinessPartner, BusinessPartnerRole="BUP002"
    ).execute()
    roles = bp.entity_sets.A_BusinessPartner.get_entity(partner.BusinessPartner).nav("to_BusinessPartnerRole")
    assert roles.get_entities().execute() == []


def test_delete_of_missing_entity_is_404(bp: pyodata.Client) -> None:
    with pytest.raises(HttpError) as failed:
        bp.entity_sets.A_BusinessPartnerRole.delete_entity(
            BusinessPartner="1000002", BusinessPartnerRole="ZZZZ"
        ).execute()
    assert failed.value.response.status_code == 404


def test_partner_cannot_be_deleted(bp: pyodata.Client) -> None:
    with pytest.raises(HttpError) as failed:
        bp.entity_sets.A_BusinessPartner.delete_entity("1000003").execute()
    assert failed.value.response.status_code == 501


# --------------------------------------------------------------------------------------------------- $batch


def test_batch_with_query_and_changeset_through_pyodata(bp: pyodata.Client) -> None:
    partner = new_partner(bp, "Nu GmbH")
    batch = bp.create_batch()
    batch.add_request(bp.entity_sets.A_BusinessPartner.get_entities().filter("SearchTerm1 eq 'ALPHA'"))
    changeset = bp.create_changeset()
    changeset.add_request(
        bp.entity_sets.A_BusinessPartnerAddress.create_entity().set(
            BusinessPartner=partner.BusinessPartner, CityName="Vienna", Country="AT"
        )
    )
    changeset.add_request(
        bp.entity_sets.A_BusinessPartner.update_entity(partner.BusinessPartner).set(SearchTerm1="NU")
    )
    batch.add_request(changeset)
    query_result, changeset_result = batch.execute()
    assert [p.BusinessPartner for p in query_result] == ["1000001"]
    created_address, update_result = changeset_result
    assert created_address.CityName == "Vienna" and created_address.AddressID
    assert update_result is None
    assert bp.entity_sets.A_BusinessPartner.get_entity(partner.BusinessPartner).execute().SearchTerm1 == "NU"


def test_failing_changeset_rolls_back_all_its_operations(bp: pyodata.Client) -> None:
    partner = new_partner(bp, "Xi GmbH")
    batch = bp.create_batch()
    changeset = bp.create_changeset()
    changeset.add_request(
        bp.entity_sets.A_BusinessPartnerAddress.create_entity().set(
            BusinessPartner=partner.BusinessPartner, CityName="Prague", Country="CZ"
        )
    )
    changeset.add_request(
        bp.entity_sets.A_BusinessPartner.update_entity(partner.BusinessPartner).set(SearchTerm1="XI")
    )
    changeset.add_request(
        bp.entity_sets.A_BusinessPartnerRole.create_entity().set(
            BusinessPartner="1999999", BusinessPartnerRole="FLCU01"
        )
    )
    batch.add_request(changeset)
    with pytest.raises(HttpError) as failed:
        batch.execute()
    assert failed.value.response.status_code == 400
    stored = bp.entity_sets.A_BusinessPartner.get_entity(partner.BusinessPartner).execute()
    assert stored.SearchTerm1 == ""
    addresses = bp.entity_sets.A_BusinessPartner.get_entity(partner.BusinessPartner).nav(
        "to_BusinessPartnerAddress"
    )
    assert addresses.get_entities().execute() == []


def test_batch_without_csrf_token_is_403(sandbox: Sandbox) -> None:
    response = sandbox.session(token=False).post(
        sandbox.url(BP_SRV) + "$batch",
        data="--batch_1\r\n--batch_1--\r\n",
        headers={"Content-Type": "multipart/mixed; boundary=batch_1"},
    )
    assert response.status_code == 403 and response.headers["x-csrf-token"] == "Required"


def test_batch_content_id_reference_reaches_the_created_entity(sandbox: Sandbox) -> None:
    body = (
        "--batch_a\r\nContent-Type: multipart/mixed; boundary=changeset_b\r\n\r\n"
        "--changeset_b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
        "Content-ID: 1\r\n\r\n"
        "POST A_BusinessPartner HTTP/1.1\r\nContent-Type: application/json\r\n"
        "Accept: application/json\r\n\r\n"
        '{"BusinessPartnerCategory": "2", "OrganizationBPName1": "Omicron"}\r\n'
        "--changeset_b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        "POST $1/to_BusinessPartnerAddress HTTP/1.1\r\nContent-Type: application/json\r\n"
        "Accept: application/json\r\n\r\n"
        '{"CityName": "Madrid", "Country": "ES"}\r\n'
        "--changeset_b--\r\n--batch_a--\r\n"
    )
    response = sandbox.session().post(
        sandbox.url(BP_SRV) + "$batch",
        data=body,
        headers={"Content-Type": "multipart/mixed; boundary=batch_a"},
    )
    assert response.status_code == 202
    assert response.text.count("HTTP/1.1 201 Created") == 2


def test_head_request_fetches_a_csrf_token(sandbox: Sandbox) -> None:
    response = sandbox.session(token=False).head(sandbox.url(BP_SRV), headers={"X-CSRF-Token": "Fetch"})
    assert response.status_code == 200 and response.headers["x-csrf-token"] not in ("", "Required")
    assert "SAP_SESSIONID_S4H_100" in response.cookies


def test_unavailable_fault_is_503_with_sap_error(sandbox: Sandbox) -> None:
    sandbox.faults.update(rate_503=1.0)
    try:
        response = sandbox.session(token=False).get(sandbox.url(BP_SRV) + "A_BusinessPartner")
    finally:
        sandbox.faults.reset()
    assert response.status_code == 503 and error_of(response)["message"]["value"]
