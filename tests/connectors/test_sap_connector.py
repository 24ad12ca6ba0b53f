"""The SAP connector against the SAP sandbox over real HTTPS, driven only through its public surface.

Each test starts fresh sandboxes (``sandbox_factory``), which publish AIRFLOW_CONN_SYNCHUB_ERP; the
connector is built from that connection exactly as a DAG task builds it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import certifi
import pytest
import requests
from requests.adapters import HTTPAdapter

from connectors.base import EntitySource, WriteRecord
from connectors.errors import AuthError, ConfigError, RetryPolicy
from connectors.sap import SapConnector, SapSettings
from mdm.config import entity_source
from sandbox.datadir import write_data_dir
from sandbox.faults import FaultConfig
from sandbox.sap.model import find_set
from sandbox.seed import SeedOptions, generate

FAST_RETRY = RetryPolicy(max_attempts=8, initial_seconds=0.01, max_seconds=0.05, max_retry_after=0.05)
SETTINGS = SapSettings(retry=FAST_RETRY, look_back=dt.timedelta(0))
SMALL = SeedOptions(seed=7, customers=25, products=6, orders=6)

CUSTOMER = entity_source("customer")
PRODUCT = entity_source("product")
PRICE = entity_source("price")
ORDER = entity_source("order")

PARTNERS = find_set("A_BusinessPartner")
ADDRESSES = find_set("A_BusinessPartnerAddress")
PRODUCTS = find_set("A_Product")
ORDERS = find_set("A_SalesOrder")
CONDITIONS = find_set("A_SlsPrcgConditionRecord")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SMALL seed as a data folder: generated once, loaded by each test's fresh sandboxes."""
    directory = tmp_path_factory.mktemp("sap-small")
    write_data_dir(directory, generate(SMALL)[0])
    return directory


