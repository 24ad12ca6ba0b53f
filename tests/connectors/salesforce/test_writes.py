"""The Salesforce connector's writes (sObject Collections and Bulk API 2.0, per-record outcomes, reruns)
against the Salesforce sandbox over real HTTPS."""

from __future__ import annotations

import math

import pytest

from connectors.base import WriteRecord
from tests.connectors.salesforce.kit import accounts, connect, entity_source, org_count


# ---------------------------------------------------------------------------------------------- writes
@pytest.mark.parametrize("size", [1, 199, 200, 201])
def test_writes_below_the_bulk_threshold_use_collections_of_200(sandbox_factory, size, small):
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()

    outcomes = connector.write_batch(entity_source("customer"), accounts(size, "W"))

    assert [o.key for o in outcomes] == [f"W{i}" for i in range(size)]
    assert {o.status for o in outcomes} == {"created"}
    assert connector.usage.by_operation["collections_upsert"] == math.ceil(size / 200)
    assert org_count(sandboxes.org, "SyncHub_Id__c LIKE 'W%'") == size


def test_invalid_records_fail_alone_with_salesforce_error_codes(sandbox_factory, small):
    sandboxes = sandbox_factory(data_dir=small)
    records = accounts(201, "V")
    records[5].fields["Name"] = "N" * 256
    del records[7].fields["Name"]
    records[9].fields["NumberOfEmployees"] = "many"  # JSON could not deserialize it: checked per record
    del records[11].fields["SyncHub_Id__c"]

    outcomes = connect().write_batch(entity_source("customer"), records)

    failed = {o.key: o.error_code for o in outcomes if o.status == "failed"}
    assert failed == {
        "V5": "STRING_TOO_LONG",
        "V7": "REQUIRED_FIELD_MISSING",
        "V9": "INVALID_TYPE_ON_FIELD_IN_RECORD",
        "V11": "MISSING_EXTERNAL_ID",
    }
    assert all(o.error_message for o in outcomes if o.status == "failed")
    assert org_count(sandboxes.org, "SyncHub_Id__c LIKE 'V%'") == 197


def test_collections_cost_at_most_6_calls_per_1000_records_and_a_rerun_makes_no_duplicates(
    sandbox_factory, small
):
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    records = accounts(1_999, "C", BillingCity="Berlin")

    first = connector.write_batch(entity_source("customer"), records)
    calls = connector.usage.by_operation["collections_upsert"]
    again = connector.write_batch(entity_source("customer"), records)

    assert calls * 1000 / len(records) <= 6
    assert "bulk_ingest" not in connector.usage.by_operation
    assert {o.status for o in first} == {"created"}
    assert {o.status for o in again} == {"updated"}
    assert [o.remote_key for o in again] == [o.remote_key for o in first]
    assert org_count(sandboxes.org, "SyncHub_Id__c LIKE 'C%'") == 1_999


def test_5000_records_go_through_one_bulk_job_with_an_outcome_each(sandbox_factory, small):
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect(bulk_poll_seconds=1.0)  # few polls: each is an API call
    records = accounts(5_000, "B", BillingCity=None)
    records[10].fields["Name"] = "N" * 256
    del records[20].fields["Name"]

    outcomes = connector.write_batch(entity_source("customer"), records)
    calls = connector.usage.by_operation["bulk_ingest"]
    again = connector.write_batch(entity_source("customer"), records)

    assert "collections_upsert" not in connector.usage.by_operation
    assert calls <= 10, calls  # create, upload, close, polls, job info, result files
    assert [o.key for o in outcomes] == [r.key for r in records]
    assert (outcomes[10].status, outcomes[10].error_code) == ("failed", "STRING_TOO_LONG")
    assert (outcomes[20].status, outcomes[20].error_code) == ("failed", "REQUIRED_FIELD_MISSING")
    assert sum(o.status == "created" for o in outcomes) == 4_998
    assert sum(o.status == "updated" for o in again) == 4_998
    assert org_count(sandboxes.org, "SyncHub_Id__c LIKE 'B%'") == 4_998


def test_a_failed_bulk_job_gives_every_record_a_failed_outcome(sandbox_factory, small):
    sandbox_factory(data_dir=small)
    records = accounts(5, "F", No_Such_Field__c="x")

    outcomes = connect(bulk_write_threshold=2).write_batch(entity_source("customer"), records)

    assert [(o.key, o.status, o.error_code) for o in outcomes] == [
        (r.key, "failed", "BULK_JOB_FAILED") for r in records
    ]
    assert all("No_Such_Field__c" in o.error_message for o in outcomes)


def test_records_equal_to_what_the_org_holds_are_unchanged_and_cost_no_call(sandbox_factory, small):
    sandbox_factory(data_dir=small)
    connector = connect()
    fields = {"Name": "Same", "SyncHub_Id__c": "U1"}
    record = WriteRecord(key="U1", fields=fields, remote_key="001x", expected={**fields, "Phone": None})

    outcomes = connector.write_batch(entity_source("customer"), [record])

    assert outcomes[0].status == "unchanged"
    assert connector.usage.calls == 0


def test_a_known_record_is_updated_without_its_create_only_fields(sandbox_factory, small):
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    entry = sandboxes.org.live_records("PricebookEntry")[0]
    fields = {
        "Pricebook2Id": entry["Pricebook2Id"],
        "Product2Id": entry["Product2Id"],
        "UnitPrice": 99.5,
        "SyncHub_Id__c": "P1",
    }
    sandboxes.org.update("PricebookEntry", entry["Id"], {"SyncHub_Id__c": "P1"})

    blind = connector.write_batch(entity_source("price"), [WriteRecord("P1", fields)])
    known = connector.write_batch(entity_source("price"), [WriteRecord("P1", fields, remote_key=entry["Id"])])

    assert blind[0].error_code == "INVALID_FIELD_FOR_INSERT_UPDATE"  # what the org says about Product2Id
    assert (known[0].status, known[0].remote_key) == ("updated", entry["Id"])
    assert (
        next(r for r in sandboxes.org.live_records("PricebookEntry") if r["Id"] == entry["Id"])["UnitPrice"]
        == 99.5
    )


def test_known_records_are_updated_by_id_through_collections_update_not_an_upsert_on_id(
    sandbox_factory, small
):
    """Issue 11, row 1: sObject Collections upsert keys on external ids only; the sandbox refuses Id."""
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    account = sandboxes.org.live_records("Account")[0]
    record = WriteRecord("K1", {"Name": "Renamed By Id", "SyncHub_Id__c": "K1"}, remote_key=account["Id"])

    [outcome] = connector.write_batch(entity_source("customer"), [record])

    assert (outcome.status, outcome.remote_key) == ("updated", account["Id"])
    assert connector.usage.by_operation["collections_update"] == 1
    assert "collections_upsert" not in connector.usage.by_operation
    stored = next(r for r in sandboxes.org.live_records("Account") if r["Id"] == account["Id"])
    assert (stored["Name"], stored["SyncHub_Id__c"]) == ("Renamed By Id", "K1")
    # What the old code sent: the sandbox, like the real API, refuses an upsert keyed on Id.
    body = {"allOrNone": False, "records": [{"attributes": {"type": "Account"}, "Id": account["Id"]}]}
    with pytest.raises(Exception, match="Only external ids"):
        connector._client().restful("composite/sobjects/Account/Id", method="PATCH", json=body)
