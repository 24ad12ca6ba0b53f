"""The Salesforce connector against the Salesforce sandbox, over real HTTPS, only through its public surface.

Each test starts fresh sandboxes (``sandbox_factory``), which publish AIRFLOW_CONN_SYNCHUB_CRM; the
connector reaches them through the salesforce provider's SalesforceHook and simple-salesforce.
Tests change sandbox data directly (``org.update``) only to play the part of other users.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import time
from dataclasses import replace

import certifi
import pytest

from connectors.base import EntitySource, WriteRecord
from connectors.errors import AuthError, BudgetExhausted, ConfigError
from connectors.salesforce import SalesforceConnector, SalesforceSettings, soql_literal
from mdm.config import entity_source as load_entity_source
from mdm.entities import names as entity_names
from sandbox.faults import FaultConfig
from sandbox.seed import SeedOptions, write_seed

ENTITIES = entity_names()
SMALL = SeedOptions(seed=5, customers=40, products=8, orders=12)
# Tiny waits: tests must not sleep through Retry-After or bulk polling intervals.
FAST = {
    "bulk_poll_seconds": 0.05,
    "retry_initial_seconds": 0.001,
    "retry_max_seconds": 0.01,
    "retry_max_retry_after": 0.01,
}
OBJECTS = {"customer": "Account", "product": "Product2", "price": "PricebookEntry", "order": "Order"}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):
    """Seed data written once per module; each test loads it into fresh sandboxes (much faster)."""
    return write_seed(tmp_path_factory.mktemp("small"), SMALL)


@pytest.fixture(scope="module")
def paged(tmp_path_factory: pytest.TempPathFactory):
    """450 accounts: more than two REST pages of 200."""
    return write_seed(tmp_path_factory.mktemp("paged"), replace(SMALL, customers=450))


@functools.cache
def entity_source(entity: str) -> EntitySource:
    """The entity's definition from mappings/ (read once: the YAML loader is not free)."""
    return load_entity_source(entity)


def connect(**settings: object) -> SalesforceConnector:
    return SalesforceConnector.from_airflow("synchub_crm", SalesforceSettings(**{**FAST, **settings}))


def records_of(connector: SalesforceConnector, source: EntitySource, since: dt.datetime | None = None):
    return [r for page in connector.extract_changed(source, since) for r in page.records]


def watermark(connector: SalesforceConnector, source: EntitySource) -> dt.datetime:
    return max(p.max_stamp for p in connector.extract_changed(source, None) if p.max_stamp)


def accounts(n: int, prefix: str, **extra: object) -> list[WriteRecord]:
    return [
        WriteRecord(
            key=f"{prefix}{i}",
            fields={"Name": f"{prefix} Company {i}", "SyncHub_Id__c": f"{prefix}{i}", **extra},
        )
        for i in range(n)
    ]


def org_count(org, where: str) -> int:
    return org.run_query(f"SELECT COUNT() FROM Account WHERE {where}", include_deleted=False).total_size


def start_of_a_fresh_second() -> None:
    """Wait until early in a second, so the next few writes share one whole-second stamp."""
    fraction = time.time() % 1
    if fraction > 0.3:
        time.sleep(1.0 - fraction + 0.01)


# ---------------------------------------------------------------------------------------------- SOQL literals
@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("O'Brien", r"'O\'Brien'"),
        ("back\\slash", r"'back\\slash'"),
        ("line\nbreak\ttab", r"'line\nbreak\ttab'"),
        ('say "hi"', r"'say \"hi\"'"),
        ("x' OR Name != '", r"'x\' OR Name != \''"),
        (dt.datetime(2026, 11, 23, 10, 0, 0, 999, tzinfo=dt.UTC), "2026-11-23T10:00:00Z"),
        (dt.datetime(2026, 11, 23, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))), "2026-11-23T10:00:00Z"),
        (dt.date(2026, 11, 23), "2026-11-23"),
        (42, "42"),
        (1.5, "1.5"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
    ],
)
def test_soql_literal_quotes_and_escapes_values(value, literal):
    assert soql_literal(value) == literal


