"""Publishing golden customers to both systems, through the whole chain on the sandboxes.

Every test seeds fresh sandboxes, runs extract (both) -> quality -> match -> merge -> publish (SAP, then
Salesforce) on the store (SQLite, or PostgreSQL in the second CI pass), and looks at what the systems
hold afterwards through the connectors, as SyncHub itself reads them.
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from typing import Any

import pytest
from sqlalchemy import select, update

from mdm import pipeline
from mdm.publish import Publisher, publish
from mdm.store.models import CanonicalRecord, GoldenRecord, PublishState, SourceRecord, Xref
from sandbox.seed import SeedOptions
from tests.conftest import sandbox_connectors as connectors

ENTITY = "customer"
# Canonical fields both systems read and receive: after a run, every member must agree on them.
# (legal_form is read from the name, and from SAP's LegalForm code, which the CRM has no field for;
# erp_customer_number is each SAP record's own key: the CRM's must be one of them.)
SHARED = ("name", "street", "house_number", "postal_code", "city", "region", "country", "vat_number", "phone")
WRITES = ("created", "updated", "failed")


def seed(customers: int = 100, **options: Any) -> SeedOptions:
    return SeedOptions(seed=11, customers=customers, products=3, orders=3, **options)


@cache
def mapping() -> Any:
    return pipeline.load_entity_mapping(ENTITY)


def publish_to(store, system: str) -> dict[str, Any]:
    return publish(ENTITY, system, sessions=store, connector=connectors()[system], mapping=mapping())


def cycle(store, systems: tuple[str, ...] = ("sap", "salesforce")) -> dict[str, dict[str, Any]]:
    """One run of the chain; SAP is published first so CRM accounts get the numbers of new partners."""
    clients = connectors()
    stats: dict[str, dict[str, Any]] = {}
    for system in ("salesforce", "sap"):
        stats[f"extract_{system}"] = pipeline.extract(
            ENTITY, system, sessions=store, connector=clients[system], mapping=mapping()
        )
    stats["quality"] = pipeline.quality(ENTITY, sessions=store, mapping=mapping())
    stats["match"] = pipeline.match(ENTITY, sessions=store, mapping=mapping())
    stats["merge"] = pipeline.merge(ENTITY, sessions=store, mapping=mapping())
    for system in systems:
        stats[system] = publish_to(store, system)
    return stats


def writes(stats: dict[str, Any]) -> dict[str, int]:
    return {k: stats[k] for k in (*WRITES, "api_calls")}


def canonical(store) -> dict[tuple[str, str], dict[str, Any]]:
    with store() as session:
        rows = session.execute(
            select(CanonicalRecord.system, CanonicalRecord.source_key, CanonicalRecord.values).where(
                CanonicalRecord.entity == ENTITY, CanonicalRecord.is_deleted.is_(False)
            )
        )
        return {(system, key): values for system, key, values in rows}


def members(store) -> dict[str, list[tuple[str, str]]]:
    with store() as session:
        out: dict[str, list[tuple[str, str]]] = {}
        for golden_id, system, key in session.execute(select(Xref.golden_id, Xref.system, Xref.source_key)):
            out.setdefault(golden_id, []).append((system, key))
        return out


def refresh(store) -> dict[tuple[str, str], dict[str, Any]]:
    """Extract both systems again and return every live record's canonical values."""
    clients = connectors()
    for system in ("salesforce", "sap"):
        pipeline.extract(ENTITY, system, sessions=store, connector=clients[system], mapping=mapping())
    return canonical(store)


def matched_pair(store, sap_holds_international_phone: bool = False) -> tuple[str, str, str]:
    """The golden record with exactly one member in each system and the smallest Salesforce Id:
    (golden id, Salesforce Id, SAP key)."""
    with store() as session:
        payloads = dict(
            session.execute(
                select(SourceRecord.source_key, SourceRecord.payload).where(SourceRecord.system == "sap")
            ).all()
        )
    pairs = []
    for golden_id, refs in members(store).items():
        if Counter(system for system, _ in refs) == Counter({"salesforce": 1, "sap": 1}):
            keys = dict(refs)
            pairs.append((keys["salesforce"], keys["sap"], golden_id))
    for account, partner, golden_id in sorted(pairs):
        if sap_holds_international_phone:
            if partner not in payloads:  # created by SyncHub in this run, not extracted yet
                continue
            address = (payloads[partner].get("to_BusinessPartnerAddress") or [{}])[0]
            phones = address.get("to_PhoneNumber") or [{}]
            if not phones[0].get("InternationalPhoneNumber"):
                continue
        return golden_id, account, partner
    raise AssertionError("the seed has no such customer in both systems")


def partner_set(sandboxes):
    return sandboxes.sap.entity_set("API_BUSINESS_PARTNER", "A_BusinessPartner")