def fake_connection(monkeypatch: pytest.MonkeyPatch, **extra: object) -> None:
    """An ERP connection that is only parsed, never called."""
    connection = {
        "conn_type": "http",
        "host": "127.0.0.1",
        "port": 1,
        "schema": "https",
        "login": "SYNCHUB",
        "password": "secret-pw",
        "extra": {"sap-client": "100", "synchub_ca_bundle": certifi.where(), **extra},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_ERP", json.dumps(connection))


def connect(**changes: object) -> SapConnector:
    return SapConnector.from_airflow(settings=replace(SETTINGS, **changes))


def read_all(connector: SapConnector, entity: EntitySource, since: dt.datetime | None = None) -> dict:
    return {r.key: r for page in connector.extract_changed(entity, since) for r in page.records}


def partner(key: str, name: str | None = None) -> WriteRecord:
    return WriteRecord(
        key,
        {
            "BusinessPartnerCategory": "2",
            "BusinessPartnerGrouping": "BP02",
            "OrganizationBPName1": name if name is not None else f"Company {key}",
            "Language": "EN",
            "to_BusinessPartnerAddress": [
                {"StreetName": "Hauptstraße", "HouseNumber": "1", "PostalCode": "10115", "CityName": "Berlin",
                 "Country": "DE"}
            ],
            "to_BusinessPartnerRole": [{"BusinessPartnerRole": "FLCU01"}],
        },
    )  # fmt: skip


def sales_order(key: str, sold_to: str, material: str) -> WriteRecord:
    return WriteRecord(
        key,
        {
            "SalesOrderType": "OR",
            "SalesOrganization": "1010",
            "DistributionChannel": "10",
            "OrganizationDivision": "00",
            "SoldToParty": sold_to,
            "PurchaseOrderByCustomer": f"PO-{key}",
            "TransactionCurrency": "EUR",
            "to_Item": [
                {"Material": material, "RequestedQuantity": Decimal("2"), "RequestedQuantityUnit": "EA"}
            ],
        },
    )


def partners_with_ext_id(sandboxes, ext_id: str) -> list[dict]:
    return [p for p in sandboxes.sap.records(PARTNERS) if p.get("BusinessPartnerIDByExtSystem") == ext_id]


# ---------------------------------------------------------------------------------------------- reads


def test_full_extraction_reads_every_mapped_entity_with_its_children(sandbox_factory, small) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    customers, products = read_all(connector, CUSTOMER), read_all(connector, PRODUCT)
    prices, orders = read_all(connector, PRICE), read_all(connector, ORDER)

    organisations = [p for p in sandboxes.sap.records(PARTNERS) if p["BusinessPartnerCategory"] == "2"]
    assert set(customers) == {p["BusinessPartner"] for p in organisations}
    assert len(products) == sandboxes.sap.count(PRODUCTS)
    assert len(orders) == sandboxes.sap.count(ORDERS)
    pr00 = [c for c in sandboxes.sap.records(CONDITIONS) if c["ConditionType"] == "PR00"]
    assert set(prices) == {c["ConditionRecord"] for c in pr00}

    customer = next(r for r in customers.values() if r.payload["to_BusinessPartnerAddress"])
    address = customer.payload["to_BusinessPartnerAddress"][0]
    assert {"to_EmailAddress", "to_PhoneNumber"} <= set(address)
    assert isinstance(customer.payload["to_BusinessPartnerRole"], list)
    assert isinstance(customer.payload["to_Customer"], dict)
    # Only what was expanded: a deferred navigation is absent, not an empty list.
    assert "to_Supplier" not in customer.payload and "to_BuPaIndustry" not in customer.payload
    assert "to_CustomerCompany" not in customer.payload["to_Customer"]
    # A nested expand (to_Customer/to_CustomerSalesArea) comes as a list below its parent.
    areas = customer.payload["to_Customer"]["to_CustomerSalesArea"]
    assert isinstance(areas, list) and {a["Customer"] for a in areas} == {customer.payload["Customer"]}
    assert all(r.payload["to_Description"] for r in products.values())
    assert all(r.payload["to_SlsPrcgCndnRecdValidity"] for r in prices.values())
    assert all(r.payload["to_Item"] for r in orders.values())
    for records in (customers, products, prices, orders):
        json.dumps([r.payload for r in records.values()])  # plain JSON values only, no proxies


def test_values_are_normalised_dates_times_and_decimals(sandbox_factory, small) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    stored = sandboxes.sap.records(PARTNERS)[0]
    record = read_all(connector, CUSTOMER)[stored["BusinessPartner"]]
    assert record.payload["LastChangeDate"] == stored["LastChangeDate"].date().isoformat()
    assert record.payload["LastChangeTime"] == stored["LastChangeTime"].strftime("%H:%M:%S")
    expected_stamp = dt.datetime.combine(
        stored["LastChangeDate"].date(), stored["LastChangeTime"], tzinfo=dt.UTC
    )
    assert record.stamp == expected_stamp

    order = sandboxes.sap.records(ORDERS)[0]
    payload = read_all(connector, ORDER)[order["SalesOrder"]].payload
    assert payload["TotalNetAmount"] == format(order["TotalNetAmount"].quantize(Decimal("0.001")), "f")
    assert dt.datetime.fromisoformat(payload["LastChangeDateTime"]) == order["LastChangeDateTime"]
    assert payload["__etag"].startswith('W/"')


def test_server_paging_gives_one_page_per_server_page(sandbox_factory, small) -> None:
    sandbox_factory(data_dir=small, page_size=7)
    connector = connect()
    pages = list(connector.extract_changed(PRODUCT, None))
    assert [len(p.records) for p in pages] == [6]
    pages = list(connector.extract_changed(CUSTOMER, None))
    assert all(len(p.records) <= 7 for p in pages) and len(pages) >= 3
    assert connector.usage.by_operation["read_next"] == len(pages) - 1
    assert pages[0].max_stamp == max(r.stamp for r in pages[0].records)


def test_client_page_size_windows_with_top_and_skip(sandbox_factory, small) -> None:
    sandbox_factory(data_dir=small, page_size=1000)
    connector = connect(page_size=10)
    pages = list(connector.extract_all_keys(CUSTOMER))
    keys = [k for page in pages for k in page]
    assert [len(p) for p in pages[:-1]] == [10] * (len(pages) - 1)
    assert (
        sorted(keys)
        == sorted(set(keys))
        == sorted(k for page in connect().extract_all_keys(CUSTOMER) for k in page)
    )


def test_without_server_paging_the_connector_pages_itself_by_default(sandbox_factory, small) -> None:
    """Issue 11, row 6: many on-premise gateways page nothing on the server side (the sandbox's default
    mode); the connector's own $top/$skip windows, on by default, keep each response bounded."""
    sandboxes = sandbox_factory(data_dir=small)  # page_size 0: no __next, ever
    assert sandboxes.sap.page_size == 0
    assert SapSettings().page_size == 1000
    whole = connect(page_size=None)
    [one_response] = list(whole.extract_all_keys(CUSTOMER))  # what an unbounded read gets: everything
    windowed = connect(page_size=7)
    pages = list(windowed.extract_all_keys(CUSTOMER))
    assert [len(p) for p in pages[:-1]] == [7] * (len(pages) - 1) and len(pages[-1]) <= 7
    assert sorted(k for p in pages for k in p) == sorted(one_response)
    assert "read_next" not in windowed.usage.by_operation


@pytest.mark.parametrize(
    ("entity", "entity_set", "key_name", "change"),
    [
        (CUSTOMER, PARTNERS, "BusinessPartner", {"OrganizationBPName2": "Changed"}),
        (PRODUCT, PRODUCTS, "Product", {"ProductGroup": "L009"}),
        (ORDER, ORDERS, "SalesOrder", {"PurchaseOrderByCustomer": "CHANGED"}),
    ],
)
def test_incremental_extraction_returns_only_what_changed_since(
    sandbox_factory, small, entity, entity_set, key_name, change
) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    target = sandboxes.sap.records(entity_set)[-1]
    if entity is CUSTOMER:
        target = next(p for p in sandboxes.sap.records(PARTNERS) if p["BusinessPartnerCategory"] == "2")
    since = (dt.datetime.now(dt.UTC) + dt.timedelta(days=400)).replace(microsecond=0)
    sandboxes.sap.clock = lambda: since + dt.timedelta(seconds=1)
    sandboxes.sap.update(entity_set, {key_name: target[key_name]}, change, user="OUTSIDE", if_match="*")

    changed = read_all(connector, entity, since)
    assert list(changed) == [target[key_name]]
    assert changed[target[key_name]].stamp == since + dt.timedelta(seconds=1)


def test_condition_records_are_always_read_in_full(sandbox_factory, small) -> None:
    sandbox_factory(data_dir=small)
    connector = connect()
    assert read_all(connector, PRICE, dt.datetime.now(dt.UTC)) == read_all(connector, PRICE) != {}


def test_a_change_in_the_same_second_as_the_watermark_is_not_lost(sandbox_factory, small) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    first, second = [p["BusinessPartner"] for p in sandboxes.sap.records(PARTNERS)
                      if p["BusinessPartnerCategory"] == "2"][:2]  # fmt: skip
    moment = dt.datetime(2030, 1, 1, 10, 0, 5, 300_000, tzinfo=dt.UTC)
    sandboxes.sap.clock = lambda: moment
    sandboxes.sap.update(PARTNERS, {"BusinessPartner": first}, {"SearchTerm2": "A"}, user="OUTSIDE")
    watermark = max(p.max_stamp for p in connector.extract_changed(CUSTOMER, moment - dt.timedelta(hours=1)))
    assert watermark == dt.datetime(2030, 1, 1, 10, 0, 5, tzinfo=dt.UTC)  # SAP's stamp has whole seconds

    sandboxes.sap.clock = lambda: moment + dt.timedelta(milliseconds=500)  # same second, after the read
    sandboxes.sap.update(PARTNERS, {"BusinessPartner": second}, {"SearchTerm2": "B"}, user="OUTSIDE")
    assert second in read_all(connector, CUSTOMER, watermark)


def test_look_back_overlap_reaches_before_the_watermark(sandbox_factory, small) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    moment = dt.datetime(2030, 1, 1, 10, 0, 0, tzinfo=dt.UTC)
    sandboxes.sap.clock = lambda: moment
    number = sandboxes.sap.records(ORDERS)[0]["SalesOrder"]
    sandboxes.sap.update(
        ORDERS, {"SalesOrder": number}, {"PurchaseOrderByCustomer": "X"}, user="OUTSIDE", if_match="*"
    )
    since = moment + dt.timedelta(minutes=2)  # e.g. SAP's clock runs two minutes behind ours
    assert read_all(connect(), ORDER, since) == {}
    assert list(read_all(connect(look_back=dt.timedelta(minutes=5)), ORDER, since)) == [number]


def test_an_address_only_change_is_missed_by_incremental_reads_and_caught_by_a_full_read(
    sandbox_factory,
    small,
) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    before = read_all(connector, CUSTOMER)
    address = next(a for a in sandboxes.sap.records(ADDRESSES) if a["BusinessPartner"] in before)
    watermark = dt.datetime.now(dt.UTC)
    sandboxes.sap.update(
        ADDRESSES,
        {"BusinessPartner": address["BusinessPartner"], "AddressID": address["AddressID"]},
        {"StreetName": "Neue Straße"},
        user="OUTSIDE",
    )

    assert address["BusinessPartner"] not in read_all(connector, CUSTOMER, watermark)
    after = read_all(connector, CUSTOMER)[address["BusinessPartner"]]
    assert after.payload != before[address["BusinessPartner"]].payload
    assert after.stamp == before[address["BusinessPartner"]].stamp  # the partner's stamp did not move
    assert after.payload["to_BusinessPartnerAddress"][0]["StreetName"] == "Neue Straße"


def test_deletes_show_as_keys_missing_from_the_live_key_set(sandbox_factory, small) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    partners_before = {k for page in connector.extract_all_keys(CUSTOMER) for k in page}
    orders_before = {k for page in connector.extract_all_keys(ORDER) for k in page}
    gone_order = sorted(orders_before)[0]
    sandboxes.sap.delete(ORDERS, {"SalesOrder": gone_order}, user="OUTSIDE", if_match="*")
    # S/4 removes business partners only by archiving, which the OData API (and so the sandbox's
    # public surface) does not offer; remove one the way archiving does.
    gone_partner = sorted(partners_before)[0]
    with sandboxes.sap.transaction():
        sandboxes.sap._delete_tree(PARTNERS, sandboxes.sap.get(PARTNERS, {"BusinessPartner": gone_partner}))

    assert {k for page in connector.extract_all_keys(ORDER) for k in page} == orders_before - {gone_order}
    assert {k for page in connector.extract_all_keys(CUSTOMER) for k in page} == partners_before - {
        gone_partner
    }


def test_an_unknown_property_in_a_filter_is_a_config_error_naming_the_set(sandbox_factory, small) -> None:
    sandbox_factory(data_dir=small)
    broken = replace(CUSTOMER, sap=replace(CUSTOMER.sap, filter="NoSuchField eq 'x'"))
    with pytest.raises(ConfigError) as info:
        list(connect().extract_changed(broken, None))
    assert "A_BusinessPartner" in str(info.value) and "NoSuchField" in str(info.value)


# ---------------------------------------------------------------------------------------------- writes


def test_partners_are_created_by_deep_insert_with_the_idempotency_key(sandbox_factory, small) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    [outcome] = connector.write_batch(CUSTOMER, [partner("SH-C-1", "Müller & Söhne")])
    assert outcome.status == "created"
    stored = sandboxes.sap.get(PARTNERS, {"BusinessPartner": outcome.remote_key})
    assert stored["OrganizationBPName1"] == "Müller & Söhne"
    assert stored["BusinessPartnerIDByExtSystem"] == "SH-C-1"
    payload = read_all(connector, CUSTOMER)[outcome.remote_key].payload
    assert payload["to_BusinessPartnerAddress"][0]["StreetName"] == "Hauptstraße"
    # The FLCU01 role made the customer, numbered from the customers' own range (CVI without "same
    # numbers"): the partner names it in Customer.
    assert payload["to_Customer"]["Customer"] == payload["Customer"] == stored["Customer"]
    assert payload["Customer"] != outcome.remote_key
    assert connector.usage.by_operation["batch"] == 1


def test_new_phones_and_emails_carry_person_and_ordinal_number_as_the_metadata_keys_them(
    sandbox_factory, small
) -> None:
    # Issue 11, row 8: the sandbox, like systems that assign nothing, refuses them without their keys.
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    record = partner("SH-C-9", "Kappa AG")
    address = record.fields["to_BusinessPartnerAddress"][0]
    address["to_PhoneNumber"] = [{"PhoneNumber": "030 1234", "DestinationLocationCountry": "DE"}]
    address["to_EmailAddress"] = [{"EmailAddress": "a@kappa.example"}, {"EmailAddress": "b@kappa.example"}]
    [outcome] = connector.write_batch(CUSTOMER, [record])
    assert outcome.status == "created", outcome.error_message
    stored = read_all(connector, CUSTOMER)[outcome.remote_key].payload["to_BusinessPartnerAddress"][0]
    assert [(p["Person"], p["OrdinalNumber"]) for p in stored["to_PhoneNumber"]] == [("", "1")]
    assert [(e["Person"], e["OrdinalNumber"]) for e in stored["to_EmailAddress"]] == [("", "1"), ("", "2")]

    # A new e-mail under the existing address is numbered after the ones SAP holds.
    current = read_all(connector, CUSTOMER)[outcome.remote_key]
    more = {
        "to_BusinessPartnerAddress": [
            {"to_EmailAddress": [*stored["to_EmailAddress"], {"EmailAddress": "c@kappa.example"}]}
        ]
    }
    [update] = connector.write_batch(
        CUSTOMER, [WriteRecord("SH-C-9", more, remote_key=outcome.remote_key, expected=current.payload)]
    )
    assert update.status == "updated", update.error_message
    stored = read_all(connector, CUSTOMER)[outcome.remote_key].payload["to_BusinessPartnerAddress"][0]
    assert sorted(e["OrdinalNumber"] for e in stored["to_EmailAddress"]) == ["1", "2", "3"]
    assert sandboxes.sap.count(PARTNERS) > 0


def test_records_are_read_back_by_key_as_an_extraction_gives_them(sandbox_factory, small) -> None:
    sandbox_factory(data_dir=small)
    connector = connect()
    outcomes = connector.write_batch(CUSTOMER, [partner("SH-C-1", "Acme AG"), partner("SH-C-2", "Beta SA")])
    keys = [o.remote_key for o in outcomes]
    extracted = read_all(connector, CUSTOMER)
    calls = connector.usage.calls

    read = connector.read_keys(CUSTOMER, [*keys, "99999999"])  # a key SAP does not have is absent

    assert sorted(r.key for r in read) == sorted(keys)
    for record in read:
        assert record.payload == extracted[record.key].payload and record.stamp == extracted[record.key].stamp
        assert (
            record.payload["Customer"]
            and record.payload["to_Customer"]["Customer"] == record.payload["Customer"]
        )
    assert connector.usage.calls - calls == 1  # one $filter for up to 50 keys


def test_sales_orders_are_created_with_their_items(sandbox_factory, small) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    customer = sandboxes.sap.records(find_set("A_Customer"))[0]["Customer"]
    material = sandboxes.sap.records(PRODUCTS)[0]["Product"]
    [outcome] = connector.write_batch(ORDER, [sales_order("SH-O-1", customer, material)])
    assert outcome.status == "created"
    payload = read_all(connector, ORDER)[outcome.remote_key].payload
    assert payload["ExternalDocumentID"] == "SH-O-1"
    assert [(i["Material"], Decimal(i["RequestedQuantity"])) for i in payload["to_Item"]] == [(material, 2)]


def test_an_update_merges_changed_properties_and_children_only(sandbox_factory, small) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    [created] = connector.write_batch(CUSTOMER, [partner("SH-U-1")])
    expected = read_all(connector, CUSTOMER)[created.remote_key].payload
    fields = dict(partner("SH-U-1").fields)
    fields["OrganizationBPName1"] = "Renamed GmbH"
    fields["to_BusinessPartnerAddress"] = [{**fields["to_BusinessPartnerAddress"][0], "StreetName": "Ring"}]
    calls = connector.usage.calls
    [outcome] = connector.write_batch(CUSTOMER, [WriteRecord("SH-U-1", fields, created.remote_key, expected)])

    assert (outcome.status, outcome.remote_key) == ("updated", created.remote_key)
    assert connector.usage.calls == calls + 1  # one $batch: MERGE partner + MERGE address
    after = read_all(connector, CUSTOMER)[created.remote_key].payload
    assert after["OrganizationBPName1"] == "Renamed GmbH"
    assert [a["StreetName"] for a in after["to_BusinessPartnerAddress"]] == ["Ring"]  # merged, not added
    assert len(after["to_BusinessPartnerRole"]) == len(expected["to_BusinessPartnerRole"])
    assert after["LastChangedByUser"] == next(iter(sandboxes.sap.users))


def test_a_new_child_is_posted_under_its_existing_parent(sandbox_factory, small) -> None:
    sandbox_factory(data_dir=small)
    connector = connect()
    [created] = connector.write_batch(CUSTOMER, [partner("SH-N-1")])
    expected = read_all(connector, CUSTOMER)[created.remote_key].payload
    fields = {
        "to_BusinessPartnerRole": [{"BusinessPartnerRole": "FLCU01"}, {"BusinessPartnerRole": "FLCU00"}]
    }
    [outcome] = connector.write_batch(CUSTOMER, [WriteRecord("SH-N-1", fields, created.remote_key, expected)])
    assert outcome.status == "updated"
    roles = read_all(connector, CUSTOMER)[created.remote_key].payload["to_BusinessPartnerRole"]
    assert sorted(r["BusinessPartnerRole"] for r in roles) == ["FLCU00", "FLCU01"]


def test_a_record_equal_to_what_sap_holds_is_unchanged_without_a_call(sandbox_factory, small) -> None:
    sandbox_factory(data_dir=small)
    connector = connect()
    [created] = connector.write_batch(CUSTOMER, [partner("SH-E-1")])
    expected = read_all(connector, CUSTOMER)[created.remote_key].payload
    calls = connector.usage.calls
    record = WriteRecord("SH-E-1", partner("SH-E-1").fields, created.remote_key, expected)
    assert [o.status for o in connector.write_batch(CUSTOMER, [record])] == ["unchanged"]
    assert connector.usage.calls == calls


@pytest.mark.parametrize("stops", [True, False], ids=["batch-stops-at-failure", "batch-continues"])
@pytest.mark.parametrize("count", [1, 199, 200, 201])
def test_batches_give_one_outcome_per_record_and_bad_records_fail_alone(
    sandbox_factory, small, count: int, stops: bool
) -> None:
    """Issue 11, row 5: a server that stops at the first failed changeset answers only the parts it
    processed; the unanswered changesets are sent again, the answered ones kept."""
    sandboxes = sandbox_factory(data_dir=small, batch_stops_at_failure=stops)
    connector = connect()
    bad = {i for i in range(count) if i % 50 == 3}
    records = [partner(f"SH-B-{i}", "x" * 41 if i in bad else None) for i in range(count)]
    outcomes = connector.write_batch(CUSTOMER, records)

    assert [o.key for o in outcomes] == [r.key for r in records]
    assert {i for i, o in enumerate(outcomes) if o.status == "failed"} == bad
    assert all(o.status == "created" and o.remote_key for i, o in enumerate(outcomes) if i not in bad)
    failure = next((o for o in outcomes if o.status == "failed"), None)
    if failure is not None:
        assert "OrganizationBPName1" in failure.error_message and failure.error_code
    assert sandboxes.sap.count(PARTNERS) == SMALL.customers + count - len(bad)
    size = SETTINGS.batch_size
    chunks = [range(start, min(start + size, count)) for start in range(0, count, size)]
    # Stopping: one more call after each bad record that has records behind it in its chunk.
    resent = sum(1 for chunk in chunks for i in chunk if i in bad and i != chunk[-1]) if stops else 0
    assert connector.usage.by_operation["batch"] == len(chunks) + resent


def test_an_order_for_an_unknown_sold_to_party_fails_alone(sandbox_factory, small) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    customer = sandboxes.sap.records(find_set("A_Customer"))[0]["Customer"]
    material = sandboxes.sap.records(PRODUCTS)[0]["Product"]
    records = [sales_order("SH-O-1", customer, material), sales_order("SH-O-2", "9999999", material),
               sales_order("SH-O-3", customer, material)]  # fmt: skip
    outcomes = connector.write_batch(ORDER, records)
    assert [o.status for o in outcomes] == ["created", "failed", "created"]
    assert outcomes[1].error_code == "V1/302" and "9999999" in outcomes[1].error_message


def test_5000_writes_cost_few_api_calls(sandbox_factory, small, capsys) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    records = [partner(f"SH-K-{i}") for i in range(5000)]
    outcomes = connector.write_batch(CUSTOMER, records)
    assert [o.status for o in outcomes] == ["created"] * 5000
    assert sandboxes.sap.count(PARTNERS) == SMALL.customers + 5000
    per_thousand = connector.usage.calls / 5
    with capsys.disabled():
        print(f"\nSAP writes: {connector.usage.calls} calls for 5000 records = {per_thousand:.1f} per 1,000 "
              f"({connector.usage.by_operation})")  # fmt: skip
    assert per_thousand <= 11  # 10 $batch calls per 1,000 at batch_size 100, plus metadata and CSRF


def test_a_rerun_of_the_same_write_creates_nothing_again(sandbox_factory, small) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    records = [partner(f"SH-R-{i}") for i in range(5)]
    first = connector.write_batch(CUSTOMER, records)
    current = read_all(connector, CUSTOMER)
    with_expected = [WriteRecord(r.key, r.fields, o.remote_key, current[o.remote_key].payload)
                     for r, o in zip(records, first, strict=True)]  # fmt: skip
    without_expected = [
        WriteRecord(r.key, r.fields, o.remote_key) for r, o in zip(records, first, strict=True)
    ]

    calls = connector.usage.calls
    assert {o.status for o in connector.write_batch(CUSTOMER, with_expected)} == {"unchanged"}
    assert connector.usage.calls == calls
    second = connector.write_batch(CUSTOMER, without_expected)  # SAP's current state is read instead
    assert {o.status for o in second} == {"unchanged"}
    assert [o.remote_key for o in second] == [o.remote_key for o in first]
    assert connector.usage.by_operation["batch"] == 1 and connector.usage.by_operation["get"] == 1
    assert sandboxes.sap.count(PARTNERS) == SMALL.customers + 5
    assert all(len(partners_with_ext_id(sandboxes, r.key)) == 1 for r in records)


def test_an_update_without_expected_merges_into_the_existing_children(sandbox_factory, small) -> None:
    sandbox_factory(data_dir=small)
    connector = connect()
    [created] = connector.write_batch(CUSTOMER, [partner("SH-W-1")])
    fields = dict(partner("SH-W-1").fields)
    fields["to_BusinessPartnerAddress"] = [{**fields["to_BusinessPartnerAddress"][0], "CityName": "Hamburg"}]
    [outcome] = connector.write_batch(CUSTOMER, [WriteRecord("SH-W-1", fields, created.remote_key)])
    assert outcome.status == "updated"
    after = read_all(connector, CUSTOMER)[created.remote_key].payload
    assert [a["CityName"] for a in after["to_BusinessPartnerAddress"]] == ["Hamburg"]
    assert [r["BusinessPartnerRole"] for r in after["to_BusinessPartnerRole"]] == ["FLCU01"]


def test_an_update_of_a_record_gone_from_sap_fails_as_not_found(sandbox_factory, small) -> None:
    sandbox_factory(data_dir=small)
    [outcome] = connect().write_batch(
        CUSTOMER, [WriteRecord("SH-G-1", {"OrganizationBPName1": "X"}, "9999999")]
    )
    assert (outcome.status, outcome.error_code) == ("failed", "NOT_FOUND")


def test_a_create_whose_answer_was_lost_is_found_again_not_duplicated(sandbox_factory, small) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()

    class LoseFirstBatchAnswer(HTTPAdapter):
        """Delivers the request, then drops SAP's answer: the POST landed but the client timed out."""

        lost = 0

        def send(self, request, **kwargs):  # noqa: ANN001, ANN201
            response = super().send(request, **kwargs)
            if request.method == "POST" and request.url.endswith("$batch") and not self.lost:
                self.lost += 1
                raise requests.ReadTimeout("read timed out", request=request)
            return response

    adapter = LoseFirstBatchAnswer()
    connector.session.mount("https://", adapter)
    outcomes = connector.write_batch(CUSTOMER, [partner("SH-L-1"), partner("SH-L-2")])

    assert adapter.lost == 1
    assert [o.status for o in outcomes] == ["created", "created"]
    for outcome in outcomes:
        [stored] = partners_with_ext_id(sandboxes, outcome.key)
        assert stored["BusinessPartner"] == outcome.remote_key
    assert connector.usage.by_operation["get"] == 1  # the lookup by BusinessPartnerIDByExtSystem
    assert connector.usage.by_operation["batch"] == 1  # the lost one: nothing was left to send again


def test_sales_order_updates_send_if_match_and_resolve_a_stale_etag(sandbox_factory, small) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    number = sandboxes.sap.records(ORDERS)[0]["SalesOrder"]
    expected = read_all(connector, ORDER)[number].payload
    # Someone else changes another field: our ETag is stale but nothing we change conflicts.
    sandboxes.sap.update(
        ORDERS, {"SalesOrder": number}, {"SalesDistrict": "D1"}, user="OUTSIDE", if_match="*"
    )
    [outcome] = connector.write_batch(
        ORDER, [WriteRecord("SH-1", {"PurchaseOrderByCustomer": "PO-NEW"}, number, expected)]
    )
    assert outcome.status == "updated"
    assert sandboxes.sap.get(ORDERS, {"SalesOrder": number})["PurchaseOrderByCustomer"] == "PO-NEW"
    assert sandboxes.sap.get(ORDERS, {"SalesOrder": number})["SalesDistrict"] == "D1"


def test_a_conflicting_sales_order_change_fails_with_etag_mismatch(sandbox_factory, small) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    number = sandboxes.sap.records(ORDERS)[0]["SalesOrder"]
    expected = read_all(connector, ORDER)[number].payload
    sandboxes.sap.update(
        ORDERS, {"SalesOrder": number}, {"PurchaseOrderByCustomer": "THEIRS"}, user="OUTSIDE", if_match="*"
    )
    [outcome] = connector.write_batch(
        ORDER, [WriteRecord("SH-1", {"PurchaseOrderByCustomer": "OURS"}, number, expected)]
    )
    assert (outcome.status, outcome.error_code) == ("failed", "ETAG_MISMATCH")
    assert sandboxes.sap.get(ORDERS, {"SalesOrder": number})["PurchaseOrderByCustomer"] == "THEIRS"


def test_an_update_without_expected_reads_the_etag_first(sandbox_factory, small) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    number = sandboxes.sap.records(ORDERS)[0]["SalesOrder"]
    [outcome] = connector.write_batch(ORDER, [WriteRecord("SH-1", {"PurchaseOrderByCustomer": "P"}, number)])
    assert outcome.status == "updated"
    assert connector.usage.by_operation["get"] == 1


# ---------------------------------------------------------------------------------------------- resilience


def test_injected_429s_503s_and_timeouts_change_nothing_in_the_results(sandbox_factory, small) -> None:
    calm = sandbox_factory(data_dir=small, page_size=5)
    clean = {e.entity: {k: r.payload for k, r in read_all(connect(), e).items()} for e in (CUSTOMER, ORDER)}
    clean_writes = connect().write_batch(CUSTOMER, [partner(f"SH-F-{i}") for i in range(30)])
    calm.stop()

    faulty = sandbox_factory(
        data_dir=small,
        page_size=5,
        erp_faults=FaultConfig(rate_429=0.1, rate_503=0.1, rate_timeout=0.1, timeout_seconds=1.0, seed=3),
    )
    connector = connect(timeout=0.5, batch_size=10)
    noisy = {e.entity: {k: r.payload for k, r in read_all(connector, e).items()} for e in (CUSTOMER, ORDER)}
    noisy_writes = connector.write_batch(CUSTOMER, [partner(f"SH-F-{i}") for i in range(30)])

    assert sum(faulty.erp_faults.injected.values()) >= 3
    assert noisy == clean
    assert [(o.key, o.status, o.remote_key) for o in noisy_writes] == [
        (o.key, o.status, o.remote_key) for o in clean_writes
    ]
    assert all(len(partners_with_ext_id(faulty, f"SH-F-{i}")) == 1 for i in range(30))


def test_an_expired_csrf_token_is_fetched_again_once(sandbox_factory, small) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    connector.write_batch(CUSTOMER, [partner("SH-X-1")])
    sessions = sandboxes.erp.server.config.app.state.sessions
    for cookie in connector.session.cookies:
        if cookie.name.startswith("SAP_SESSIONID"):
            sessions.expire(cookie.value)  # the logon session, and its CSRF token with it, times out
    [outcome] = connector.write_batch(CUSTOMER, [partner("SH-X-2")])
    assert outcome.status == "created"
    assert connector.usage.by_operation["csrf"] == 2


def test_expired_sessions_injected_on_writes_are_recovered(sandbox_factory, small) -> None:
    sandbox_factory(data_dir=small, erp_faults=FaultConfig(rate_expired_session=0.3, seed=4))
    connector = connect(batch_size=2)
    outcomes = connector.write_batch(CUSTOMER, [partner(f"SH-Y-{i}") for i in range(8)])
    assert {o.status for o in outcomes} == {"created"}
    refreshes = connector.usage.by_operation["csrf"] - 1
    assert refreshes >= 1
    assert connector.usage.by_operation["batch"] == 4 + refreshes  # each refused $batch sent once more


def test_a_wrong_password_is_an_auth_error_that_never_shows_the_password(
    sandbox_factory, small, monkeypatch
) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connection = sandboxes.erp_connection()
    connection["password"] = "Wrong-Secret-42"
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_ERP", json.dumps(connection))
    with pytest.raises(AuthError) as info:
        list(connect().extract_changed(CUSTOMER, None))
    message = str(info.value)
    assert "Wrong-Secret-42" not in message and "synchub_erp" in message and connection["login"] in message


def test_the_connections_ca_bundle_wins_over_the_environment(sandbox_factory, small, monkeypatch) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())  # public CAs only: not the sandbox's
    plain = requests.Session()
    plain.verify = str(sandboxes.ca_bundle)
    with pytest.raises(requests.exceptions.SSLError):  # the trap: the environment overrides verify
        plain.get(sandboxes.erp_url + "/sap/opu/odata/sap/API_PRODUCT_SRV/$metadata")
    assert len(read_all(connect(), PRODUCT)) == SMALL.products


