"""Bulk API 2.0 of the Salesforce sandbox, driven by the unmodified simple-salesforce client over HTTPS."""

from __future__ import annotations

import csv
import io
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceOperationError

from sandbox.salesforce.app import create_app
from sandbox.salesforce.org import SalesforceOrg
from sandbox.salesforce.schema import make_id
from sandbox.server import ServerHandle, serve
from sandbox.tls import TlsFiles, ensure_tls

API = "/services/data/v62.0"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return ensure_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def org() -> SalesforceOrg:
    return SalesforceOrg()


@pytest.fixture(scope="module")
def server(org: SalesforceOrg, tls: TlsFiles) -> Iterator[ServerHandle]:
    handle = serve(create_app(org), tls=tls)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def session(tls: TlsFiles) -> Iterator[requests.Session]:
    http = requests.Session()
    http.verify = str(tls.ca_cert)
    # REQUESTS_CA_BUNDLE in the environment would otherwise override the session's CA.
    http.trust_env = False
    yield http
    http.close()  # before the server stops, or it waits for the keep-alive connection


@pytest.fixture(scope="module")
def sf(server: ServerHandle, org: SalesforceOrg, session: requests.Session) -> Salesforce:
    return Salesforce(
        instance_url=server.url, session_id=org.issue_session(), session=session, version="62.0"
    )


@pytest.fixture(scope="module")
def raw(server: ServerHandle, sf: Salesforce, session: requests.Session) -> RawClient:
    return RawClient(server.url + API, sf.session_id, session)


class RawClient:
    """Plain HTTP calls for wire details the client hides (status codes, headers, error bodies)."""

    def __init__(self, base: str, token: str, http: requests.Session) -> None:
        self.base = base
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.http.request(method, self.base + path, headers=headers, timeout=10, **kwargs)

    def wait_for(
        self, path: str, states: tuple[str, ...] = ("JobComplete", "Failed", "Aborted")
    ) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            info = self.request("GET", path).json()
            if info["state"] in states:
                return info
            time.sleep(0.01)
        raise AssertionError(f"job at {path} never reached {states}")


def tag() -> str:
    return uuid.uuid4().hex[:10]


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def query_rows(sf: Salesforce, soql: str, **kwargs: Any) -> list[dict[str, str]]:
    return [row for page in sf.bulk2.Account.query(soql, wait=0, **kwargs) for row in rows(page)]


# --- ingest ---------------------------------------------------------------------------------------


def test_insert_creates_records_and_reports_each_failed_row(sf: Salesforce) -> None:
    t = tag()
    records = [
        {"Name": f"Good {t} 1", "SyncHub_Id__c": f"{t}-1"},
        {"Name": "", "SyncHub_Id__c": f"{t}-2"},
        {"Name": f"Good {t} 3", "SyncHub_Id__c": f"{t}-3"},
    ]

    [result] = sf.bulk2.Account.insert(records=records, wait=0)

    assert (result["numberRecordsProcessed"], result["numberRecordsFailed"]) == (3, 1)
    successes = rows(sf.bulk2.Account.get_successful_records(result["job_id"]))
    assert sorted(r["SyncHub_Id__c"] for r in successes) == [f"{t}-1", f"{t}-3"]
    assert all(r["sf__Created"] == "true" and r["sf__Id"].startswith("001") for r in successes)
    [failure] = rows(sf.bulk2.Account.get_failed_records(result["job_id"]))
    assert failure["sf__Error"] == "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --"
    assert failure["SyncHub_Id__c"] == f"{t}-2"


def test_csv_text_is_stored_with_the_field_types(sf: Salesforce) -> None:
    t = tag()
    sf.bulk2.Account.insert(
        records=[{"Name": f"Typed {t}", "NumberOfEmployees": "42", "AnnualRevenue": "1500.5"}], wait=0
    )

    found = sf.query(f"SELECT NumberOfEmployees, AnnualRevenue FROM Account WHERE Name = 'Typed {t}'")

    [record] = found["records"]
    assert (record["NumberOfEmployees"], record["AnnualRevenue"]) == (42, 1500.5)


