"""The SAP connector's writes (deep inserts, merges, batches, ETags, lost answers) against the SAP
sandbox over real HTTPS, through its public surface only."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
from requests.adapters import HTTPAdapter

from connectors.base import WriteRecord
from sandbox.sap.model import find_set
from tests.connectors.sap.kit import (
    CUSTOMER,
    ORDER,
    ORDERS,
    PARTNERS,
    PRODUCTS,
    SETTINGS,
    SMALL,
    connect,
    partner,
    partners_with_ext_id,
    read_all,
    sales_order,
)


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


@pytest.mark.parametrize(
    ("theirs", "outcome_is", "held"),
    [
        # Someone else changed another field: our ETag is stale, but nothing we change conflicts.
        (
            {"SalesDistrict": "D1"},
            ("updated", None),
            {"PurchaseOrderByCustomer": "OURS", "SalesDistrict": "D1"},
        ),
        # Someone else changed the field we change: theirs stays, ours fails.
        (
            {"PurchaseOrderByCustomer": "THEIRS"},
            ("failed", "ETAG_MISMATCH"),
            {"PurchaseOrderByCustomer": "THEIRS"},
        ),
    ],
)
def test_sales_order_updates_send_if_match_resolve_a_stale_etag_and_never_overwrite_a_conflict(
    sandbox_factory, small, theirs, outcome_is, held
) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    number = sandboxes.sap.records(ORDERS)[0]["SalesOrder"]
    expected = read_all(connector, ORDER)[number].payload
    sandboxes.sap.update(ORDERS, {"SalesOrder": number}, theirs, user="OUTSIDE", if_match="*")
    [outcome] = connector.write_batch(
        ORDER, [WriteRecord("SH-1", {"PurchaseOrderByCustomer": "OURS"}, number, expected)]
    )
    assert (outcome.status, outcome.error_code) == outcome_is
    stored = sandboxes.sap.get(ORDERS, {"SalesOrder": number})
    assert {name: stored[name] for name in held} == held


def test_an_update_without_expected_reads_the_etag_first(sandbox_factory, small) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    number = sandboxes.sap.records(ORDERS)[0]["SalesOrder"]
    [outcome] = connector.write_batch(ORDER, [WriteRecord("SH-1", {"PurchaseOrderByCustomer": "P"}, number)])
    assert outcome.status == "updated"
    assert connector.usage.by_operation["get"] == 1