@pytest.mark.parametrize("value", [object(), ["a"], float("nan")])
def test_soql_literal_refuses_what_it_cannot_quote(value):
    with pytest.raises((TypeError, ValueError)):
        soql_literal(value)


# ---------------------------------------------------------------------------------------------- settings
def test_settings_are_read_from_connection_extras_by_name():
    settings = SalesforceSettings.from_extras(
        "synchub_crm",
        {
            "synchub_lookback_seconds": "60",
            "synchub_api_reserve_percent": "2%",
            "synchub_bulk_write_threshold": "",
            "synchub_unknown_knob": "ignored",
            "consumer_secret": "not a setting",
        },
    )
    assert settings.lookback_seconds == 60
    assert settings.api_reserve_percent == 2.0
    assert settings.bulk_write_threshold == SalesforceSettings().bulk_write_threshold


@pytest.mark.parametrize(
    ("extra", "value"), [("synchub_lookback_seconds", "five"), ("synchub_collection_size", "500")]
)
def test_a_bad_extra_fails_fast_naming_connection_and_extra(extra, value):
    with pytest.raises(ConfigError) as caught:
        SalesforceSettings.from_extras("synchub_crm", {extra: value})
    assert "synchub_crm" in str(caught.value)
    assert extra in str(caught.value)


# ---------------------------------------------------------------------------------------------- extraction
@pytest.mark.parametrize("entity", ["customer", "order"])
def test_records_read_by_id_are_the_ones_an_extraction_gives(sandbox_factory, entity, small):
    sandbox_factory(data_dir=small)
    connector = connect()
    source = entity_source(entity)
    extracted = {r.key: r for r in records_of(connector, source) if not r.is_deleted}
    keys = sorted(extracted)[:5]

    read = connector.read_keys(source, [*keys, "001000000000000AAA"])  # an Id the org does not have

    assert sorted(r.key for r in read) == keys
    for record in read:
        assert (record.payload, record.stamp) == (extracted[record.key].payload, extracted[record.key].stamp)


@pytest.mark.parametrize("entity", ENTITIES)
def test_full_extraction_returns_every_record_as_the_org_holds_it(sandbox_factory, entity, small):
    sandboxes = sandbox_factory(data_dir=small)
    source = entity_source(entity)
    obj = OBJECTS[entity]
    stored = {r["Id"]: r for r in sandboxes.org.live_records(obj, include_deleted=True)}

    extracted = records_of(connect(), source, None)

    assert sorted(r.key for r in extracted) == sorted(stored)
    for record in extracted:
        for name in source.salesforce.fields:
            if "." not in name:
                assert record.payload[name] == stored[record.key][name], name
        assert record.stamp.strftime("%Y-%m-%dT%H:%M:%S.000+0000") == stored[record.key]["SystemModstamp"]


def test_orders_carry_their_items_with_parent_paths(sandbox_factory, small):
    sandboxes = sandbox_factory(data_dir=small)
    items = sandboxes.org.live_records("OrderItem")
    products = {p["Id"]: p for p in sandboxes.org.live_records("Product2")}

    orders = records_of(connect(), entity_source("order"), None)

    for order in orders:
        expected = sorted(i["Id"] for i in items if i["OrderId"] == order.key)
        got = order.payload["OrderItems"]
        assert [i["Id"] for i in got] == expected
        for item in got:
            assert item["Product2.ProductCode"] == products[item["Product2Id"]]["ProductCode"]
    assert sum(len(o.payload["OrderItems"]) for o in orders) == len(items) > 0


@pytest.mark.parametrize("entity", ENTITIES)
def test_incremental_extraction_returns_what_changed_since_the_watermark(sandbox_factory, entity, small):
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect(lookback_seconds=0)
    source = entity_source(entity)
    obj = OBJECTS[entity]
    mark = watermark(connector, source)
    changed = sorted(sandboxes.org.live_records(obj), key=lambda r: r["Id"])[:2]
    change = {"Order": {"PoNumber": "PO-CHANGED"}, "PricebookEntry": {"IsActive": False}}.get(
        obj, {"Name": "Changed Name"}
    )
    for record in changed:
        sandboxes.org.update(obj, record["Id"], change)

    extracted = records_of(connector, source, mark)

    keys = {r.key for r in extracted}
    assert {r["Id"] for r in changed} <= keys
    assert all(r.stamp >= mark for r in extracted)
    assert len(keys) < len(sandboxes.org.live_records(obj))
    field, value = next(iter(change.items()))
    assert all(r.payload[field] == value for r in extracted if r.key in {c["Id"] for c in changed})