def test_bad_value_fails_only_its_row(sf: Salesforce) -> None:
    t = tag()
    [result] = sf.bulk2.Account.insert(
        records=[
            {"Name": f"N {t} a", "NumberOfEmployees": "many"},
            {"Name": f"N {t} b", "NumberOfEmployees": "7"},
        ],
        wait=0,
    )

    [failure] = rows(sf.bulk2.Account.get_failed_records(result["job_id"]))
    assert failure["sf__Error"].startswith("INVALID_TYPE_ON_FIELD_IN_RECORD:")
    assert failure["sf__Error"].endswith(":NumberOfEmployees --")
    assert result["numberRecordsFailed"] == 1


def test_upsert_rerun_updates_instead_of_duplicating(sf: Salesforce) -> None:
    t = tag()
    records = [{"SyncHub_Id__c": f"{t}-{i}", "Name": f"Upsert {t} {i}"} for i in range(3)]

    [first] = sf.bulk2.Account.upsert(records=records, external_id_field="SyncHub_Id__c", wait=0)
    [second] = sf.bulk2.Account.upsert(records=records, external_id_field="SyncHub_Id__c", wait=0)

    assert first["numberRecordsFailed"] == second["numberRecordsFailed"] == 0
    created = [r["sf__Created"] for r in rows(sf.bulk2.Account.get_successful_records(second["job_id"]))]
    assert created == ["false", "false", "false"]
    found = query_rows(sf, f"SELECT Id FROM Account WHERE SyncHub_Id__c LIKE '{t}-%'")
    assert len(found) == 3


def test_upsert_without_external_id_value_fails_the_row(sf: Salesforce) -> None:
    t = tag()
    [result] = sf.bulk2.Account.upsert(
        records=[
            {"SyncHub_Id__c": "", "Name": f"No key {t}"},
            {"SyncHub_Id__c": f"{t}-k", "Name": f"Key {t}"},
        ],
        external_id_field="SyncHub_Id__c",
        wait=0,
    )

    [failure] = rows(sf.bulk2.Account.get_failed_records(result["job_id"]))
    assert failure["sf__Error"] == "MISSING_ARGUMENT:SyncHub_Id__c not specified:--"
    assert result["numberRecordsFailed"] == 1


def test_upsert_sets_parent_by_relationship_external_id(sf: Salesforce) -> None:
    t = tag()
    sf.bulk2.Account.upsert(
        records=[{"SyncHub_Id__c": f"{t}-parent", "Name": f"Parent {t}"}],
        external_id_field="SyncHub_Id__c",
        wait=0,
    )

    [result] = sf.bulk2.Contact.insert(
        records=[
            {"LastName": f"Child {t}", "Account.SyncHub_Id__c": f"{t}-parent"},
            {"LastName": f"Orphan {t}", "Account.SyncHub_Id__c": f"{t}-missing"},
        ],
        wait=0,
    )

    [failure] = rows(sf.bulk2.Contact.get_failed_records(result["job_id"]))
    assert failure["sf__Error"].startswith(f"INVALID_FIELD:Foreign key external ID: {t}-missing not found")
    [row] = query_rows(sf, f"SELECT LastName, Account.Name FROM Contact WHERE LastName = 'Child {t}'")
    assert row == {"LastName": f"Child {t}", "Account.Name": f"Parent {t}"}


def test_update_leaves_empty_cells_alone_and_nulls_na_cells(sf: Salesforce) -> None:
    t = tag()
    [ins] = sf.bulk2.Account.insert(
        records=[{"Name": f"Upd {t}", "Phone": "111", "Website": "https://example.com"}], wait=0
    )
    [created] = rows(sf.bulk2.Account.get_successful_records(ins["job_id"]))

    [result] = sf.bulk2.Account.update(
        records=[{"Id": created["sf__Id"], "Name": f"Upd {t} v2", "Phone": "", "Website": "#N/A"}], wait=0
    )

    assert result["numberRecordsFailed"] == 0
    [row] = query_rows(sf, f"SELECT Name, Phone, Website FROM Account WHERE Id = '{created['sf__Id']}'")
    assert row == {"Name": f"Upd {t} v2", "Phone": "111", "Website": ""}


