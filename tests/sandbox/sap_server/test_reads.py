"""The SAP sandbox server's reads, auth and CSRF, driven through the unmodified pyodata client (and plain
requests for raw protocol details) over HTTPS with certificate verification on."""

from __future__ import annotations

import pyodata
import pytest
import requests
from pyodata.exceptions import HttpError

from tests.sandbox.sap_server.kit import BP_SRV, Sandbox, error_of, new_partner


def test_service_document_lists_the_entity_sets(sandbox: Sandbox) -> None:
    response = sandbox.session(token=False).get(sandbox.url(BP_SRV), params={"$format": "json"})
    assert response.status_code == 200
    assert "A_BusinessPartner" in response.json()["d"]["EntitySets"]


def test_metadata_is_xml_that_pyodata_builds_a_client_from(sandbox: Sandbox) -> None:
    response = sandbox.session(token=False).get(sandbox.url(BP_SRV) + "$metadata")
    assert response.headers["content-type"].startswith("application/xml")
    client = sandbox.client(BP_SRV)
    assert client.schema.entity_set("A_BusinessPartner").entity_type.name == "A_BusinessPartnerType"


def test_filter_eq_returns_the_matching_partner(bp: pyodata.Client) -> None:
    found = bp.entity_sets.A_BusinessPartner.get_entities().filter("SearchTerm1 eq 'BETA'").execute()
    assert [p.BusinessPartner for p in found] == ["1000002"]


def test_filter_ne_and_startswith_and_substringof(bp: pyodata.Client) -> None:
    partners = bp.entity_sets.A_BusinessPartner.get_entities()
    ne = partners.filter("SearchTerm1 ne 'BETA' and startswith(SearchTerm1,'A') eq true").execute()
    assert [p.BusinessPartner for p in ne] == ["1000001"]
    sub = bp.entity_sets.A_BusinessPartner.get_entities().filter(
        "substringof('Industrial',OrganizationBPName1)"
    )
    assert [p.BusinessPartner for p in sub.execute()] == ["1000002"]


def test_filter_with_datetime_literal_compares_change_dates(bp: pyodata.Client) -> None:
    query = (
        "LastChangeDate gt datetime'2026-02-01T00:00:00' and LastChangeDate lt datetime'2026-06-01T00:00:00'"
    )
    found = bp.entity_sets.A_BusinessPartner.get_entities().filter(query).execute()
    assert [p.BusinessPartner for p in found] == ["1000002"]


def test_select_returns_only_the_selected_properties(sandbox: Sandbox) -> None:
    response = sandbox.session(token=False).get(
        sandbox.url(BP_SRV) + "A_BusinessPartner",
        params={"$select": "BusinessPartner,SearchTerm1", "$filter": "BusinessPartner eq '1000001'"},
        headers={"Accept": "application/json"},
    )
    (entity,) = response.json()["d"]["results"]
    assert set(entity) == {"__metadata", "BusinessPartner", "SearchTerm1"}


def test_orderby_desc_with_top_and_skip(bp: pyodata.Client) -> None:
    query = bp.entity_sets.A_BusinessPartner.get_entities().filter(
        "startswith(BusinessPartner,'100000') eq true"
    )
    page = query.order_by("SearchTerm1 desc").skip(1).top(1).execute()
    assert [p.SearchTerm1 for p in page] == ["BETA"]


def test_count_endpoint_and_inline_count(bp: pyodata.Client) -> None:
    count = bp.entity_sets.A_BusinessPartnerAddress.get_entities().filter("Country eq 'DE'").count().execute()
    assert count == 2
    result = (
        bp.entity_sets.A_BusinessPartnerAddress.get_entities()
        .filter("Country eq 'DE'")
        .top(1)
        .count(inline=True)
        .execute()
    )
    assert (len(result), result.total_count) == (1, 2)