def test_a_change_in_the_same_second_as_the_watermark_is_not_lost(sandbox_factory, small):
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect(lookback_seconds=0)
    source = entity_source("customer")
    first, second = sorted(sandboxes.org.live_records("Account"), key=lambda r: r["Id"])[:2]
    for _ in range(3):
        start_of_a_fresh_second()
        sandboxes.org.update("Account", first["Id"], {"Phone": "+49 1"})
        mark = watermark(connector, source)  # the run that saw the first change
        sandboxes.org.update("Account", second["Id"], {"Phone": "+49 2"})  # same second, after that run
        stamps = {r["Id"]: r["SystemModstamp"] for r in sandboxes.org.live_records("Account")}
        if stamps[first["Id"]] == stamps[second["Id"]]:
            break
    else:
        pytest.fail("could not make two changes within one second")

    extracted = records_of(connector, source, mark)

    assert second["Id"] in {r.key for r in extracted}


def test_a_changed_order_item_brings_its_order_with_the_new_item(sandbox_factory, small):
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect(lookback_seconds=0)
    source = entity_source("order")
    mark = watermark(connector, source)
    time.sleep(1.05)  # the sandbox stamps whole seconds
    item = sandboxes.org.live_records("OrderItem")[0]
    sandboxes.org.update("OrderItem", item["Id"], {"Quantity": 777})

    extracted = records_of(connector, source, mark)

    order = next(r for r in extracted if r.key == item["OrderId"])
    assert {i["Id"]: i["Quantity"] for i in order.payload["OrderItems"]}[item["Id"]] == 777
    assert [r.key for r in extracted].count(item["OrderId"]) == 1


def test_deletes_are_seen_and_deleted_keys_leave_the_key_set(sandbox_factory, small):
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect(lookback_seconds=0)
    source = entity_source("customer")
    mark = watermark(connector, source)
    gone = sandboxes.org.live_records("Account")[3]["Id"]
    sandboxes.org.delete("Account", gone)

    changed = {r.key: r for r in records_of(connector, source, mark)}
    keys = [k for page in connector.extract_all_keys(source) for k in page]

    assert changed[gone].is_deleted
    assert gone not in keys
    assert sorted(keys) == sorted(r["Id"] for r in sandboxes.org.live_records("Account"))


def test_each_api_page_is_one_page_with_its_highest_stamp(sandbox_factory, paged):
    sandboxes = sandbox_factory(data_dir=paged)
    connector = connect(query_page_size=200)

    pages = list(connector.extract_changed(entity_source("customer"), None))

    total = len(sandboxes.org.live_records("Account", include_deleted=True))
    assert [len(p.records) for p in pages] == [200, 200, total - 400]
    assert all(p.max_stamp == max(r.stamp for r in p.records) for p in pages)
    assert [p.max_stamp for p in pages] == sorted(p.max_stamp for p in pages)
    assert connector.usage.by_operation["query_more"] == 2


@pytest.mark.parametrize("entity", ["customer", "order"])
def test_bulk_and_rest_extraction_yield_identical_records(sandbox_factory, entity, small):
    sandboxes = sandbox_factory(data_dir=small)
    source = entity_source(entity)
    sandboxes.org.delete(OBJECTS[entity], sandboxes.org.live_records(OBJECTS[entity])[0]["Id"])
    rest, bulk = connect(), connect(bulk_query_threshold=0, bulk_page_size=7)

    via_rest, via_bulk = records_of(rest, source), records_of(bulk, source)
    keys_rest = [k for page in rest.extract_all_keys(source) for k in page]
    keys_bulk = [k for page in bulk.extract_all_keys(source) for k in page]

    assert sorted(via_bulk, key=lambda r: r.key) == sorted(via_rest, key=lambda r: r.key)
    assert sorted(keys_bulk) == sorted(keys_rest)
    assert any(r.is_deleted for r in via_bulk)
    assert bulk.usage.by_operation["bulk_query"] > 0
    assert "bulk_query" not in rest.usage.by_operation