def test_update_of_unknown_or_malformed_id_fails_only_that_row(sf: Salesforce) -> None:
    t = tag()
    [ins] = sf.bulk2.Account.insert(records=[{"Name": f"Known {t}"}], wait=0)
    [created] = rows(sf.bulk2.Account.get_successful_records(ins["job_id"]))
    unknown = make_id("001", 987_654_321)

    [result] = sf.bulk2.Account.update(
        records=[
            {"Id": created["sf__Id"], "Name": f"Known {t} v2"},
            {"Id": unknown, "Name": "x"},
            {"Id": "not-an-id", "Name": "y"},
        ],
        wait=0,
    )

    errors = {
        r["sf__Id"]: r["sf__Error"] for r in rows(sf.bulk2.Account.get_failed_records(result["job_id"]))
    }
    assert errors[unknown] == "INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--"
    assert errors["not-an-id"].startswith("MALFORMED_ID:")
    assert result["numberRecordsFailed"] == 2


def test_delete_hides_records_from_query_but_not_from_query_all(sf: Salesforce) -> None:
    t = tag()
    [ins] = sf.bulk2.Account.insert(records=[{"Name": f"Del {t} {i}"} for i in range(2)], wait=0)
    ids = [r["sf__Id"] for r in rows(sf.bulk2.Account.get_successful_records(ins["job_id"]))]

    [result] = sf.bulk2.Account.delete(records=[{"Id": i} for i in ids], wait=0)

    assert result["numberRecordsFailed"] == 0
    soql = f"SELECT Id, IsDeleted FROM Account WHERE Name LIKE 'Del {t}%'"
    assert query_rows(sf, soql) == []
    every = [row for page in sf.bulk2.Account.query_all(soql, wait=0) for row in rows(page)]
    assert sorted((r["Id"], r["IsDeleted"]) for r in every) == sorted((i, "true") for i in ids)


def test_delete_of_already_deleted_record_fails_only_that_row(sf: Salesforce) -> None:
    t = tag()
    [ins] = sf.bulk2.Account.insert(records=[{"Name": f"Twice {t} {i}"} for i in range(2)], wait=0)
    first, second = (r["sf__Id"] for r in rows(sf.bulk2.Account.get_successful_records(ins["job_id"])))
    sf.bulk2.Account.delete(records=[{"Id": first}], wait=0)

    [result] = sf.bulk2.Account.delete(records=[{"Id": first}, {"Id": second}], wait=0)

    [failure] = rows(sf.bulk2.Account.get_failed_records(result["job_id"]))
    assert (failure["sf__Id"], failure["sf__Error"]) == (first, "ENTITY_IS_DELETED:entity is deleted:--")
    [success] = rows(sf.bulk2.Account.get_successful_records(result["job_id"]))
    assert (success["sf__Id"], success["sf__Created"]) == (second, "false")


def test_get_all_ingest_records_splits_outcomes(sf: Salesforce) -> None:
    t = tag()
    [result] = sf.bulk2.Account.insert(records=[{"Name": f"All {t}"}, {"Name": ""}], wait=0)

    outcome = sf.bulk2.Account.get_all_ingest_records(result["job_id"])

    assert [r["Name"] for r in outcome["successfulRecords"]] == [f"All {t}"]
    assert len(outcome["failedRecords"]) == 1
    assert outcome["unprocessedRecords"] == []


def test_unknown_column_fails_the_whole_job(sf: Salesforce, raw: RawClient) -> None:
    with pytest.raises(SalesforceOperationError, match="Field name not found : Bogus__c"):
        sf.bulk2.Account.insert(records=[{"Name": "x", "Bogus__c": "y"}], wait=0)

    failed = [j for j in raw.request("GET", "/jobs/ingest").json()["records"] if j["state"] == "Failed"]
    assert failed


# --- ingest wire details ---------------------------------------------------------------------------