def test_without_a_ca_bundle_an_untrusted_certificate_is_a_config_error(
    sandbox_factory, small, monkeypatch
) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connection = sandboxes.erp_connection()
    del connection["extra"]["verify"]
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_ERP", json.dumps(connection))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    with pytest.raises(ConfigError, match="TLS verification"):
        list(connect().extract_changed(PRODUCT, None))


# ---------------------------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("extra", "value"),
    [
        ("synchub_batch_size", "many"),
        ("synchub_page_size", "0"),
        ("synchub_request_timeout_seconds", "-1"),
        ("verify", "false"),
        ("synchub_ca_bundle", "/nope"),
        ("verify", "/nope/ca.pem"),
        ("timeout", "-1"),  # an old bare name, read still
    ],
)
def test_bad_extras_fail_fast_naming_the_connection_and_the_extra(monkeypatch, extra, value) -> None:
    fake_connection(monkeypatch, **{extra: value})
    with pytest.raises(ConfigError) as info:
        SapConnector.from_airflow()
    assert "synchub_erp" in str(info.value) and extra in str(info.value)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"verify": certifi.where()}, certifi.where()),  # the http provider's own extra: a CA file
        ({"verify": True, "synchub_ca_bundle": None}, None),  # the system's CAs
        ({"verify": "true", "synchub_ca_bundle": None}, None),
        ({}, certifi.where()),  # synchub_ca_bundle, read when verify names no file
    ],
)
def test_the_verify_extra_names_the_ca_file_or_the_system_cas(monkeypatch, extra, expected) -> None:
    fake_connection(monkeypatch, **extra)
    assert SapConnector.from_airflow().session.pinned_verify == expected


