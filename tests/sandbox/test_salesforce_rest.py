"""The Salesforce sandbox's REST API, driven only through the unmodified simple-salesforce client
(and plain requests for raw protocol details) over HTTPS with certificate verification on.

Long (about 750 lines) because one module-scoped org, server and simple-salesforce client are shared by
the tests of every REST resource; split, each part would start its own.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from sandbox.faults import FaultInjector
from sandbox.salesforce.app import create_app
from sandbox.salesforce.org import SalesforceOrg
from sandbox.server import ServerHandle, serve
from sandbox.tls import TlsFiles, ensure_tls

pytestmark = pytest.mark.integration

SEEDED_ACCOUNTS = 2_100
CANONICAL_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000\+0000$")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsFiles]:
    files = ensure_tls(Path(tmp_path_factory.mktemp("sf-tls")))
    # requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override a session's ``verify``: point them at
    # the sandbox CA too, so verification stays on whichever setting wins.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REQUESTS_CA_BUNDLE", str(files.ca_cert))
        mp.setenv("CURL_CA_BUNDLE", str(files.ca_cert))
        yield files


@pytest.fixture(scope="module")
def org() -> SalesforceOrg:
    org = SalesforceOrg()
    accounts = [
        {"Name": f"Seed Account {i:05d}", "SyncHub_Id__c": f"SEED-{i:05d}", "BillingCity": "Berlin"}
        for i in range(SEEDED_ACCOUNTS)
    ]
    # SAP_Customer_Number__c is an external id without a unique constraint: duplicates are possible.
    accounts[0]["SAP_Customer_Number__c"] = "0000100001"
    accounts[1]["SAP_Customer_Number__c"] = "0000100001"
    org.load({"Account": accounts})
    return org


@pytest.fixture(scope="module")
def faults() -> FaultInjector:
    return FaultInjector()


@pytest.fixture(scope="module")
def server(tls: TlsFiles, org: SalesforceOrg, faults: FaultInjector) -> Iterator[ServerHandle]:
    handle = serve(create_app(org, faults), tls=tls)
    yield handle
    _close_sessions()
    handle.stop()


_open_sessions: list[requests.Session] = []


def _session(tls: TlsFiles) -> requests.Session:
    session = requests.Session()
    session.verify = str(tls.ca_cert)
    _open_sessions.append(session)
    return session


def _close_sessions() -> None:
    """Close kept-alive connections so the server stops at once instead of waiting for them."""
    while _open_sessions:
        _open_sessions.pop().close()


def _client(server: ServerHandle, tls: TlsFiles, token: str) -> Salesforce:
    return Salesforce(instance_url=server.url, session_id=token, session=_session(tls), version="62.0")


@pytest.fixture(scope="module")
def sf(server: ServerHandle, tls: TlsFiles, org: SalesforceOrg) -> Salesforce:
    return _client(server, tls, org.issue_session())


def _error_code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.content[0]["errorCode"]


def _pricebook_setup(sf: Salesforce, org: SalesforceOrg, code: str) -> tuple[str, str, str]:
    """An account, a product with a standard price of 10, and a draft order in the standard price book."""
    account = sf.Account.create({"Name": f"Order Customer {code}"})["id"]
    product = sf.Product2.create({"Name": f"Widget {code}", "ProductCode": code})["id"]
    entry = sf.PricebookEntry.create(
        {"Pricebook2Id": org.standard_pricebook_id, "Product2Id": product, "UnitPrice": 10, "IsActive": True}
    )["id"]
    order = sf.Order.create(
        {
            "AccountId": account,
            "EffectiveDate": "2026-01-15",
            "Status": "Draft",
            "Pricebook2Id": org.standard_pricebook_id,
        }
    )["id"]
    return entry, order, product


# ----------------------------------------------------------------------------------------- query
def test_query_all_pages_through_more_than_2000_records(sf: Salesforce) -> None:
    result = sf.query_all("SELECT Id, Name FROM Account WHERE Name LIKE 'Seed Account%'")

    assert result["totalSize"] == SEEDED_ACCOUNTS
    assert len({r["Id"] for r in result["records"]}) == SEEDED_ACCOUNTS


def test_first_query_page_holds_2000_records_and_a_server_side_locator(sf: Salesforce) -> None:
    page = sf.query("SELECT Id FROM Account WHERE Name LIKE 'Seed Account%'")

    assert page["done"] is False
    assert page["totalSize"] == SEEDED_ACCOUNTS
    assert len(page["records"]) == 2000
    assert re.fullmatch(r"/services/data/v62\.0/query/01g[0-9A-Za-z]{15}-2000", page["nextRecordsUrl"])
    rest = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
    assert rest["done"] is True and len(rest["records"]) == SEEDED_ACCOUNTS - 2000


def test_batch_size_header_sets_the_page_size(sf: Salesforce) -> None:
    page = sf.query(
        "SELECT Id FROM Account WHERE Name LIKE 'Seed Account%'",
        headers={"Sforce-Query-Options": "batchSize=500"},
    )

    assert len(page["records"]) == 500
    assert page["nextRecordsUrl"].endswith("-500")


def test_unknown_query_locator_is_invalid_query_locator(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query_more("/services/data/v62.0/query/01g8d000000XXXXAAA-2000", identifier_is_url=True)

    assert _error_code(exc) == "INVALID_QUERY_LOCATOR"


def test_query_nests_parent_relationship_fields(sf: Salesforce) -> None:
    account = sf.Account.create({"Name": "Parent Of Jane"})["id"]
    sf.Contact.create({"LastName": "Parentson", "FirstName": "Jane", "AccountId": account})

    result = sf.query("SELECT Name, Account.Name FROM Contact WHERE LastName = 'Parentson'")

    record = result["records"][0]
    assert record["Name"] == "Jane Parentson"
    assert record["Account"]["Name"] == "Parent Of Jane"
    assert record["Account"]["attributes"]["type"] == "Account"


def test_system_modstamp_filter_returns_records_changed_since_a_watermark(sf: Salesforce) -> None:
    record_id = sf.Account.create({"Name": "Watermark Probe"})["id"]
    stamp = sf.Account.get(record_id)["SystemModstamp"]
    watermark = stamp.replace(".000+0000", "Z")

    result = sf.query_all(f"SELECT Id, SystemModstamp FROM Account WHERE SystemModstamp >= {watermark}")

    assert record_id in {r["Id"] for r in result["records"]}
    assert all(r["SystemModstamp"] >= stamp for r in result["records"])


def test_query_all_sees_deleted_records_and_query_does_not(sf: Salesforce) -> None:
    record_id = sf.Account.create({"Name": "Soon Deleted", "SyncHub_Id__c": "DEL-1"})["id"]
    sf.Account.delete(record_id)
    soql = "SELECT Id, IsDeleted FROM Account WHERE SyncHub_Id__c = 'DEL-1'"

    assert sf.query(soql)["totalSize"] == 0
    deleted = sf.query_all(soql, include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in deleted] == [(record_id, True)]


def test_count_query_reports_total_size_without_records(sf: Salesforce) -> None:
    result = sf.query("SELECT COUNT() FROM Account WHERE Name LIKE 'Seed Account 0000%'")

    assert result["totalSize"] == 10
    assert result["records"] == []


def test_malformed_soql_raises_malformed_query(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Id FROM Account WHERE")

    assert _error_code(exc) == "MALFORMED_QUERY"


def test_unknown_field_in_soql_raises_invalid_field(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Id, NoSuchField__c FROM Account")

    assert _error_code(exc) == "INVALID_FIELD"


def test_timestamps_come_back_in_canonical_form(sf: Salesforce) -> None:
    record = sf.query("SELECT CreatedDate, LastModifiedDate, SystemModstamp FROM Account LIMIT 1")["records"][
        0
    ]

    assert all(
        CANONICAL_DATETIME.match(record[f]) for f in ("CreatedDate", "LastModifiedDate", "SystemModstamp")
    )


# ----------------------------------------------------------------------------------------- describe
def test_describe_reports_field_attributes(sf: Salesforce) -> None:
    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}

    assert fields["SyncHub_Id__c"]["externalId"] is True and fields["SyncHub_Id__c"]["unique"] is True
    assert fields["SAP_Customer_Number__c"]["externalId"] is True
    assert fields["Name"]["nillable"] is False and fields["Name"]["length"] == 255
    assert fields["CreatedDate"]["createable"] is False and fields["CreatedDate"]["updateable"] is False


def test_describe_global_lists_the_objects(sf: Salesforce) -> None:
    names = {o["name"] for o in sf.describe()["sobjects"]}

    assert {"Account", "Contact", "Product2", "PricebookEntry", "Order", "OrderItem"} <= names


def test_unknown_sobject_is_not_found(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.NoSuchObject__c.describe()

    assert _error_code(exc) == "NOT_FOUND"


# ----------------------------------------------------------------------------------------- CRUD
def test_create_answers_201_with_the_new_id(sf: Salesforce) -> None:
    response = sf.session.post(
        f"{sf.base_url}sobjects/Account", json={"Name": "Created Co"}, headers=sf.headers
    )

    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True and body["errors"] == [] and body["id"].startswith("001")


def test_get_with_fields_returns_only_those_fields(sf: Salesforce) -> None:
    record_id = sf.Account.create({"Name": "Fielded", "Phone": "+49 30 1234"})["id"]

    record = sf.restful(f"sobjects/Account/{record_id}", params={"fields": "Name,Phone"})

    assert set(record) == {"attributes", "Name", "Phone"}
    assert record["Phone"] == "+49 30 1234"


def test_update_answers_204_and_moves_the_modstamp_forward(sf: Salesforce) -> None:
    record_id = sf.Account.create({"Name": "Before"})["id"]
    before = sf.Account.get(record_id)

    status = sf.Account.update(record_id, {"Name": "After"})

    after = sf.Account.get(record_id)
    assert status == 204
    assert after["Name"] == "After"
    assert after["SystemModstamp"] >= before["SystemModstamp"]
    assert after["CreatedDate"] == before["CreatedDate"]


def test_deleted_record_reads_as_entity_is_deleted(sf: Salesforce) -> None:
    record_id = sf.Account.create({"Name": "Delete Me"})["id"]

    assert sf.Account.delete(record_id) == 204
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.Account.get(record_id)
    assert _error_code(exc) == "ENTITY_IS_DELETED"


def test_unknown_record_id_is_not_found(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.Account.get("001000000000000AAA")

    assert _error_code(exc) == "NOT_FOUND"


def test_get_by_external_id_returns_the_record(sf: Salesforce) -> None:
    record = sf.Account.get_by_custom_id("SyncHub_Id__c", "SEED-00042")

    assert record["Name"] == "Seed Account 00042"


# ----------------------------------------------------------------------------------------- upsert
def test_upsert_of_a_new_external_id_creates_with_201(sf: Salesforce) -> None:
    response = sf.Account.upsert("SyncHub_Id__c/UPS-NEW", {"Name": "Upserted"}, raw_response=True)

    assert response.status_code == 201
    assert response.json()["created"] is True
    assert sf.Account.get_by_custom_id("SyncHub_Id__c", "UPS-NEW")["Id"] == response.json()["id"]


def test_upsert_of_an_existing_external_id_updates_with_204(sf: Salesforce) -> None:
    sf.Account.upsert("SyncHub_Id__c/UPS-OLD", {"Name": "First"})

    status = sf.Account.upsert("SyncHub_Id__c/UPS-OLD", {"Name": "Second"})

    assert status == 204
    matches = sf.query("SELECT Name FROM Account WHERE SyncHub_Id__c = 'UPS-OLD'")["records"]
    assert [r["Name"] for r in matches] == ["Second"]


def test_upsert_matching_several_records_answers_300_with_their_urls(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMoreThanOneRecord) as exc:
        sf.Account.upsert("SAP_Customer_Number__c/0000100001", {"Phone": "1"})

    assert exc.value.status == 300
    assert len(exc.value.content) == 2
    assert all(url.startswith("/services/data/v62.0/sobjects/Account/001") for url in exc.value.content)


def test_upsert_on_an_unknown_external_id_field_is_not_found(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.Account.upsert("NoSuchField__c/1", {"Name": "x"})

    assert _error_code(exc) == "NOT_FOUND"


# ----------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("payload", "code", "message"),
    [
        ({"Phone": "1"}, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]"),
        (
            {"Name": "x" * 256},
            "STRING_TOO_LONG",
            "Name: data value too large: " + "x" * 256 + " (max length=255)",
        ),
        ({"Name": "x", "Foo": 1}, "INVALID_FIELD", "No such column 'Foo' on sobject of type Account"),
        (
            {"Name": "x", "CreatedDate": "2026-01-01T00:00:00Z"},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            "Unable to create/update fields: CreatedDate. Please check the security settings of this field "
            "and verify that it is read/write for your profile or permission set.",
        ),
        ({"Name": "x", "NumberOfEmployees": "many"}, "JSON_PARSER_ERROR", None),
        ({"Name": "x", "ParentId": "not-an-id"}, "MALFORMED_ID", None),
        ({"Name": "x", "ParentId": "001000000000999AAA"}, "FIELD_INTEGRITY_EXCEPTION", None),
        (
            {"Name": "x", "SyncHub_Id__c": "seed-00001"},
            "DUPLICATE_VALUE",
            "duplicate value found: SyncHub_Id__c duplicates value on record with id: ",
        ),
    ],
)
def test_invalid_account_writes_are_rejected_with_the_platform_error(
    sf: Salesforce, payload: dict, code: str, message: str | None
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Account.create(payload)

    assert exc.value.status == 400
    assert _error_code(exc) == code
    if message is not None:
        assert exc.value.content[0]["message"].startswith(message)


def test_restricted_picklist_rejects_unknown_values(sf: Salesforce) -> None:
    account = sf.Account.create({"Name": "Picky"})["id"]

    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Order.create({"AccountId": account, "EffectiveDate": "2026-01-01", "Status": "Shipped"})

    assert _error_code(exc) == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert exc.value.content[0]["fields"] == ["Status"]


def test_updating_a_deleted_record_is_entity_is_deleted(sf: Salesforce) -> None:
    record_id = sf.Account.create({"Name": "Gone"})["id"]
    sf.Account.delete(record_id)

    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.Account.update(record_id, {"Name": "Back"})

    assert _error_code(exc) == "ENTITY_IS_DELETED"


# ----------------------------------------------------------------------------------------- orders
def test_order_total_is_the_sum_of_its_item_totals(sf: Salesforce, org: SalesforceOrg) -> None:
    entry, order, product = _pricebook_setup(sf, org, "TOT-1")
    sf.OrderItem.create({"OrderId": order, "PricebookEntryId": entry, "Quantity": 3, "UnitPrice": 9.5})
    sf.OrderItem.create({"OrderId": order, "PricebookEntryId": entry, "Quantity": 1, "UnitPrice": 10})

    result = sf.query(f"SELECT TotalAmount, OrderNumber, StatusCode FROM Order WHERE Id = '{order}'")[
        "records"
    ][0]
    items = sf.query(f"SELECT TotalPrice, ListPrice, Product2Id FROM OrderItem WHERE OrderId = '{order}'")

    assert result["TotalAmount"] == 38.5
    assert re.fullmatch(r"\d{8}", result["OrderNumber"])
    assert result["StatusCode"] == "Draft"
    assert sorted(r["TotalPrice"] for r in items["records"]) == [10.0, 28.5]
    assert {(r["ListPrice"], r["Product2Id"]) for r in items["records"]} == {(10.0, product)}


def test_order_item_from_another_price_book_is_a_field_integrity_exception(
    sf: Salesforce, org: SalesforceOrg
) -> None:
    entry, _, _ = _pricebook_setup(sf, org, "PB-1")
    account = sf.Account.create({"Name": "No Pricebook Customer"})["id"]
    order = sf.Order.create({"AccountId": account, "EffectiveDate": "2026-01-15", "Status": "Draft"})["id"]

    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.OrderItem.create({"OrderId": order, "PricebookEntryId": entry, "Quantity": 1, "UnitPrice": 10})

    assert _error_code(exc) == "FIELD_INTEGRITY_EXCEPTION"


# ----------------------------------------------------------------------------------------- collections
def _records(obj: str, *rows: dict) -> list[dict]:
    return [{"attributes": {"type": obj}, **row} for row in rows]


def test_collection_create_without_all_or_none_keeps_the_good_records(sf: Salesforce) -> None:
    body = {"allOrNone": False, "records": _records("Account", {"Name": "Coll Good"}, {"Phone": "no name"})}

    results = sf.restful("composite/sobjects", method="POST", json=body)

    assert results[0]["success"] is True and results[0]["id"].startswith("001")
    assert results[1]["success"] is False
    assert results[1]["errors"] == [
        {
            "statusCode": "REQUIRED_FIELD_MISSING",
            "message": "Required fields are missing: [Name]",
            "fields": ["Name"],
        }
    ]
    assert sf.Account.get(results[0]["id"])["Name"] == "Coll Good"


def test_collection_create_with_all_or_none_rolls_everything_back(sf: Salesforce) -> None:
    body = {
        "allOrNone": True,
        "records": _records(
            "Account", {"Name": "Rolled Back", "SyncHub_Id__c": "AON-1"}, {"Phone": "no name"}
        ),
    }

    results = sf.restful("composite/sobjects", method="POST", json=body)

    assert [r["success"] for r in results] == [False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert sf.query("SELECT Id FROM Account WHERE SyncHub_Id__c = 'AON-1'")["totalSize"] == 0


def test_collection_update_changes_each_record(sf: Salesforce) -> None:
    ids = [sf.Account.create({"Name": f"Coll Upd {i}"})["id"] for i in range(2)]
    body = {"records": _records("Account", *({"Id": i, "Phone": "555"} for i in ids))}

    results = sf.restful("composite/sobjects", method="PATCH", json=body)

    assert [r["success"] for r in results] == [True, True]
    assert {sf.Account.get(i)["Phone"] for i in ids} == {"555"}


def test_collection_upsert_reports_created_and_updated(sf: Salesforce) -> None:
    sf.Account.upsert("SyncHub_Id__c/CUP-1", {"Name": "Existing"})
    body = {
        "allOrNone": False,
        "records": _records(
            "Account",
            {"SyncHub_Id__c": "CUP-1", "Name": "Existing v2"},
            {"SyncHub_Id__c": "CUP-2", "Name": "New"},
        ),
    }

    results = sf.restful("composite/sobjects/Account/SyncHub_Id__c", method="PATCH", json=body)

    assert [(r["success"], r["created"]) for r in results] == [(True, False), (True, True)]
    assert sf.Account.get_by_custom_id("SyncHub_Id__c", "CUP-1")["Name"] == "Existing v2"


def test_collection_upsert_on_a_duplicated_external_id_fails_that_record(sf: Salesforce) -> None:
    body = {"records": _records("Account", {"SAP_Customer_Number__c": "0000100001", "Phone": "2"})}

    results = sf.restful("composite/sobjects/Account/SAP_Customer_Number__c", method="PATCH", json=body)

    assert results[0]["success"] is False
    assert results[0]["errors"][0]["statusCode"] == "DUPLICATE_EXTERNAL_ID"


def test_collection_delete_reports_each_id(sf: Salesforce) -> None:
    record_id = sf.Account.create({"Name": "Coll Del"})["id"]

    results = sf.restful(
        "composite/sobjects",
        method="DELETE",
        params={"ids": f"{record_id},001000000000777AAA", "allOrNone": "false"},
    )

    assert results[0] == {"id": record_id, "success": True, "errors": []}
    assert results[1]["success"] is False
    assert results[1]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


def test_collection_retrieve_returns_the_asked_fields(sf: Salesforce) -> None:
    record_id = sf.Account.create({"Name": "Coll Get", "Phone": "42"})["id"]

    results = sf.restful("composite/sobjects/Account", params={"ids": record_id, "fields": "Name,Phone"})

    assert [(r["Name"], r["Phone"]) for r in results] == [("Coll Get", "42")]


def test_collections_take_at_most_200_records(sf: Salesforce) -> None:
    body = {"records": _records("Account", *({"Name": f"Too Many {i}"} for i in range(201)))}

    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful("composite/sobjects", method="POST", json=body)

    assert _error_code(exc) == "EXCEEDED_ID_LIMIT"


# ----------------------------------------------------------------------------------------- limits
def test_every_response_reports_api_usage(sf: Salesforce, org: SalesforceOrg) -> None:
    sf.query("SELECT Id FROM Account LIMIT 1")

    used, limit = org.api_usage()
    assert sf.api_usage["api-usage"].total == limit
    assert sf.api_usage["api-usage"].used == used


def test_limits_endpoint_reports_daily_api_requests(sf: Salesforce, org: SalesforceOrg) -> None:
    limits = sf.limits()

    used, limit = org.api_usage()
    assert limits["DailyApiRequests"] == {"Max": limit, "Remaining": limit - used}


def test_spent_daily_budget_is_request_limit_exceeded(tls: TlsFiles) -> None:
    small = SalesforceOrg(daily_api_limit=2)
    handle = serve(create_app(small), tls=tls)
    try:
        client = _client(handle, tls, small.issue_session())
        client.limits()
        client.limits()
        with pytest.raises(SalesforceRefusedRequest) as exc:
            client.limits()
    finally:
        client.session.close()
        handle.stop()

    assert exc.value.status == 403
    assert exc.value.content == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]


def test_admin_dump_is_not_counted_against_the_budget(
    server: ServerHandle, tls: TlsFiles, org: SalesforceOrg
) -> None:
    before = org.api_usage()[0]

    dump = _session(tls).get(f"{server.url}/__sandbox/dump").json()

    assert len(dump["Account"]) >= SEEDED_ACCOUNTS
    assert org.api_usage()[0] == before


# ----------------------------------------------------------------------------------------- sessions and OAuth
def test_unknown_session_is_invalid_session_id(server: ServerHandle, tls: TlsFiles) -> None:
    client = _client(server, tls, "00D000000000001!bogus")

    with pytest.raises(SalesforceExpiredSession) as exc:
        client.query("SELECT Id FROM Account LIMIT 1")

    assert exc.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_expired_session_is_invalid_session_id(
    server: ServerHandle, tls: TlsFiles, org: SalesforceOrg
) -> None:
    token = org.issue_session()
    client = _client(server, tls, token)
    client.query("SELECT Id FROM Account LIMIT 1")

    org.expire_session(token)

    with pytest.raises(SalesforceExpiredSession):
        client.query("SELECT Id FROM Account LIMIT 1")


def test_password_flow_logs_in_through_the_token_endpoint(
    server: ServerHandle, tls: TlsFiles, org: SalesforceOrg
) -> None:
    client = Salesforce(
        username=org.username,
        password=org.password,
        consumer_key=org.consumer_key,
        consumer_secret=org.consumer_secret,
        domain=f"127.0.0.1:{server.port}/services/oauth2/token#",
        session=_session(tls),
        version="62.0",
    )

    assert client.sf_instance == f"127.0.0.1:{server.port}"
    assert client.query("SELECT COUNT() FROM Account")["totalSize"] >= SEEDED_ACCOUNTS


def test_client_credentials_flow_logs_in_with_basic_auth(
    server: ServerHandle, tls: TlsFiles, org: SalesforceOrg
) -> None:
    client = Salesforce(
        consumer_key=org.consumer_key,
        consumer_secret=org.consumer_secret,
        domain=f"127.0.0.1:{server.port}/services/oauth2/token#",
        session=_session(tls),
        version="62.0",
    )

    assert client.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1


def test_wrong_password_is_invalid_grant(server: ServerHandle, tls: TlsFiles, org: SalesforceOrg) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as exc:
        Salesforce(
            username=org.username,
            password="wrong",
            consumer_key=org.consumer_key,
            consumer_secret=org.consumer_secret,
            domain=f"127.0.0.1:{server.port}/services/oauth2/token#",
            session=_session(tls),
        )

    assert exc.value.code == "invalid_grant"
    assert exc.value.auth_message == "authentication failure"


def test_token_response_carries_the_instance_url_it_was_reached_on(
    server: ServerHandle, tls: TlsFiles, org: SalesforceOrg
) -> None:
    response = _session(tls).post(
        f"{server.url}/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": org.consumer_key,
            "client_secret": org.consumer_secret,
            "username": org.username,
            "password": org.password,
        },
    )

    body = response.json()
    assert response.status_code == 200
    assert body["instance_url"] == server.url
    assert body["token_type"] == "Bearer"
    assert {"access_token", "id", "issued_at", "signature"} <= set(body)


def test_airflow_salesforce_hook_connects_from_an_environment_connection(
    server: ServerHandle, tls: TlsFiles, org: SalesforceOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca_cert))
    extra = {
        "consumer_key": org.consumer_key,
        "consumer_secret": org.consumer_secret,
        "domain": f"127.0.0.1:{server.port}/services/oauth2/token#",
        "version": "62.0",
    }
    conn = {"conn_type": "salesforce", "login": org.username, "password": org.password, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_SANDBOX", json.dumps(conn))

    hook = SalesforceHook(salesforce_conn_id="salesforce_sandbox")
    result = hook.make_query("SELECT Id, Name FROM Account WHERE SyncHub_Id__c = 'SEED-00007'")

    assert [r["Name"] for r in result["records"]] == ["Seed Account 00007"]
    assert "SyncHub_Id__c" in hook.get_available_fields("Account")


# ----------------------------------------------------------------------------------------- faults
@pytest.fixture
def fault_reset(faults: FaultInjector) -> Iterator[FaultInjector]:
    yield faults
    faults.reset()


def test_injected_503_reaches_the_client_as_a_general_error(
    sf: Salesforce, fault_reset: FaultInjector
) -> None:
    fault_reset.update(rate_503=1.0)

    with pytest.raises(SalesforceGeneralError) as exc:
        sf.query("SELECT Id FROM Account LIMIT 1")

    assert exc.value.status == 503
    assert exc.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"


def test_injected_expired_session_really_expires_it(
    server: ServerHandle, tls: TlsFiles, org: SalesforceOrg, fault_reset: FaultInjector
) -> None:
    client = _client(server, tls, org.issue_session())
    fault_reset.update(rate_expired_session=1.0)
    with pytest.raises(SalesforceExpiredSession):
        client.query("SELECT Id FROM Account LIMIT 1")
    fault_reset.reset()

    with pytest.raises(SalesforceExpiredSession):
        client.query("SELECT Id FROM Account LIMIT 1")


# ----------------------------------------------------------------------------------------- replication
def test_updated_resource_lists_records_changed_in_a_window(sf: Salesforce) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    record_id = sf.Account.create({"Name": "Replicated"})["id"]

    result = sf.Account.updated(start, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2))

    assert record_id in result["ids"]


# ----------------------------------------------------------------------------------------- bulk 2.0 gate
def test_bulk2_routes_sit_behind_the_same_session_check(server: ServerHandle, tls: TlsFiles) -> None:
    response = _session(tls).get(f"{server.url}/services/data/v62.0/jobs/ingest")

    assert response.status_code == 401
    assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_bulk2_routes_count_against_the_budget(sf: Salesforce, org: SalesforceOrg) -> None:
    before = org.api_usage()[0]

    response = sf.session.get(f"{sf.base_url}jobs/ingest", headers=sf.headers)

    assert response.status_code == 200
    assert org.api_usage()[0] == before + 1
    assert response.headers["Sforce-Limit-Info"] == f"api-usage={before + 1}/{org.api_usage()[1]}"