def test_ingest_job_walks_open_upload_complete_to_job_complete(raw: RawClient) -> None:
    t = tag()
    created = raw.request(
        "POST",
        "/jobs/ingest",
        json={"object": "Account", "operation": "insert", "contentType": "CSV", "lineEnding": "LF"},
    )
    job = created.json()
    assert (created.status_code, job["state"], job["id"][:3]) == (200, "Open", "750")
    assert job["contentUrl"] == f"services/data/v62.0/jobs/ingest/{job['id']}/batches"

    put = raw.request(
        "PUT",
        f"/jobs/ingest/{job['id']}/batches",
        data=f"Name\nWire {t}\n".encode(),
        headers={"Content-Type": "text/csv"},
    )
    closed = raw.request("PATCH", f"/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    done = raw.wait_for(f"/jobs/ingest/{job['id']}")

    assert put.status_code == 201
    assert closed.json()["state"] == "UploadComplete"
    assert (done["state"], done["numberRecordsProcessed"], done["jobType"]) == ("JobComplete", 1, "V2Ingest")


def test_deleted_job_is_gone(raw: RawClient) -> None:
    job = raw.request("POST", "/jobs/ingest", json={"object": "Account", "operation": "insert"}).json()
    raw.request("PATCH", f"/jobs/ingest/{job['id']}", json={"state": "Aborted"})

    deleted = raw.request("DELETE", f"/jobs/ingest/{job['id']}")
    after = raw.request("GET", f"/jobs/ingest/{job['id']}")

    assert deleted.status_code == 204
    assert after.status_code == 404
    assert after.json() == [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]


def test_aborted_job_does_not_process_its_data(raw: RawClient, sf: Salesforce) -> None:
    t = tag()
    job = raw.request("POST", "/jobs/ingest", json={"object": "Account", "operation": "insert"}).json()
    raw.request(
        "PUT",
        f"/jobs/ingest/{job['id']}/batches",
        data=f"Name\nAborted {t}\n",
        headers={"Content-Type": "text/csv"},
    )

    aborted = raw.request("PATCH", f"/jobs/ingest/{job['id']}", json={"state": "Aborted"})

    assert aborted.json()["state"] == "Aborted"
    assert query_rows(sf, f"SELECT Id FROM Account WHERE Name = 'Aborted {t}'") == []


def test_upsert_job_without_external_id_field_is_rejected(raw: RawClient) -> None:
    response = raw.request("POST", "/jobs/ingest", json={"object": "Account", "operation": "upsert"})

    assert response.status_code == 400
    [error] = response.json()
    assert error["errorCode"] == "INVALIDJOB"
    assert "External ID was blank for Account" in error["message"]


def test_job_for_unknown_object_is_rejected(raw: RawClient) -> None:
    response = raw.request("POST", "/jobs/ingest", json={"object": "Nope__c", "operation": "insert"})

    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALIDJOB"


def test_second_upload_to_a_job_is_rejected(raw: RawClient) -> None:
    job = raw.request("POST", "/jobs/ingest", json={"object": "Account", "operation": "insert"}).json()
    path = f"/jobs/ingest/{job['id']}/batches"
    raw.request("PUT", path, data="Name\na\n", headers={"Content-Type": "text/csv"})

    again = raw.request("PUT", path, data="Name\nb\n", headers={"Content-Type": "text/csv"})

    assert again.status_code == 400
    assert "Found multiple contents for job" in again.json()[0]["message"]


def test_semicolon_crlf_job_is_parsed_and_answered_in_its_own_format(raw: RawClient) -> None:
    t = tag()
    job = raw.request(
        "POST",
        "/jobs/ingest",
        json={
            "object": "Account",
            "operation": "insert",
            "columnDelimiter": "SEMICOLON",
            "lineEnding": "CRLF",
        },
    ).json()
    raw.request(
        "PUT",
        f"/jobs/ingest/{job['id']}/batches",
        data=f"Name;Phone\r\nSemi {t};555\r\n",
        headers={"Content-Type": "text/csv"},
    )
    raw.request("PATCH", f"/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    raw.wait_for(f"/jobs/ingest/{job['id']}")

    body = raw.request("GET", f"/jobs/ingest/{job['id']}/successfulResults").text

    header, line, end = body.split("\r\n")
    assert (header, end) == ('"sf__Id";"sf__Created";Name;Phone', "")
    assert line.endswith(f';"true";"Semi {t}";"555"')


# --- query ----------------------------------------------------------------------------------------


def test_query_pages_through_locators(sf: Salesforce, raw: RawClient) -> None:
    t = tag()
    sf.bulk2.Account.insert(records=[{"Name": f"Page {t} {i}"} for i in range(5)], wait=0)

    pages = list(
        sf.bulk2.Account.query(f"SELECT Name FROM Account WHERE Name LIKE 'Page {t}%'", max_records=2, wait=0)
    )

    assert [len(rows(p)) for p in pages] == [2, 2, 1]
    assert sorted(r["Name"] for p in pages for r in rows(p)) == [f"Page {t} {i}" for i in range(5)]


def test_query_results_carry_locator_and_record_count_headers(sf: Salesforce, raw: RawClient) -> None:
    t = tag()
    sf.bulk2.Account.insert(records=[{"Name": f"Hdr {t} {i}"} for i in range(3)], wait=0)
    job = raw.request(
        "POST",
        "/jobs/query",
        json={"operation": "query", "query": f"SELECT Id FROM Account WHERE Name LIKE 'Hdr {t}%'"},
    )
    info = raw.wait_for(f"/jobs/query/{job.json()['id']}")

    first = raw.request("GET", f"/jobs/query/{info['id']}/results", params={"maxRecords": 2})
    last = raw.request(
        "GET",
        f"/jobs/query/{info['id']}/results",
        params={"maxRecords": 2, "locator": first.headers["Sforce-Locator"]},
    )

    assert (job.json()["state"], info["numberRecordsProcessed"], info["jobType"]) == (
        "UploadComplete",
        3,
        "V2Query",
    )
    assert first.headers["Sforce-NumberOfRecords"] == "2"
    assert first.headers["Sforce-Locator"] != "null"
    assert (last.headers["Sforce-NumberOfRecords"], last.headers["Sforce-Locator"]) == ("1", "null")
    assert last.headers["Content-Type"].startswith("text/csv")


def test_query_csv_has_dotted_parents_empty_nulls_and_no_attributes(sf: Salesforce) -> None:
    t = tag()
    [acc] = sf.bulk2.Account.insert(records=[{"Name": f"Shape {t}", "SyncHub_Id__c": f"{t}-acc"}], wait=0)
    sf.bulk2.Contact.insert(records=[{"LastName": f"Shape {t}", "Account.SyncHub_Id__c": f"{t}-acc"}], wait=0)

    [page] = list(
        sf.bulk2.Contact.query(
            f"SELECT LastName, Email, IsDeleted, Account.Name FROM Contact WHERE LastName = 'Shape {t}'",
            wait=0,
        )
    )

    assert page.splitlines() == [
        '"LastName","Email","IsDeleted","Account.Name"',
        f'"Shape {t}",,"false","Shape {t}"',
    ]
    assert acc["numberRecordsFailed"] == 0


def test_bad_soql_in_query_job_answers_400(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        list(sf.bulk2.Account.query("SELECT NoSuchField__c FROM Account", wait=0))

    assert caught.value.status == 400
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_count_query_is_not_allowed_in_bulk(raw: RawClient) -> None:
    response = raw.request(
        "POST", "/jobs/query", json={"operation": "query", "query": "SELECT COUNT() FROM Account"}
    )

    assert response.status_code == 400
    assert "not supported in Bulk Query" in response.json()[0]["message"]


def test_query_job_list_includes_new_job(raw: RawClient) -> None:
    job = raw.request(
        "POST", "/jobs/query", json={"operation": "queryAll", "query": "SELECT Id FROM Account"}
    ).json()

    listed = raw.request("GET", "/jobs/query").json()

    assert listed["done"] is True
    assert job["id"] in {j["id"] for j in listed["records"]}
    assert job["operation"] == "queryAll"


def test_query_csv_writes_datetimes_in_utc_with_z(sf: Salesforce) -> None:
    t = tag()
    sf.bulk2.Account.insert(records=[{"Name": f"Stamp {t}"}], wait=0)

    [row] = query_rows(sf, f"SELECT CreatedDate, Owner.Id FROM Account WHERE Name = 'Stamp {t}'")

    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", row["CreatedDate"])
    assert row["Owner.Id"].startswith("005")