def test_extras_set_the_settings_by_name_and_empty_ones_keep_defaults(monkeypatch) -> None:
    fake_connection(monkeypatch, synchub_batch_size="25", synchub_page_size="", synchub_lookback_seconds=60,
                    synchub_retry_max_attempts="3", unrelated="ignored")  # fmt: skip
    connector = SapConnector.from_airflow()
    settings = connector.settings
    assert (settings.batch_size, settings.page_size) == (25, 1000)
    assert settings.look_back == dt.timedelta(seconds=60) and settings.retry.max_attempts == 3
    assert connector.session.headers["sap-client"] == "100" and "secret-pw" not in repr(connector)


def test_the_old_bare_names_of_the_extras_are_read_with_a_warning_naming_the_new_one(
    monkeypatch, caplog
) -> None:
    fake_connection(monkeypatch, look_back_seconds=60, timeout="5", synchub_batch_size="7", batch_size="9")
    with caplog.at_level("WARNING", logger="connectors.extras"):
        settings = SapConnector.from_airflow().settings
    assert settings.look_back == dt.timedelta(seconds=60) and settings.timeout == 5
    assert settings.batch_size == 7  # the synchub_ name wins over the old one
    assert "'look_back_seconds' is read under its old name; name it 'synchub_lookback_seconds'" in caplog.text
    assert "'timeout'" in caplog.text and "synchub_request_timeout_seconds" in caplog.text


