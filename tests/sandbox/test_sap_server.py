"""The SAP sandbox server, driven through the unmodified pyodata client (and plain requests for raw
protocol details) over HTTPS with certificate verification on."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import pyodata
import pytest
import requests
from pyodata.exceptions import HttpError

from sandbox.faults import FaultInjector
from sandbox.sap.app import create_app
from sandbox.sap.system import SapSystem
from sandbox.server import ServerHandle, serve
from sandbox.tls import TlsFiles, ensure_tls

USER, PASSWORD = "SYNCHUB", "sandbox-password"
BP_SRV = "API_BUSINESS_PARTNER"
SO_SRV = "API_SALES_ORDER_SRV"
PRICE_SRV = "API_SLSPRICINGCONDITIONRECORD_SRV"

SEED = {
    "API_PRODUCT_SRV": {
        "A_Product": [
            {
                "Product": "TG11",
                "ProductType": "HAWA",
                "BaseUnit": "PC",
                "ProductGroup": "L001",
                "LastChangeDateTime": "2026-01-10T08:00:00Z",
            },
            {
                "Product": "TG12",
                "ProductType": "HAWA",
                "BaseUnit": "PC",
                "ProductGroup": "L002",
                "LastChangeDateTime": "2026-06-10T08:00:00Z",
            },
        ],
        "A_ProductDescription": [
            {"Product": "TG11", "Language": "EN", "ProductDescription": "Trading good 11"},
            {"Product": "TG11", "Language": "DE", "ProductDescription": "Handelsware 11"},
        ],
    },
    BP_SRV: {
        "A_BusinessPartner": [
            {
                "BusinessPartner": "1000001",
                "BusinessPartnerCategory": "2",
                "OrganizationBPName1": "Alpha Tools GmbH",
                "SearchTerm1": "ALPHA",
                "LastChangeDate": "/Date(1767225600000)/",  # 2026-01-01
                "LastChangeTime": "PT08H00M00S",
            },
            {
                "BusinessPartner": "1000002",
                "BusinessPartnerCategory": "2",
                "OrganizationBPName1": "Beta Industrial AG",
                "SearchTerm1": "BETA",
                "LastChangeDate": "2026-03-15",
                "LastChangeTime": "10:30:00",
            },
            {
                "BusinessPartner": "1000003",
                "BusinessPartnerCategory": "1",
                "FirstName": "Carla",
                "LastName": "Gamma",
                "SearchTerm1": "GAMMA",
                "LastChangeDate": "2026-06-30",
                "LastChangeTime": "23:59:59",
            },
        ],
        "A_BusinessPartnerAddress": [
            {"BusinessPartner": "1000001", "AddressID": "30001", "CityName": "Berlin", "Country": "DE"},
            {"BusinessPartner": "1000001", "AddressID": "30002", "CityName": "Hamburg", "Country": "DE"},
            {"BusinessPartner": "1000002", "AddressID": "30003", "CityName": "Zurich", "Country": "CH"},
        ],
        "A_AddressEmailAddress": [
            {"AddressID": "30001", "Person": "", "OrdinalNumber": "1", "EmailAddress": "info@alpha.example"},
        ],
        "A_BusinessPartnerRole": [{"BusinessPartner": "1000001", "BusinessPartnerRole": "FLCU01"}],
        "A_Customer": [{"Customer": "1000001", "CustomerName": "Alpha Tools GmbH"}],
        "A_CustomerSalesArea": [
            {
                "Customer": "1000001",
                "SalesOrganization": "1710",
                "DistributionChannel": "10",
                "Division": "00",
                "Currency": "USD",
            }
        ],
    },
    PRICE_SRV: {
        "A_SlsPrcgConditionRecord": [
            {"ConditionRecord": "7001", "ConditionType": "PR00", "ConditionRateValue": "12.50"},
        ],
        "A_SlsPrcgCndnRecdValidity": [
            {
                "ConditionRecord": "7001",
                "ConditionValidityEndDate": "9999-12-31",
                "ConditionValidityStartDate": "2026-01-01",
                "Material": "TG11",
                "SalesOrganization": "1710",
                "DistributionChannel": "10",
            }
        ],
    },
}


@dataclass
class Clock:
    """A clock the tests move by hand, so stamp changes are visible at second resolution."""

    now: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float = 61) -> dt.datetime:
        self.now += dt.timedelta(seconds=seconds)
        return self.now


@dataclass
class Sandbox:
    handle: ServerHandle
    system: SapSystem
    tls: TlsFiles
    clock: Clock
    faults: FaultInjector
    metadata: dict[str, bytes] = field(default_factory=dict)
    sessions: list[requests.Session] = field(default_factory=list)

    def url(self, service: str) -> str:
        return f"{self.handle.url}/sap/opu/odata/sap/{service}/"

    def session(
        self, user: str = USER, password: str = PASSWORD, *, token: bool = True, json: bool = True
    ) -> requests.Session:
        """A logged-on requests session; ``json`` asks for JSON on every request, as a raw OData client
        must (SAP Gateway answers Atom XML otherwise); pyodata gets a bare one and asks itself."""
        session = requests.Session()
        self.sessions.append(session)
        session.auth = (user, password)
        session.verify = str(self.tls.ca_cert)
        session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override `verify`
        if json:
            session.headers["Accept"] = "application/json"
        if token:
            response = session.get(self.url(BP_SRV), headers={"X-CSRF-Token": "Fetch"})
            session.headers["X-CSRF-Token"] = response.headers["x-csrf-token"]
        return session

    def client(self, service: str, session: requests.Session | None = None) -> pyodata.Client:
        session = session or self.session(json=False)
        if service not in self.metadata:
            self.metadata[service] = session.get(self.url(service) + "$metadata").content
        client = pyodata.Client(self.url(service), session, metadata=self.metadata[service])
        client.config["http"]["update_method"] = "MERGE"
        return client

    def stop(self) -> None:
        # Open keep-alive connections would hold up the server's graceful shutdown.
        for session in self.sessions:
            session.close()
        self.handle.stop()


def _start(tmp_path_factory: pytest.TempPathFactory, page_size: int) -> Sandbox:
    tls = ensure_tls(tmp_path_factory.getbasetemp() / "tls")
    clock = Clock(dt.datetime(2026, 11, 2, 9, 0, 0, tzinfo=dt.UTC))
    # The protocol under test; the create rules of real systems have their own tests (test_sap_system).
    system = SapSystem(
        page_size=page_size, clock=clock, standard_grouping="BP02", assigns_ordinal_numbers=True
    )
    system.load(SEED)
    faults = FaultInjector()
    handle = serve(create_app(system, faults), tls=tls)
    return Sandbox(handle, system, tls, clock, faults)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = _start(tmp_path_factory, page_size=1000)
    yield box
    box.stop()


@pytest.fixture(scope="module")
def paging_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = _start(tmp_path_factory, page_size=2)
    yield box
    box.stop()


@pytest.fixture
def bp(sandbox: Sandbox) -> pyodata.Client:
    return sandbox.client(BP_SRV)


@pytest.fixture
def so(sandbox: Sandbox) -> pyodata.Client:
    return sandbox.client(SO_SRV)


def _new_partner(bp: pyodata.Client, name: str, **extra: object) -> object:
    return (
        bp.entity_sets.A_BusinessPartner.create_entity()
        .set(BusinessPartnerCategory="2", OrganizationBPName1=name, **extra)
        .execute()
    )


# What S/4 requires of a new sales order header.
ORDER_HEADER = {
    "SalesOrderType": "OR",
    "SalesOrganization": "1710",
    "DistributionChannel": "10",
    "OrganizationDivision": "00",
    "SoldToParty": "1000001",
}


def _error(response: requests.Response) -> dict:
    assert response.headers["content-type"].startswith("application/json")
    return response.json()["error"]


# ---------------------------------------------------------------------------------------------------- reads


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
    error = _error(response)
    assert error["message"]["lang"] == "en" and "A_BusinessPartnerType" in error["message"]["value"]
    assert error["innererror"]["application"]["service_id"] == BP_SRV


def test_unknown_filter_property_is_400(sandbox: Sandbox) -> None:
    response = sandbox.session(token=False).get(
        sandbox.url(BP_SRV) + "A_BusinessPartner", params={"$filter": "Nope eq 'x'", "$format": "json"}
    )
    assert response.status_code == 400 and "Nope" in _error(response)["message"]["value"]


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
            _new_partner(client, "Expired")
        assert failed.value.response.status_code == 403
        assert failed.value.response.headers["x-csrf-token"] == "Required"
    finally:
        sandbox.faults.reset()
    fresh = session.get(sandbox.url(BP_SRV), headers={"X-CSRF-Token": "Fetch"})
    session.headers["X-CSRF-Token"] = fresh.headers["x-csrf-token"]
    assert _new_partner(client, "Renewed").BusinessPartner


def test_expired_session_fault_expires_only_the_session_of_that_request(sandbox: Sandbox) -> None:
    unlucky, bystander = sandbox.session(), sandbox.session()
    unlucky_client, bystander_client = sandbox.client(BP_SRV, unlucky), sandbox.client(BP_SRV, bystander)
    sandbox.faults.update(rate_expired_session=1.0)
    try:
        with pytest.raises(HttpError) as failed:
            _new_partner(unlucky_client, "Unlucky")
        assert failed.value.response.status_code == 403
    finally:
        sandbox.faults.reset()
    assert _new_partner(bystander_client, "Bystander").BusinessPartner  # its token still works
    with pytest.raises(HttpError) as stale:
        _new_partner(unlucky_client, "Stale token")
    assert stale.value.response.headers["x-csrf-token"] == "Required"


def test_throttling_fault_is_429_with_sap_error_and_retry_after(sandbox: Sandbox) -> None:
    sandbox.faults.update(rate_429=1.0)
    try:
        response = sandbox.session(token=False).get(sandbox.url(BP_SRV) + "A_BusinessPartner")
    finally:
        sandbox.faults.reset()
    assert response.status_code == 429 and response.headers["retry-after"] == "1"
    assert _error(response)["code"]


# -------------------------------------------------------------------------------------------------- creates


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
    partner = _new_partner(bp, "Eta Corp")
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
    error = _error(response)
    assert "Nickname" in error["message"]["value"]
    assert error["innererror"]["errordetails"][0]["propertyref"] == "Nickname"


def test_value_longer_than_max_length_is_400(sandbox: Sandbox) -> None:
    response = sandbox.session().post(
        sandbox.url(BP_SRV) + "A_BusinessPartner", json={"BusinessPartnerIDByExtSystem": "X" * 21}
    )
    assert (
        response.status_code == 400 and "BusinessPartnerIDByExtSystem" in _error(response)["message"]["value"]
    )


def test_missing_client_key_is_400(sandbox: Sandbox) -> None:
    response = sandbox.session().post(
        sandbox.url(BP_SRV) + "A_BusinessPartnerRole", json={"BusinessPartner": "1000002"}
    )
    assert response.status_code == 400 and "BusinessPartnerRole" in _error(response)["message"]["value"]


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
    assert response.status_code == 501 and _error(response)["code"]


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
    assert response.status_code == 400 and "1000002" in _error(response)["message"]["value"]


def test_sales_order_for_a_customer_not_extended_to_its_sales_area_is_400(sandbox: Sandbox) -> None:
    # Issue 11, row 3: the customer exists, but only in sales area 1710/10/00.
    response = sandbox.session().post(
        sandbox.url(SO_SRV) + "A_SalesOrder", json={**ORDER_HEADER, "SalesOrganization": "1010"}
    )
    assert response.status_code == 400
    error = _error(response)
    assert error["message"]["value"] == "Sold-to party 1000001 not maintained for sales area 1010 10 00"
    assert error["innererror"]["errordetails"][0]["propertyref"] == "SoldToParty"


def test_sales_order_item_with_unknown_material_is_400(sandbox: Sandbox) -> None:
    response = sandbox.session().post(
        sandbox.url(SO_SRV) + "A_SalesOrder",
        json={**ORDER_HEADER, "to_Item": [{"Material": "NOPE", "RequestedQuantity": "1"}]},
    )
    assert response.status_code == 400 and "NOPE" in _error(response)["message"]["value"]


# ------------------------------------------------------------------------------------------ updates, stamps


def test_merge_updates_only_sent_properties_and_answers_204(sandbox: Sandbox, bp: pyodata.Client) -> None:
    partner = _new_partner(bp, "Theta GmbH", SearchTerm1="THETA")
    bp.entity_sets.A_BusinessPartner.update_entity(partner.BusinessPartner).set(SearchTerm2="T2").execute()
    stored = bp.entity_sets.A_BusinessPartner.get_entity(partner.BusinessPartner).execute()
    assert (stored.SearchTerm1, stored.SearchTerm2) == ("THETA", "T2")


def test_put_resets_properties_not_sent(sandbox: Sandbox, bp: pyodata.Client) -> None:
    partner = _new_partner(bp, "Iota GmbH", SearchTerm1="IOTA")
    response = sandbox.session().put(
        sandbox.url(BP_SRV) + f"A_BusinessPartner('{partner.BusinessPartner}')",
        json={"OrganizationBPName1": "Iota AG"},
    )
    assert response.status_code == 204
    stored = bp.entity_sets.A_BusinessPartner.get_entity(partner.BusinessPartner).execute()
    assert (stored.OrganizationBPName1, stored.SearchTerm1) == ("Iota AG", "")  # pyodata shows null as ""


def test_merge_tunnelled_through_post_with_x_http_method(sandbox: Sandbox, bp: pyodata.Client) -> None:
    partner = _new_partner(bp, "Kappa GmbH")
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
    partner = _new_partner(bp, "Lambda GmbH")
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


def _order(so: pyodata.Client) -> object:
    return so.entity_sets.A_SalesOrder.create_entity().set(**ORDER_HEADER).execute()


def test_update_without_if_match_is_428(so: pyodata.Client) -> None:
    order = _order(so)
    with pytest.raises(HttpError) as failed:
        so.entity_sets.A_SalesOrder.update_entity(order.SalesOrder).set(
            PurchaseOrderByCustomer="PO-1"
        ).execute()
    assert failed.value.response.status_code == 428
    assert failed.value.response.json()["error"]["code"]


def test_update_with_stale_etag_is_412_and_with_current_etag_succeeds(
    sandbox: Sandbox, so: pyodata.Client
) -> None:
    order = so.entity_sets.A_SalesOrder.get_entity(_order(so).SalesOrder).execute()
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
    order = _order(so)
    request = so.entity_sets.A_SalesOrder.delete_entity(order.SalesOrder)
    request.add_headers({"If-Match": "*"})
    request.execute()
    with pytest.raises(HttpError) as failed:
        so.entity_sets.A_SalesOrder.get_entity(order.SalesOrder).execute()
    assert failed.value.response.status_code == 404


def test_single_get_sends_etag_header(sandbox: Sandbox, so: pyodata.Client) -> None:
    order = _order(so)
    response = sandbox.session(token=False).get(
        sandbox.url(SO_SRV) + f"A_SalesOrder('{order.SalesOrder}')", params={"$format": "json"}
    )
    assert response.headers["etag"] == response.json()["d"]["__metadata"]["etag"]


# --------------------------------------------------------------------------------------------------- delete


def test_delete_answers_204_and_the_entity_is_gone(bp: pyodata.Client) -> None:
    partner = _new_partner(bp, "Mu GmbH", to_BusinessPartnerRole=[{"BusinessPartnerRole": "BUP002"}])
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
    partner = _new_partner(bp, "Nu GmbH")
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
    partner = _new_partner(bp, "Xi GmbH")
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
    assert response.status_code == 503 and _error(response)["message"]["value"]


# -------------------------------------------------------------------------------------- ABAP initial values


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
    partner = _new_partner(bp, "Sigma GmbH", SearchTerm1="SIGMA")
    response = sandbox.session().patch(
        sandbox.url(BP_SRV) + f"A_BusinessPartner('{partner.BusinessPartner}')", json={"SearchTerm1": None}
    )
    assert response.status_code == 204
    assert _get_json(sandbox, BP_SRV, f"A_BusinessPartner('{partner.BusinessPartner}')")["SearchTerm1"] == ""


def test_deep_inserted_children_get_initial_values(sandbox: Sandbox, bp: pyodata.Client) -> None:
    partner = _new_partner(bp, "Tau GmbH", to_BusinessPartnerAddress=[{"CityName": "Graz", "Country": "AT"}])
    addresses = _get_json(
        sandbox, BP_SRV, f"A_BusinessPartner('{partner.BusinessPartner}')/to_BusinessPartnerAddress"
    )["results"]
    assert [(a["CityName"], a["StreetName"], a["PostalCode"]) for a in addresses] == [("Graz", "", "")]


# ------------------------------------------------------------------------------------------ required fields


def _create_error(sandbox: Sandbox, service: str, set_name: str, payload: dict) -> dict:
    response = sandbox.session().post(sandbox.url(service) + set_name, json=payload)
    assert response.status_code == 400, response.text
    return _error(response)


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
    org = _new_partner(bp, "Upsilon Tools", OrganizationBPName2="GmbH")
    stored = bp.entity_sets.A_BusinessPartner.get_entity(org.BusinessPartner).execute()
    assert (stored.BusinessPartnerFullName, stored.BusinessPartnerName) == ("Upsilon Tools GmbH",) * 2


def test_given_full_name_is_kept(bp: pyodata.Client) -> None:
    org = _new_partner(bp, "Phi", BusinessPartnerFullName="Phi Holding")
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
    order = _order(so)
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
    message = _error(response)["message"]["value"]
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
    first = _order(so)
    sandbox.clock.advance(120)
    middle = sandbox.clock.now - dt.timedelta(seconds=60)
    second = _order(so)
    literal = middle.strftime("%Y-%m-%dT%H:%M:%SZ")
    query = (
        f"LastChangeDateTime gt datetimeoffset'{literal}' and "
        f"(SalesOrder eq '{first.SalesOrder}' or SalesOrder eq '{second.SalesOrder}')"
    )
    found = so.entity_sets.A_SalesOrder.get_entities().filter(query).execute()
    assert [o.SalesOrder for o in found] == [second.SalesOrder]


# ------------------------------------------------------------------------------------ PATCH, stamps via GET


def test_patch_answers_204_and_changes_the_entity(sandbox: Sandbox, bp: pyodata.Client) -> None:
    partner = _new_partner(bp, "Chi GmbH")
    response = sandbox.session().patch(
        sandbox.url(BP_SRV) + f"A_BusinessPartner('{partner.BusinessPartner}')", json={"SearchTerm1": "CHI"}
    )
    assert (response.status_code, response.content) == (204, b"")
    assert bp.entity_sets.A_BusinessPartner.get_entity(partner.BusinessPartner).execute().SearchTerm1 == "CHI"


def test_pyodata_patch_update_answers_204(sandbox: Sandbox, bp: pyodata.Client) -> None:
    partner = _new_partner(bp, "Psi GmbH")
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
    partner = _new_partner(bp, "Omega GmbH")
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
    order = so.entity_sets.A_SalesOrder.get_entity(_order(so).SalesOrder).execute()
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