# ---------------------------------------------------------------------------------------------- tests


def test_after_one_run_every_matched_customer_has_the_same_canonical_values_in_both_systems(
    sandbox_factory, store
):
    sandbox_factory(seed=seed())
    cycle(store)

    values = refresh(store)

    disagreements = []
    for golden_id, refs in members(store).items():
        if len({system for system, _ in refs}) < 2:
            continue
        for name in SHARED:
            seen = {ref: values[ref].get(name) for ref in refs if ref in values}
            if len(set(seen.values())) > 1:
                disagreements.append((golden_id, name, seen))
        # The CRM holds SAP's customer number (not the partner's: they differ in this sandbox) and the
        # partner's number, each of one of the golden record's SAP partners.
        crm = [values[(s, k)] for s, k in refs if s == "salesforce"]
        sap = [values[(s, k)] for s, k in refs if s == "sap" and (s, k) in values]
        for name in ("erp_customer_number", "erp_business_partner"):
            if not {v.get(name) for v in crm} <= {v.get(name) for v in sap}:
                disagreements.append((golden_id, name, {v.get(name) for v in crm}))
    assert disagreements == []
    assert sum(1 for refs in members(store).values() if len({s for s, _ in refs}) == 2) > 30


def test_a_second_run_without_outside_change_writes_nothing(sandbox_factory, store):
    sandbox_factory(seed=seed())
    first = cycle(store)

    second = cycle(store)

    assert first["sap"]["updated"] > 0 and first["salesforce"]["updated"] > 0
    assert writes(second["sap"]) == {"created": 0, "updated": 0, "failed": 0, "api_calls": 0}
    assert writes(second["salesforce"]) == {"created": 0, "updated": 0, "failed": 0, "api_calls": 0}


def test_publishing_again_before_the_next_extraction_writes_nothing(sandbox_factory, store):
    sandbox_factory(seed=seed())
    cycle(store)

    again = {system: publish_to(store, system) for system in ("sap", "salesforce")}

    assert writes(again["sap"]) == {"created": 0, "updated": 0, "failed": 0, "api_calls": 0}
    assert writes(again["salesforce"]) == {"created": 0, "updated": 0, "failed": 0, "api_calls": 0}
    assert again["sap"]["echo_pending"] > 0  # known from publish_state, not from a fresh read


def test_a_crm_website_edit_reaches_the_golden_record_and_does_not_bounce(sandbox_factory, store):
    sandboxes = sandbox_factory(seed=seed())
    cycle(store)
    golden_id, account, _ = matched_pair(store)
    sandboxes.org.update("Account", account, {"Website": "https://www.edited.example"})

    after_edit = cycle(store)
    third = cycle(store)

    with store() as session:
        assert session.get(GoldenRecord, golden_id).values["website"] == "edited.example"
    # SAP receives no website (the mapping publishes none there) and the CRM already holds it.
    assert writes(after_edit["sap"])["updated"] == writes(after_edit["salesforce"])["updated"] == 0
    assert writes(third["sap"])["updated"] == writes(third["salesforce"])["updated"] == 0


def test_a_crm_phone_edit_reaches_sap_and_does_not_bounce(sandbox_factory, store):
    sandboxes = sandbox_factory(seed=seed())
    cycle(store)
    golden_id, account, partner = matched_pair(store, sap_holds_international_phone=True)
    sandboxes.org.update("Account", account, {"Phone": "+44 20 7946 0958"})

    after_edit = cycle(store)
    values = refresh(store)
    third = cycle(store)

    with store() as session:
        assert session.get(GoldenRecord, golden_id).values["phone"] == "+442079460958"
    assert after_edit["sap"]["updated"] == 1
    assert after_edit["salesforce"]["updated"] == 0  # the CRM already holds what it sent
    assert values[("sap", partner)]["phone"] == "+442079460958"
    assert writes(third["sap"])["updated"] == writes(third["salesforce"])["updated"] == 0


def test_an_sap_name_edit_reaches_the_crm_and_does_not_bounce(sandbox_factory, store):
    sandboxes = sandbox_factory(seed=seed())
    cycle(store)
    golden_id, account, partner = matched_pair(store)
    sandboxes.sap.update(
        partner_set(sandboxes),
        {"BusinessPartner": partner},
        {"OrganizationBPName1": "Renamed Holding GmbH", "OrganizationBPName2": ""},
        user="TESTER",
    )

    after_edit = cycle(store)
    values = refresh(store)
    third = cycle(store)

    assert values[("salesforce", account)]["name"] == "Renamed Holding GmbH"
    assert values[("salesforce", account)]["legal_form"] == "GMBH"
    assert after_edit["salesforce"]["updated"] == 1
    assert after_edit["sap"]["updated"] == 0
    assert writes(third["sap"])["updated"] == writes(third["salesforce"])["updated"] == 0