def test_bulk_queries_carry_no_order_by_and_their_pages_do_not_move_the_watermark_alone(
    sandbox_factory, paged
):
    """Issue 11, row 4: Bulk API 2.0 does not support ORDER BY; the sandbox refuses it as documented."""
    sandbox_factory(data_dir=paged)
    source = entity_source("customer")
    bulk = connect(bulk_query_threshold=10, bulk_page_size=100)
    since = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

    pages = list(bulk.extract_changed(source, since))
    rest_keys = sorted(r.key for r in records_of(connect(), source, since))

    assert bulk.usage.by_operation["bulk_query"] > 0
    assert sorted(r.key for p in pages for r in p.records) == rest_keys  # each record once
    assert len(pages) > 1 and not any(p.ordered for p in pages)
    # The old query: refused by the sandbox as Bulk API 2.0's SOQL considerations say.
    handler = bulk._client().bulk2.Account
    with pytest.raises(Exception, match="ORDER BY"):
        next(handler.query("SELECT Id FROM Account ORDER BY SystemModstamp, Id", max_records=100))
    rest_pages = list(connect(query_page_size=200).extract_changed(source, since))
    assert all(p.ordered for p in rest_pages)


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


# ---------------------------------------------------------------------------------------------- resilience
FLAKY = {"rate_429": 0.1, "rate_503": 0.1, "rate_timeout": 0.1}
PATIENT = {"request_timeout_seconds": 0.25, "retry_max_attempts": 12}


def test_extraction_under_injected_429s_503s_and_timeouts_is_identical(sandbox_factory, small):
    sandboxes = sandbox_factory(data_dir=small, crm_faults=FaultConfig(seed=11, timeout_seconds=0.6))
    sources = [entity_source(e) for e in ENTITIES]
    baseline = [records_of(connect(), s) for s in sources]
    bulk_baseline = records_of(connect(bulk_query_threshold=0, bulk_page_size=10), sources[0])

    sandboxes.crm_faults.update(**FLAKY)
    results = [records_of(connect(**PATIENT), s) for s in sources]
    bulk_results = records_of(connect(**PATIENT, bulk_query_threshold=0, bulk_page_size=10), sources[0])
    sandboxes.crm_faults.reset()

    assert all(sandboxes.crm_faults.injected[kind] > 0 for kind in ("429", "503", "timeout"))
    assert results == baseline
    assert bulk_results == bulk_baseline


def test_writes_under_injected_429s_503s_and_timeouts_have_identical_outcomes(sandbox_factory, small):
    sandboxes = sandbox_factory(data_dir=small, crm_faults=FaultConfig(seed=12, timeout_seconds=0.6))
    source = entity_source("customer")

    def write(prefix: str, **settings: object):
        collections = connect(**settings).write_batch(source, accounts(250, prefix, BillingCity="Ulm"))
        bulk = connect(**settings, bulk_write_threshold=5).write_batch(source, accounts(30, prefix + "B"))
        return [(o.status, o.error_code) for o in collections + bulk]

    clean = write("A")
    sandboxes.crm_faults.update(**FLAKY)
    flaky = write("Z", **PATIENT)
    sandboxes.crm_faults.reset()

    assert sum(sandboxes.crm_faults.injected.values()) >= 2, sandboxes.crm_faults.injected
    assert flaky == clean
    assert org_count(sandboxes.org, "SyncHub_Id__c LIKE 'Z%'") == 280
    assert org_count(sandboxes.org, "SyncHub_Id__c LIKE 'Z%' AND BillingCity = 'Ulm'") == 250