def test_inline_count_is_sent_as_a_string(sandbox: Sandbox) -> None:
    response = sandbox.session(token=False).get(
        sandbox.url(BP_SRV) + "A_BusinessPartnerAddress",
        params={"$inlinecount": "allpages", "$top": "0", "$format": "json"},
    )
    assert response.json()["d"]["__count"] == "3"


def test_expand_two_levels_inlines_addresses_and_their_emails(bp: pyodata.Client) -> None:
    partner = (
        bp.entity_sets.A_BusinessPartner.get_entity("1000001")
        .expand("to_BusinessPartnerAddress/to_EmailAddress,to_Customer")
        .execute()
    )
    addresses = {a.AddressID: a for a in partner.to_BusinessPartnerAddress}
    assert sorted(addresses) == ["30001", "30002"]
    assert [e.EmailAddress for e in addresses["30001"].to_EmailAddress] == ["info@alpha.example"]
    assert addresses["30002"].to_EmailAddress == []
    assert partner.to_Customer.Customer == "1000001"


def test_unexpanded_navigation_is_a_deferred_link(sandbox: Sandbox) -> None:
    response = sandbox.session(token=False).get(
        sandbox.url(BP_SRV) + "A_BusinessPartner('1000002')", params={"$format": "json"}
    )
    deferred = response.json()["d"]["to_BusinessPartnerAddress"]["__deferred"]["uri"]
    assert deferred.endswith("A_BusinessPartner('1000002')/to_BusinessPartnerAddress")


def test_expanded_to_one_without_target_is_null(sandbox: Sandbox) -> None:
    response = sandbox.session(token=False).get(
        sandbox.url(BP_SRV) + "A_BusinessPartner('1000002')",
        params={"$expand": "to_Customer", "$format": "json"},
    )
    assert response.json()["d"]["to_Customer"] is None


def test_get_by_multi_part_key_and_by_navigation(bp: pyodata.Client) -> None:
    address = bp.entity_sets.A_BusinessPartnerAddress.get_entity(BusinessPartner="1000001", AddressID="30002")
    assert address.execute().CityName == "Hamburg"
    via_nav = bp.entity_sets.A_BusinessPartner.get_entity("1000002").nav("to_BusinessPartnerAddress")
    assert [a.CityName for a in via_nav.get_entities().execute()] == ["Zurich"]


def test_server_paging_follows_next_links_keeping_the_query(paging_sandbox: Sandbox) -> None:
    client = paging_sandbox.client(BP_SRV)
    query = "startswith(BusinessPartner,'100000') eq true"
    page = client.entity_sets.A_BusinessPartner.get_entities().filter(query).count(inline=True).execute()
    keys = [p.BusinessPartner for p in page]
    assert len(page) == 2 and page.total_count == 3
    assert "%24filter=" in page.next_url or "$filter=" in page.next_url
    while page.next_url:
        page = client.entity_sets.A_BusinessPartner.get_entities().next_url(page.next_url).execute()
        keys += [p.BusinessPartner for p in page]
    assert keys == ["1000001", "1000002", "1000003"]


def test_top_below_the_page_size_gets_no_next_link(paging_sandbox: Sandbox) -> None:
    page = paging_sandbox.client(BP_SRV).entity_sets.A_BusinessPartner.get_entities().top(2).execute()
    assert len(page) == 2 and page.next_url is None


def test_missing_entity_is_404_in_sap_error_shape(sandbox: Sandbox) -> None:
    response = sandbox.session(token=False).get(sandbox.url(BP_SRV) + "A_BusinessPartner('9999999')")
    assert response.status_code == 404
    error = error_of(response)
    assert error["message"]["lang"] == "en" and "A_BusinessPartnerType" in error["message"]["value"]
    assert error["innererror"]["application"]["service_id"] == BP_SRV


def test_unknown_filter_property_is_400(sandbox: Sandbox) -> None:
    response = sandbox.session(token=False).get(
        sandbox.url(BP_SRV) + "A_BusinessPartner", params={"$filter": "Nope eq 'x'", "$format": "json"}
    )
    assert response.status_code == 400 and "Nope" in error_of(response)["message"]["value"]