def test_a_customer_only_in_the_crm_is_created_in_sap_with_its_key_captured(sandbox_factory, store):
    sandboxes = sandbox_factory(seed=seed())
    stats = cycle(store)

    with store() as session:
        created = session.execute(
            select(Xref.golden_id, Xref.source_key).where(Xref.system == "sap", Xref.created_by_synchub)
        ).all()
    assert len(created) == stats["sap"]["created"] > 0
    golden_id, key = min(created, key=lambda row: row[1])
    partner = sandboxes.sap.get(partner_set(sandboxes), {"BusinessPartner": key})
    assert partner["BusinessPartnerIDByExtSystem"] == golden_id
    roles = sandboxes.sap.related(partner_set(sandboxes), [partner], "to_BusinessPartnerRole")[0]
    assert {r["BusinessPartnerRole"] for r in roles} == {"FLCU00", "FLCU01"}
    address = sandboxes.sap.related(partner_set(sandboxes), [partner], "to_BusinessPartnerAddress")[0]
    with store() as session:
        golden = session.get(GoldenRecord, golden_id).values
    # SAP keeps an unset text as its initial value, "".
    assert (address[0]["PostalCode"] or None, address[0]["Country"]) == (
        golden["postal_code"],
        golden["country"],
    )
    if golden["vat_number"]:
        taxes = sandboxes.sap.related(partner_set(sandboxes), [partner], "to_BusinessPartnerTax")[0]
        assert [t["BPTaxNumber"] for t in taxes] == [golden["vat_number"]]
    # SAP numbered the partner's customer itself (its own range, not the partner's number); the CRM
    # account got both numbers in the same run: SyncHub read the new partner back before publishing.
    customer = partner["Customer"]
    assert customer and customer != key
    # Issue 11, row 3: the customer is extended to the sales area the mapping names (orders go there).
    customers = sandboxes.sap.entity_set("API_BUSINESS_PARTNER", "A_Customer")
    [record] = [c for c in sandboxes.sap.records(customers) if c["Customer"] == customer]
    areas = sandboxes.sap.related(customers, [record], "to_CustomerSalesArea")[0]
    assert [
        (a["SalesOrganization"], a["DistributionChannel"], a["Division"], a["Currency"]) for a in areas
    ] == [("1010", "10", "00", "EUR")]
    assert stats["sap"]["read_back"] == stats["sap"]["created"]
    crm = [k for s, k in members(store)[golden_id] if s == "salesforce"]
    accounts = {a["Id"]: a for a in sandboxes.org.live_records("Account")}
    assert crm and all(
        (accounts[k]["SAP_Customer_Number__c"], accounts[k]["SAP_Business_Partner__c"]) == (customer, key)
        for k in crm
    )


def test_a_customer_only_in_sap_is_created_in_the_crm_with_its_sap_number(sandbox_factory, store):
    sandboxes = sandbox_factory(seed=seed())
    accounts_before = len(sandboxes.org.live_records("Account"))
    stats = cycle(store)

    # Accounts already linked were updated on their Id, not created again under the golden id.
    assert len(sandboxes.org.live_records("Account")) == accounts_before + stats["salesforce"]["created"]

    with store() as session:
        created = session.execute(
            select(Xref.golden_id, Xref.source_key).where(
                Xref.system == "salesforce", Xref.created_by_synchub
            )
        ).all()
    assert len(created) == stats["salesforce"]["created"] > 0
    accounts = {r["Id"]: r for r in sandboxes.org.live_records("Account")}
    for golden_id, account_id in created:
        account = accounts[account_id]
        sap = [k for s, k in members(store)[golden_id] if s == "sap"]
        assert account["SyncHub_Id__c"] == golden_id
        customers = {
            sandboxes.sap.get(partner_set(sandboxes), {"BusinessPartner": k})["Customer"] for k in sap
        }
        assert account["SAP_Customer_Number__c"] in customers
        assert account["SAP_Business_Partner__c"] in {k.lstrip("0") for k in sap}


def test_duplicates_in_the_crm_are_each_updated_and_one_of_them_carries_the_golden_id(sandbox_factory, store):
    sandboxes = sandbox_factory(seed=seed(150, duplicate_rate=0.1))
    cycle(store)

    values = refresh(store)
    accounts = {r["Id"]: r for r in sandboxes.org.live_records("Account")}
    groups = {
        golden_id: [k for s, k in refs if s == "salesforce"]
        for golden_id, refs in members(store).items()
        if sum(s == "salesforce" for s, _ in refs) > 1
    }
    assert groups
    for golden_id, keys in groups.items():
        assert [accounts[k]["SyncHub_Id__c"] for k in keys].count(golden_id) == 1
        for name in SHARED:
            assert len({values[("salesforce", k)].get(name) for k in keys}) == 1, (golden_id, name)


