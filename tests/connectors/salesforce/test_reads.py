"""The Salesforce connector's SOQL literals, settings and extraction against the Salesforce sandbox over
real HTTPS, only through its public surface.

Each test starts fresh sandboxes (``sandbox_factory``), which publish AIRFLOW_CONN_SYNCHUB_CRM; the
connector reaches them through the salesforce provider's SalesforceHook and simple-salesforce.
Tests change sandbox data directly (``org.update``) only to play the part of other users.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest

from connectors.errors import ConfigError
from connectors.salesforce import SalesforceSettings, soql_literal
from tests.connectors.salesforce.kit import (
    ENTITIES,
    OBJECTS,
    connect,
    entity_source,
    records_of,
    start_of_a_fresh_second,
    watermark,
)


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