@pytest.mark.parametrize(
    ("data", "settings"),
    [
        ("paged", {"query_page_size": 200}),  # REST query pages
        ("small", {"bulk_query_threshold": 0, "bulk_page_size": 10}),  # the pages of a Bulk API 2.0 job
    ],
    ids=["rest", "bulk"],
)
def test_an_expired_session_is_refreshed_once_in_the_middle_of_an_extraction(
    sandbox_factory, request, data, settings
):
    sandboxes = sandbox_factory(data_dir=request.getfixturevalue(data))
    connector = connect(**settings)
    pages = connector.extract_changed(entity_source("customer"), None)

    first = next(pages)
    sandboxes.org.expire_sessions()
    rest = list(pages)

    assert len(first.records) + sum(len(p.records) for p in rest) == len(
        sandboxes.org.live_records("Account", include_deleted=True)
    )
    assert connector.usage.by_operation["login"] == 2


def test_a_session_that_stays_invalid_after_a_fresh_login_is_an_auth_error(sandbox_factory, small):
    sandboxes = sandbox_factory(data_dir=small, crm_faults=FaultConfig(rate_expired_session=1.0))
    connector = connect()

    with pytest.raises(AuthError) as caught:
        records_of(connector, entity_source("customer"))

    assert caught.value.remote_code == "INVALID_SESSION_ID"
    assert connector.usage.by_operation["login"] == 2
    assert sandboxes.org.password not in str(caught.value)
    assert "!" not in str(caught.value)  # no session id (<org id>!<token>)


def test_the_run_stops_before_spending_the_api_reserve(sandbox_factory, small):
    sandboxes = sandbox_factory(data_dir=small, daily_api_limit=30)
    connector = connect(api_reserve_calls=5)

    with pytest.raises(BudgetExhausted) as caught:
        for _ in range(30):
            records_of(connector, entity_source("customer"))

    assert "Salesforce API budget: 25 of 30 daily calls used; reserve of 5 reached - stopping before" in str(
        caught.value
    )
    assert sandboxes.org.api_usage() == (25, 30)


def test_the_org_refusing_more_calls_stops_the_run_with_its_message(sandbox_factory, small):
    sandbox_factory(data_dir=small, daily_api_limit=8)
    source = entity_source("product")
    ours, other_integration = connect(api_reserve_calls=0), connect(api_reserve_calls=0)
    list(ours.extract_all_keys(source))  # ours last saw 2 of 8 calls used
    with pytest.raises(BudgetExhausted):
        while True:
            list(other_integration.extract_all_keys(source))

    with pytest.raises(BudgetExhausted) as caught:
        list(ours.extract_all_keys(source))

    assert caught.value.remote_code == "REQUEST_LIMIT_EXCEEDED"
    assert "TotalRequests Limit exceeded." in str(caught.value)


# ---------------------------------------------------------------------------------------------- safety
def test_a_soql_injection_attempt_in_an_external_id_is_harmless(sandbox_factory, small):
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    source = entity_source("customer")
    sneaky = "x' OR Name != '"
    written = connector.write_batch(source, [WriteRecord("S", {"Name": "Sneaky", "SyncHub_Id__c": sneaky})])

    found = connector.keys_for_external_ids(source, [sneaky])
    nothing = connector.keys_for_external_ids(source, ["nope' OR Name != '", "a\\' OR Name != '"])

    assert found == {sneaky: written[0].remote_key}
    assert nothing == {}
    assert len(sandboxes.org.live_records("Account")) > 1


def test_a_client_credentials_connection_without_user_or_password_reads_and_writes(
    sandbox_factory, monkeypatch, small
):
    """Issue 11, row 9: the OAuth client-credentials flow (a connected app with a run-as user), which
    Salesforce recommends over the username-password flow it is retiring, works through the
    provider's SalesforceHook: no login and no password in the connection."""
    sandboxes = sandbox_factory(data_dir=small)
    connection = sandboxes.crm_connection()
    del connection["login"], connection["password"]
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_CRM_CC", json.dumps(connection))
    connector = SalesforceConnector.from_airflow("synchub_crm_cc", SalesforceSettings(**FAST))

    read = records_of(connector, entity_source("customer"))
    assert read == records_of(connect(), entity_source("customer"))  # as the password flow reads
    [written] = connector.write_batch(entity_source("customer"), accounts(1, "CC"))
    assert written.status == "created"