# ----------------------------------------------------------------------------------------------- auth, CSRF


def test_request_without_credentials_is_401_with_sap_realm(sandbox: Sandbox) -> None:
    response = requests.get(sandbox.url(BP_SRV), verify=str(sandbox.tls.ca_cert))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Basic realm="SAP NetWeaver Application Server')


def test_wrong_password_is_401(sandbox: Sandbox) -> None:
    response = sandbox.session(password="wrong", token=False).get(sandbox.url(BP_SRV))
    assert response.status_code == 401


def test_wrong_sap_client_is_401_and_right_one_is_accepted(sandbox: Sandbox) -> None:
    session = sandbox.session(token=False)
    assert session.get(sandbox.url(BP_SRV), params={"sap-client": "200"}).status_code == 401
    assert session.get(sandbox.url(BP_SRV), params={"sap-client": "100"}).status_code == 200


def test_write_without_csrf_token_is_403_token_required(sandbox: Sandbox) -> None:
    session = sandbox.session(token=False)
    response = session.post(
        sandbox.url(BP_SRV) + "A_BusinessPartner", json={"OrganizationBPName1": "No token"}
    )
    assert response.status_code == 403
    assert response.headers["x-csrf-token"] == "Required"
    assert response.text == "CSRF token validation failed"


def test_csrf_token_is_bound_to_the_session_cookie(sandbox: Sandbox) -> None:
    session = sandbox.session()
    stranger = sandbox.session(token=False)
    stranger.headers["X-CSRF-Token"] = session.headers["X-CSRF-Token"]
    response = stranger.post(
        sandbox.url(BP_SRV) + "A_BusinessPartner", json={"OrganizationBPName1": "Stolen"}
    )
    assert response.status_code == 403


def test_expired_session_fault_requires_a_new_token(sandbox: Sandbox) -> None:
    session = sandbox.session()
    client = sandbox.client(BP_SRV, session)
    sandbox.faults.update(rate_expired_session=1.0)
    try:
        assert client.entity_sets.A_BusinessPartner.get_entity("1000001").execute().SearchTerm1 == "ALPHA"
        with pytest.raises(HttpError) as failed:
            new_partner(client, "Expired")
        assert failed.value.response.status_code == 403
        assert failed.value.response.headers["x-csrf-token"] == "Required"
    finally:
        sandbox.faults.reset()
    fresh = session.get(sandbox.url(BP_SRV), headers={"X-CSRF-Token": "Fetch"})
    session.headers["X-CSRF-Token"] = fresh.headers["x-csrf-token"]
    assert new_partner(client, "Renewed").BusinessPartner


def test_expired_session_fault_expires_only_the_session_of_that_request(sandbox: Sandbox) -> None:
    unlucky, bystander = sandbox.session(), sandbox.session()
    unlucky_client, bystander_client = sandbox.client(BP_SRV, unlucky), sandbox.client(BP_SRV, bystander)
    sandbox.faults.update(rate_expired_session=1.0)
    try:
        with pytest.raises(HttpError) as failed:
            new_partner(unlucky_client, "Unlucky")
        assert failed.value.response.status_code == 403
    finally:
        sandbox.faults.reset()
    assert new_partner(bystander_client, "Bystander").BusinessPartner  # its token still works
    with pytest.raises(HttpError) as stale:
        new_partner(unlucky_client, "Stale token")
    assert stale.value.response.headers["x-csrf-token"] == "Required"


def test_throttling_fault_is_429_with_sap_error_and_retry_after(sandbox: Sandbox) -> None:
    sandbox.faults.update(rate_429=1.0)
    try:
        response = sandbox.session(token=False).get(sandbox.url(BP_SRV) + "A_BusinessPartner")
    finally:
        sandbox.faults.reset()
    assert response.status_code == 429 and response.headers["retry-after"] == "1"
    assert error_of(response)["code"]
