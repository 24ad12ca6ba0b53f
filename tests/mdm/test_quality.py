"""The quality gate (mdm/quality): Great Expectations suites, quarantine, threshold, dq_result, Data Docs.

Records go in as the connectors hand them on, through ``stage_payloads``; the end-to-end tests run the
whole chain on seeded sandboxes. Every test runs on SQLite and, with SYNCHUB_DATABASE_URL set, on
PostgreSQL.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mdm import pipeline
from mdm.config import DEFAULT_DIR, load_mapping
from mdm.golden import new_golden_id
from mdm.publish import publish
from mdm.quality import QualityGateError
from mdm.quality.gate import Settings
from mdm.store.models import CanonicalRecord, DqResult, GoldenRecord, OrderSync, Xref
from sandbox.seed import SeedOptions, generate
from tests.conftest import sandbox_connectors as connectors

CUSTOMER = load_mapping(DEFAULT_DIR / "customer.yaml")
PRICE = load_mapping(DEFAULT_DIR / "price.yaml")
ORDER = load_mapping(DEFAULT_DIR / "order.yaml")
VAT_DE = "expectation failed: vat_number matches the VAT pattern of DE (expect_column_values_to_match_regex)"


def account(key: str, name: str | None = "Acme GmbH", **fields: Any) -> dict[str, Any]:
    record = dict.fromkeys(("Id", *CUSTOMER.source.salesforce.fields))
    record |= {
        "Id": key,
        "Name": name,
        "BillingCountry": "DE",
        "SystemModstamp": "2026-11-02T10:00:00.000+0000",
    }
    return record | fields


def accounts(count: int, **fields: Any) -> list[dict[str, Any]]:
    return [
        account(f"0015{i:014d}", f"Company {i} GmbH", VAT_Number__c=f"DE{100000000 + i}", **fields)
        for i in range(count)
    ]


def price_condition(
    record: str, *, rate: str = "12.50", unit: str = "EUR", start: str = "2026-01-01", end: str = "9999-12-31"
) -> dict[str, Any]:
    """An SAP condition record with its validity, as the SAP connector hands it on."""
    return {
        "ConditionRecord": record,
        "ConditionType": "PR00",
        "ConditionRateValue": rate,
        "ConditionRateValueUnit": unit,
        "ConditionQuantity": "1",
        "ConditionReleaseStatus": "",
        "ConditionIsDeleted": False,
        "to_SlsPrcgCndnRecdValidity": [
            {
                "Material": "TG-1001",
                "SalesOrganization": "1010",
                "DistributionChannel": "10",
                "ConditionValidityStartDate": start,
                "ConditionValidityEndDate": end,
            }
        ],
    }


def crm_order(
    key: str, account_id: str, products: list[str], status: str = "Activated", total: Any = 100
) -> dict[str, Any]:
    record = dict.fromkeys(("Id", *ORDER.source.salesforce.fields))
    return record | {
        "Id": key,
        "AccountId": account_id,
        "Status": status,
        "StatusCode": "Activated" if status in ("Activated", "Booked") else "Draft",
        "OrderNumber": key[-5:],
        "TotalAmount": total,
        "SystemModstamp": "2026-11-02T10:00:00.000+0000",
        "OrderItems": [{"Product2Id": p, "Quantity": 1, "UnitPrice": 10, "TotalPrice": 10} for p in products],
    }


def stage(store, mapping, system: str, payloads: list[dict[str, Any]]) -> None:
    pipeline.stage_payloads(mapping.entity, system, payloads, sessions=store, mapping=mapping)


def reasons(store, entity: str) -> dict[str, str | None]:
    with store() as session:
        rows = session.execute(
            select(CanonicalRecord.source_key, CanonicalRecord.quarantine_reason).where(
                CanonicalRecord.entity == entity
            )
        )
        return dict(rows.all())


def outcomes(store, entity: str) -> dict[tuple[str | None, str], DqResult]:
    with store() as session:
        rows = session.scalars(select(DqResult).where(DqResult.entity == entity).order_by(DqResult.id))
        return {(r.system, r.expectation): r for r in rows}


# --- each family of expectations catches its defect -----------------------------------------------------


def test_completeness_quarantines_a_record_without_its_required_name(store):
    stage(store, CUSTOMER, "salesforce", [account("001000000000000001", None), *accounts(3)])
    pipeline.quality("customer", sessions=store, mapping=CUSTOMER)
    found = reasons(store, "customer")
    assert (
        found["001000000000000001"]
        == "expectation failed: name is present (expect_column_values_to_not_be_null)"
    )
    assert [k for k, v in found.items() if v] == ["001000000000000001"]


def test_a_vat_number_that_does_not_fit_its_country_pattern_is_quarantined_naming_the_expectation(store):
    stage(
        store, CUSTOMER, "salesforce", [account("001000000000000001", VAT_Number__c="DE 1234"), *accounts(3)]
    )
    stats = pipeline.quality("customer", sessions=store, mapping=CUSTOMER)
    assert reasons(store, "customer")["001000000000000001"] == VAT_DE
    assert stats["newly_quarantined"] == 1
    result = outcomes(store, "customer")[
        ("salesforce", "expect_column_values_to_match_regex(vat_number) [DE]")
    ]
    assert (result.checked, result.failed, result.success) == (4, 1, False)
    assert result.examples["keys"] == ["001000000000000001"]


def test_a_currency_that_is_not_iso_4217_is_quarantined(store):
    stage(store, PRICE, "sap", [price_condition("0000000001", unit="EU"), price_condition("0000000002")])
    pipeline.quality("price", sessions=store, mapping=PRICE)
    assert reasons(store, "price") == {
        "0000000001": "expectation failed: currency is an ISO 4217 code (expect_column_values_to_be_in_set)",
        "0000000002": None,
    }


def test_ranges_catch_a_negative_price_and_a_validity_that_ends_before_it_starts(store):
    stage(
        store,
        PRICE,
        "sap",
        [
            price_condition("0000000001", rate="-1"),
            price_condition("0000000002", start="2026-06-01", end="2026-05-31"),
            price_condition("0000000003", start="2026-05-31", end="2026-05-31"),
        ],
    )
    pipeline.quality("price", sessions=store, mapping=PRICE)
    found = reasons(store, "price")
    assert (
        found["0000000001"]
        == "expectation failed: unit_price is above 0 (expect_column_values_to_be_between)"
    )
    assert found["0000000002"] == (
        "expectation failed: valid_from is on or before valid_to "
        "(expect_column_pair_values_a_to_be_greater_than_b)"
    )
    assert found["0000000003"] is None


def test_two_pricebook_entries_with_one_synchub_id_are_both_quarantined_as_not_unique(store):
    entry = {
        "Pricebook2Id": "01s000000000001",
        "Product2Id": "01t000000000001",
        "UnitPrice": 10,
        "IsActive": True,
    }
    stamp = {"SystemModstamp": "2026-11-02T10:00:00.000+0000"}
    stage(
        store,
        PRICE,
        "salesforce",
        [
            entry | stamp | {"Id": "01u000000000001", "SyncHub_Id__c": "SH-STD:01t000000000001:EUR"},
            entry | stamp | {"Id": "01u000000000002", "SyncHub_Id__c": "SH-STD:01t000000000001:EUR"},
            entry | stamp | {"Id": "01u000000000003", "SyncHub_Id__c": "SH-STD:01t000000000002:EUR"},
        ],
    )
    pipeline.quality("price", sessions=store, mapping=PRICE)
    unique = (
        "expectation failed: SyncHub's entry id is not shared by two pricebook entries "
        "(expect_column_values_to_be_unique)"
    )
    assert reasons(store, "price") == {
        "01u000000000001": unique,
        "01u000000000002": unique,
        "01u000000000003": None,
    }


def test_a_golden_id_carried_by_two_crm_accounts_is_reported_and_quarantines_nothing(store):
    golden = new_golden_id()
    stage(store, CUSTOMER, "salesforce", accounts(2, SyncHub_Id__c=golden))
    stats = pipeline.quality("customer", sessions=store, mapping=CUSTOMER)
    result = outcomes(store, "customer")[
        ("salesforce", "expect_column_values_to_be_unique(carried_golden_id)")
    ]
    assert (result.failed, result.success, result.examples["action"]) == (2, False, "report")
    assert stats["quarantined"] == 0


def test_an_activated_order_whose_account_or_product_syncHub_does_not_know_is_reported(store):
    with store.begin() as session:
        for entity, key in (("customer", "001A"), ("product", "01tA")):
            golden = new_golden_id()
            session.add(
                GoldenRecord(id=golden, entity=entity, values={}, provenance={}, version=1, status="active")
            )
            session.flush()
            session.add(
                Xref(golden_id=golden, system="salesforce", entity=entity, source_key=key, link_rule="new")
            )
    stage(
        store,
        ORDER,
        "salesforce",
        [
            crm_order("801000000000001", "001A", ["01tA"]),
            crm_order("801000000000002", "001B", ["01tA"]),  # unknown account
            crm_order("801000000000003", "001A", ["01tA", "01tB"]),  # one unknown product
            crm_order("801000000000004", "001B", ["01tB"], status="Draft"),  # not sent: not checked
        ],
    )
    pipeline.quality("order", sessions=store, mapping=ORDER)
    found = outcomes(store, "order")
    customer = found[("salesforce", "expect_column_values_to_be_in_set(customer_in_xref)")]
    product = found[("salesforce", "expect_column_values_to_be_in_set(products_in_xref)")]
    assert (customer.checked, customer.failed, customer.examples["keys"]) == (3, 1, ["801000000000002"])
    assert (product.checked, product.failed, product.examples["keys"]) == (3, 1, ["801000000000003"])


def test_golden_records_are_validated_and_their_failures_only_reported(store):
    twin = {"VAT_Number__c": "DE999999999"}
    stage(store, CUSTOMER, "salesforce", [account("001000000000000001", "Alpha AG", **twin)])
    stage(store, CUSTOMER, "sap", [])
    pipeline.quality("customer", sessions=store, mapping=CUSTOMER)
    pipeline.match("customer", sessions=store, mapping=CUSTOMER)
    pipeline.merge("customer", sessions=store, mapping=CUSTOMER)
    stats = pipeline.quality("customer", sessions=store, mapping=CUSTOMER)
    golden = {e: r for (s, e), r in outcomes(store, "customer").items() if s is None}
    assert golden["expect_column_values_to_be_unique(golden_id)"].success
    assert golden["expect_column_values_to_be_unique(golden_id)"].checked == 1
    assert {r.suite for r in golden.values()} == {"customer.golden"}
    assert stats["systems"]["golden"]["checked"] == 1


# --- quarantine and release -----------------------------------------------------------------------------


def test_a_fixed_record_is_released_and_other_checks_reasons_stay(store):
    stage(store, CUSTOMER, "salesforce", [account("001000000000000001", VAT_Number__c="DE12"), *accounts(3)])
    pipeline.quality("customer", sessions=store, mapping=CUSTOMER)
    with store.begin() as session:
        other = session.scalars(
            select(CanonicalRecord).where(CanonicalRecord.source_key == "001500000000000000")
        ).one()
        other.quarantine_reason = "steward: on hold"
    stage(store, CUSTOMER, "salesforce", [account("001000000000000001", VAT_Number__c="DE123456789")])
    stats = pipeline.quality("customer", sessions=store, mapping=CUSTOMER)
    found = reasons(store, "customer")
    assert found["001000000000000001"] is None
    assert found["001500000000000000"] == "steward: on hold"
    assert (stats["released"], stats["quarantined"]) == (1, 1)


def test_the_older_completeness_reason_is_replaced_by_the_gate(store):
    stage(store, CUSTOMER, "salesforce", [account("001000000000000001", "Fine GmbH")])
    with store.begin() as session:
        session.scalars(select(CanonicalRecord)).one().quarantine_reason = "missing required field(s): name"
    stats = pipeline.quality("customer", sessions=store, mapping=CUSTOMER)
    assert reasons(store, "customer") == {"001000000000000001": None}
    assert stats["released"] == 1


# --- threshold ------------------------------------------------------------------------------------------


def test_more_failures_than_the_threshold_stop_the_step_with_a_message_that_names_them(store):
    bad = [account(f"0019{i:014d}", f"Broken {i} GmbH", VAT_Number__c="DE12") for i in range(3)]
    stage(store, CUSTOMER, "salesforce", [*accounts(27), *bad])
    with pytest.raises(QualityGateError) as raised:
        pipeline.quality("customer", sessions=store, mapping=CUSTOMER)
    message = str(raised.value)
    assert "customer salesforce: 3 of 30 records (10.0%) failed" in message
    assert "threshold of 5.0%" in message
    assert "vat_number matches the VAT pattern of DE (expect_column_values_to_match_regex): 3" in message
    # The bad records are quarantined and every outcome stored all the same.
    assert sum(1 for r in reasons(store, "customer").values() if r == VAT_DE) == 3
    assert (
        outcomes(store, "customer")[
            ("salesforce", "expect_column_values_to_match_regex(vat_number) [DE]")
        ].failed
        == 3
    )


def test_a_share_below_the_threshold_quarantines_and_goes_on(store):
    stage(store, CUSTOMER, "salesforce", [*accounts(27), account("001900000000000001", VAT_Number__c="DE12")])
    stats = pipeline.quality(
        "customer", sessions=store, mapping=CUSTOMER, settings=Settings(max_failed_share=0.05)
    )
    assert stats["systems"]["salesforce"] == {
        "checked": 28,
        "failed": 1,
        "share": round(1 / 28, 4),
        "failed_expectations": {
            "vat_number matches the VAT pattern of DE (expect_column_values_to_match_regex)": 1
        },
    }


def test_the_threshold_comes_from_the_mapping(tmp_path: Path, store):
    text = (
        (DEFAULT_DIR / "customer.yaml").read_text().replace("max_failed_share: 0.05", "max_failed_share: 0.5")
    )
    (tmp_path / "customer.yaml").write_text(text)
    mapping = load_mapping(tmp_path / "customer.yaml")
    bad = [account(f"0019{i:014d}", f"Broken {i} GmbH", VAT_Number__c="DE12") for i in range(5)]
    stage(store, mapping, "salesforce", [*accounts(20), *bad])
    stats = pipeline.quality("customer", sessions=store, mapping=mapping)
    assert (stats["threshold"], stats["systems"]["salesforce"]["failed"]) == (0.5, 5)


def test_the_task_log_holds_the_gate_s_lines_not_great_expectations_chatter(store, caplog):
    stage(store, CUSTOMER, "salesforce", [account("001000000000000001", VAT_Number__c="DE12"), *accounts(3)])
    with caplog.at_level(logging.INFO):
        pipeline.quality("customer", sessions=store, mapping=CUSTOMER)
    chatter = [
        r for r in caplog.records if r.name.startswith("great_expectations") and r.levelno < logging.WARNING
    ]
    assert chatter == [], [(r.name, r.levelname, r.getMessage()[:80]) for r in chatter[:5]]
    assert any(r.name == "mdm.quality.gate" for r in caplog.records)


# --- Data Docs ------------------------------------------------------------------------------------------


def test_the_run_builds_data_docs_under_the_reports_dir_and_returns_the_index(store, reports_dir: Path):
    stage(store, CUSTOMER, "salesforce", [account("001000000000000001", VAT_Number__c="DE12"), *accounts(3)])
    stats = pipeline.quality("customer", sessions=store, mapping=CUSTOMER)
    index = Path(stats["data_docs"])
    assert index == (reports_dir / "data_docs" / "customer" / "index.html").resolve()
    assert index.is_file() and "customer.source.salesforce" in index.read_text()
    pages = list((index.parent / "validations").rglob("*.html"))
    assert pages and any("vat_number" in page.read_text() for page in pages)


# --- end to end on the sandboxes ------------------------------------------------------------------------

E2E = SeedOptions(seed=11, customers=40, products=3, orders=3)


@cache
def e2e_truth() -> dict[str, Any]:
    return generate(E2E)[1]


def test_a_crm_account_with_a_malformed_vat_reaches_neither_system_while_the_rest_syncs(
    store, sandbox_factory
):
    sandboxes = sandbox_factory(seed=E2E)
    crm_only = [
        c["salesforce"][0] for c in e2e_truth()["customers"] if len(c["salesforce"]) == 1 and not c["sap"]
    ]
    bad, good = crm_only[0], crm_only[1:]
    sandboxes.org.update("Account", bad, {"VAT_Number__c": "DE-12"})
    before = sandboxes.org.query(
        f"SELECT Id, Name, SystemModstamp FROM Account WHERE Id = '{bad}'", include_deleted=False
    )[0]
    mapping = pipeline.load_entity_mapping("customer")
    clients = connectors()
    for system in ("salesforce", "sap"):
        pipeline.extract("customer", system, sessions=store, connector=clients[system], mapping=mapping)
    stats = pipeline.quality("customer", sessions=store, mapping=mapping)
    pipeline.match("customer", sessions=store, mapping=mapping)
    pipeline.merge("customer", sessions=store, mapping=mapping)
    erp = publish("customer", "sap", sessions=store, connector=clients["sap"], mapping=mapping)
    crm = publish("customer", "salesforce", sessions=store, connector=clients["salesforce"], mapping=mapping)

    assert stats["newly_quarantined"] == 1 and reasons(store, "customer")[bad] == VAT_DE
    with store() as session:
        linked = {key for key in session.scalars(select(Xref.source_key).where(Xref.system == "salesforce"))}
    assert bad not in linked
    # SAP: no partner for the bad account; the other CRM-only accounts were created there.
    partners = sandboxes.sap.records(sandboxes.sap.entity_set("API_BUSINESS_PARTNER", "A_BusinessPartner"))
    assert not [
        p for p in partners if str(p.get("OrganizationBPName1") or "").startswith(before["Name"][:20])
    ]
    assert erp["created"] >= len(good) > 0 and crm["failed"] == 0
    # CRM: the bad account is untouched; the good ones carry their golden id now.
    after = sandboxes.org.query(
        "SELECT Id, SystemModstamp, SyncHub_Id__c FROM Account", include_deleted=False
    )
    by_id = {a["Id"]: a for a in after}
    assert by_id[bad]["SystemModstamp"] == before["SystemModstamp"] and not by_id[bad]["SyncHub_Id__c"]
    assert all(by_id[key]["SyncHub_Id__c"] for key in good)


def test_a_quarantined_crm_order_is_not_sent_to_sap_while_the_others_are(store, sandbox_factory):
    from mdm.orders import push_orders
    from tests.mdm.test_order_sync import SEED as ORDERS_SEED
    from tests.mdm.test_order_sync import master_data, sap_orders

    sandboxes = sandbox_factory(seed=ORDERS_SEED)
    master_data(store, "customer")
    master_data(store, "product")
    for system in ("salesforce", "sap"):
        pipeline.extract("order", system, sessions=store)
    pipeline.quality("order", sessions=store)
    unsent = [
        o["Id"]
        for o in sandboxes.org.query(
            "SELECT Id, StatusCode, SAP_Order_Number__c FROM Order", include_deleted=False
        )
        if o["StatusCode"] == "Activated" and not o["SAP_Order_Number__c"]
    ]
    held = unsent[0]
    with store.begin() as session:
        record = session.scalars(
            select(CanonicalRecord).where(
                CanonicalRecord.entity == "order", CanonicalRecord.source_key == held
            )
        ).one()
        record.quarantine_reason = (
            "expectation failed: total_amount is not negative (expect_column_values_to_be_between)"
        )
    stats = push_orders(sessions=store)
    sent = {o.get("ExternalDocumentID") for o in sap_orders(sandboxes)}
    assert held not in sent
    assert stats["created"] >= 1 and set(unsent[1:]) & sent
    # Skipped, not waiting: every activated order push_erp looks at gets a state, the held one none.
    with store() as session:
        assert session.scalars(select(OrderSync).where(OrderSync.crm_order_id == held)).first() is None
        assert session.scalars(select(OrderSync).where(OrderSync.crm_order_id.in_(unsent[1:]))).first()


def test_a_threshold_outside_0_to_1_is_a_mapping_error_naming_the_field(tmp_path: Path):
    from mdm.config import MappingError

    text = (
        (DEFAULT_DIR / "customer.yaml").read_text().replace("max_failed_share: 0.05", "max_failed_share: 5")
    )
    (tmp_path / "customer.yaml").write_text(text)
    with pytest.raises(MappingError, match="max_failed_share"):
        load_mapping(tmp_path / "customer.yaml")


def test_data_docs_go_to_an_object_storage_url_every_worker_reaches(store, monkeypatch):
    """SYNCHUB_REPORTS_DIR as a URL: the site is built locally, then copied there (fsspec's in-memory
    file system stands in for S3, GCS or Azure)."""
    from airflow.sdk import ObjectStoragePath

    monkeypatch.setenv("SYNCHUB_REPORTS_DIR", "memory://synchub-reports/dq")
    stage(store, CUSTOMER, "salesforce", [account("001000000000000001", VAT_Number__c="DE12"), *accounts(3)])
    stats = pipeline.quality("customer", sessions=store, mapping=CUSTOMER)
    assert stats["data_docs"] == "memory://synchub-reports/dq/data_docs/customer/index.html"
    index = ObjectStoragePath(stats["data_docs"])
    assert index.exists() and b"<html" in index.read_bytes().lower()
    pages = [p for p in index.parent.rglob("*.html") if p != index]
    assert pages, "the validation pages the index links to"