def test_service_paths_from_the_connection_are_used(sandbox_factory, small, monkeypatch) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connection = sandboxes.erp_connection()
    connection["extra"]["service_paths"] = {"API_PRODUCT_SRV": "/sap/opu/odata/sap/NO_SUCH_SRV/"}
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_ERP", json.dumps(connection))
    connector = SapConnector.from_airflow(settings=SETTINGS)
    assert connector.service_url("API_PRODUCT_SRV").endswith("/NO_SUCH_SRV/")
    with pytest.raises(ConfigError, match="NO_SUCH_SRV"):
        list(connector.extract_changed(PRODUCT, None))


def test_check_gives_a_verdict_per_service_and_entity(sandbox_factory, small) -> None:
    sandbox_factory(data_dir=small)
    results = connect().check([CUSTOMER, PRODUCT, PRICE, ORDER])
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    assert {r.check for r in results} >= {
        "auth",
        "metadata:API_BUSINESS_PARTNER",
        "fields:customer",
        "read:order",
    }


def test_check_names_mapped_fields_that_do_not_exist_or_cannot_be_written(sandbox_factory, small) -> None:
    sandbox_factory(data_dir=small)
    broken = replace(
        CUSTOMER,
        sap=replace(CUSTOMER.sap, writable=(*CUSTOMER.sap.writable, "to_BusinessPartnerAddress/Nope",
                                            "CreationDate"), expand=("to_Nowhere",)),
    )  # fmt: skip
    [fields] = [r for r in connect().check([broken]) if r.check == "fields:customer"]
    assert not fields.ok
    assert "to_BusinessPartnerAddress/Nope" in fields.detail and "to_Nowhere" in fields.detail
    assert "CreationDate" in fields.detail


def test_check_reports_a_wrong_password_as_failed_auth(sandbox_factory, small, monkeypatch) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connection = sandboxes.erp_connection()
    connection["password"] = "nope-nope"
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_ERP", json.dumps(connection))
    results = {r.check: r for r in connect().check([PRODUCT])}
    assert not results["auth"].ok and "nope-nope" not in results["auth"].detail
    assert not results["fields:product"].ok


def test_pyodata_warnings_about_annotations_sap_metadata_carries_are_dropped_others_kept(caplog) -> None:
    import logging

    import connectors.sap  # noqa: F401  (installs the filter)

    model_log = logging.getLogger("pyodata.model")
    with caplog.at_level(logging.WARNING, logger="pyodata.model"):
        model_log.warning("Unsupported Annotation(Capabilities.FilterRestrictions)")
        model_log.warning("Invalid property type")
    assert [r.getMessage() for r in caplog.records if r.name == "pyodata.model"] == ["Invalid property type"]