def test_a_failed_record_is_listed_with_its_code_and_the_others_are_written(sandbox_factory, store):
    sandbox_factory(seed=seed())
    cycle(store, systems=())
    broken, _, _ = matched_pair(store)
    with store.begin() as session:
        other = session.scalars(select(GoldenRecord.id).where(GoldenRecord.id != broken).limit(1)).one()
        golden = session.get(GoldenRecord, broken)
        golden.values = {**golden.values, "erp_customer_number": "12345678901234"}  # 10 characters fit

    stats = publish_to(store, "salesforce")

    assert stats["failed"] == 1
    assert [(e["system"], e["golden_id"], e["code"]) for e in stats["errors"]] == [
        ("salesforce", broken, "STRING_TOO_LONG")
    ]
    assert stats["updated"] + stats["created"] > 50
    with store() as session:
        assert session.get(PublishState, (broken, "salesforce")) is None
        assert session.get(PublishState, (other, "salesforce")) is not None


def test_a_run_killed_after_writing_to_the_crm_leaves_no_duplicates_when_run_again(
    sandbox_factory, store, monkeypatch
):
    sandboxes = sandbox_factory(seed=seed())
    accounts_before = len(sandboxes.org.live_records("Account"))
    partners_before = len(sandboxes.sap.records(partner_set(sandboxes)))
    cycle(store, systems=())

    def die(*_args: Any, **_kwargs: Any) -> None:
        raise SystemExit("killed between the write and the xref capture")

    with monkeypatch.context() as patch:
        patch.setattr(Publisher, "_record", die)
        with pytest.raises(SystemExit):
            publish_to(store, "salesforce")
        with pytest.raises(SystemExit):
            publish_to(store, "sap")
    with store() as session:  # nothing was captured: the store does not know what was written
        assert session.scalar(select(Xref.id).where(Xref.created_by_synchub)) is None
    written_once = (
        len(sandboxes.org.live_records("Account")),
        len(sandboxes.sap.records(partner_set(sandboxes))),
    )

    rerun = cycle(store)
    last = cycle(store)

    assert written_once[0] > accounts_before and written_once[1] > partners_before
    accounts = sandboxes.org.live_records("Account")
    partners = sandboxes.sap.records(partner_set(sandboxes))
    assert (len(accounts), len(partners)) == written_once
    assert rerun["sap"]["created"] == rerun["salesforce"]["created"] == 0
    carried = Counter(a["SyncHub_Id__c"] for a in accounts if a["SyncHub_Id__c"])
    assert max(carried.values()) == 1
    with store() as session:
        live = set(session.scalars(select(GoldenRecord.id).where(GoldenRecord.status == "active")))
    assert (
        Counter(
            p["BusinessPartnerIDByExtSystem"] for p in partners if p["BusinessPartnerIDByExtSystem"]
        ).keys()
        <= live
    )
    assert writes(last["sap"])["updated"] == writes(last["salesforce"])["updated"] == 0


def test_members_deleted_in_the_target_system_are_not_created_again(sandbox_factory, store):
    sandboxes = sandbox_factory(seed=seed())
    cycle(store)
    _, account, _ = matched_pair(store)
    sandboxes.org.delete("Account", account)
    with store.begin() as session:  # a full extraction would mark it; this is what it records
        session.execute(
            update(CanonicalRecord)
            .where(CanonicalRecord.system == "salesforce", CanonicalRecord.source_key == account)
            .values(is_deleted=True)
        )

    stats = publish_to(store, "salesforce")

    assert stats["created"] == 0 and stats["skipped_deleted"] == 1


@pytest.mark.parametrize("system", ["sap", "salesforce"])
def test_a_publish_retried_after_dying_before_the_xref_capture_creates_nothing_twice(
    sandbox_factory, store, monkeypatch, system
):
    sandboxes = sandbox_factory(seed=seed())
    cycle(store, systems=())

    def count() -> int:
        if system == "sap":
            return len(sandboxes.sap.records(partner_set(sandboxes)))
        return len(sandboxes.org.live_records("Account"))

    with monkeypatch.context() as patch:
        patch.setattr(Publisher, "_record", lambda *_: (_ for _ in ()).throw(SystemExit("killed")))
        with pytest.raises(SystemExit):
            publish_to(store, system)
    written = count()

    retry = publish_to(store, system)  # e.g. Airflow retrying the task: no extraction in between

    assert count() == written
    assert retry["created"] == 0 and retry["recovered"] > 0
    with store() as session:
        captured = session.scalars(
            select(Xref.golden_id).where(Xref.system == system, Xref.created_by_synchub)
        )
        assert len(list(captured)) == retry["recovered"]