def test_a_failed_login_names_the_connection_but_not_the_password(sandbox_factory, monkeypatch, small):
    sandboxes = sandbox_factory(data_dir=small)
    connection = sandboxes.crm_connection()
    connection["password"] = "Wr0ng-Secret-Passw0rd"
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_CRM_BAD", json.dumps(connection))
    connector = SalesforceConnector.from_airflow("synchub_crm_bad", SalesforceSettings(**FAST))

    with pytest.raises(AuthError) as caught:
        records_of(connector, entity_source("customer"))

    assert "synchub_crm_bad" in str(caught.value)
    assert "Wr0ng-Secret-Passw0rd" not in str(caught.value)
    assert sandboxes.org.consumer_secret not in str(caught.value)


def test_a_mapping_naming_a_missing_field_is_a_config_error_without_secrets(sandbox_factory, small):
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    source = entity_source("customer")
    broken = replace(source, salesforce=replace(source.salesforce, fields=("Name", "No_Such_Field__c")))

    with pytest.raises(ConfigError) as caught:
        records_of(connector, broken)

    assert caught.value.remote_code == "INVALID_FIELD"
    assert "No_Such_Field__c" in str(caught.value)
    assert sandboxes.org.password not in str(caught.value)
    assert connector.transport.secrets and not any(
        s in str(caught.value) for s in connector.transport.secrets
    )


def test_an_explicit_ca_from_the_connection_wins_over_the_environment(sandbox_factory, monkeypatch, small):
    sandboxes = sandbox_factory(data_dir=small)
    connection = sandboxes.crm_connection()
    connection["extra"]["synchub_ca_bundle"] = str(sandboxes.tls.ca_cert)
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_CRM_CA", json.dumps(connection))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())  # public CAs only: would fail verification

    connector = SalesforceConnector.from_airflow("synchub_crm_ca")

    assert connector.settings.ca_bundle == str(sandboxes.tls.ca_cert)
    assert len(list(connector.extract_all_keys(entity_source("product")))) == 1


# ---------------------------------------------------------------------------------------------- check
def test_check_passes_for_every_mapped_entity(sandbox_factory, small):
    sandbox_factory(data_dir=small)

    results = connect().check([entity_source(e) for e in ENTITIES])

    assert [r.check for r in results if not r.ok] == []
    assert {r.check for r in results} >= {"auth", "reachability", *(f"fields:{e}" for e in ENTITIES)}
    assert "create-only" in next(r.detail for r in results if r.check == "writable:price")


def test_check_names_missing_and_unwritable_fields(sandbox_factory, small):
    sandbox_factory(data_dir=small)
    source = entity_source("customer")
    broken = replace(
        source,
        salesforce=replace(
            source.salesforce,
            fields=("Name", "Parent.No_Such__c", "VAT_Numbr__c"),
            external_id="VAT_Number__c",
            writable=("Name", "CreatedDate"),
        ),
    )

    results = {r.check: r for r in connect().check([broken])}

    assert not results["fields:customer"].ok
    assert "Account.Parent.No_Such__c" in results["fields:customer"].detail
    assert "Account.VAT_Numbr__c does not exist" in results["fields:customer"].detail
    assert "Account.VAT_Number__c is not an External ID field" in results["fields:customer"].detail
    assert not results["writable:customer"].ok
    assert "Account.CreatedDate" in results["writable:customer"].detail


def test_check_reports_a_failed_login_as_a_verdict(sandbox_factory, monkeypatch, small):
    sandboxes = sandbox_factory(data_dir=small)
    connection = sandboxes.crm_connection()
    connection["password"] = "not-the-password"
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_CRM_BAD", json.dumps(connection))

    results = SalesforceConnector.from_airflow("synchub_crm_bad", SalesforceSettings(**FAST)).check([])

    assert [(r.check, r.ok) for r in results] == [("auth", False)]
    assert "not-the-password" not in results[0].detail
