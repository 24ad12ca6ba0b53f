"""The pipeline core on the store alone: staging payloads, quality, match-and-link, merge, CSV exports.

Payloads are shaped as the connectors hand them on (a Salesforce record's REST fields; an SAP partner
with its expanded navigations) and go in through ``stage_payloads``, the entry point extract and the
benchmark use. Every test runs on SQLite and, with SYNCHUB_DATABASE_URL set, on PostgreSQL.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from mdm import pipeline
from mdm.cli import app
from mdm.config import DEFAULT_DIR, load_mapping
from mdm.golden import is_golden_id, new_golden_id
from mdm.match.store import record_steward_decision
from mdm.store.models import CanonicalRecord, GoldenRecord, GoldenRecordVersion, Run, SourceRecord, Xref

MAPPING = load_mapping(DEFAULT_DIR / "customer.yaml")
ENTITY = "customer"


def account(key: str, name: str | None, **fields: Any) -> dict[str, Any]:
    """A Salesforce Account as the connector hands it on (the mapping's read fields)."""
    record = dict.fromkeys(("Id", *MAPPING.source.salesforce.fields))
    record |= {"Id": key, "Name": name, "SystemModstamp": "2026-11-02T10:00:00.000+0000"}
    record |= fields
    return record


def partner(
    number: str, name: str, *, vat: str | None = None, phone: str | None = None, **props: Any
) -> dict:
    """An SAP business partner with its expanded navigations, as the SAP connector hands it on."""
    return {
        "BusinessPartner": number,
        "BusinessPartnerCategory": "2",
        "OrganizationBPName1": name,
        "OrganizationBPName2": "",
        "BusinessPartnerIDByExtSystem": "",
        "LastChangeDate": "2026-11-01",
        "LastChangeTime": "09:30:00",
        "to_BusinessPartnerAddress": [
            {
                "StreetName": "Hauptstraße",
                "HouseNumber": "5",
                "PostalCode": "80331",
                "CityName": "München",
                "Region": "BY",
                "Country": "DE",
                "to_PhoneNumber": [{"PhoneNumber": phone, "DestinationLocationCountry": "DE"}]
                if phone
                else [],
                "to_EmailAddress": [],
            }
        ],
        "to_BusinessPartnerRole": [{"BusinessPartnerRole": "FLCU01"}],
        "to_BusinessPartnerTax": [{"BPTaxType": "DE0", "BPTaxNumber": vat}] if vat else [],
        "to_Customer": None,
    } | props


MUELLER_SF = account(
    "001000000000001AAA",
    "Müller Maschinenbau GmbH",
    BillingStreet="Hauptstr. 5",
    BillingCity="München",
    BillingPostalCode="80331",
    BillingCountry="Deutschland",
    Phone="+49 89 1234567",
    Website="https://www.mueller-maschinen.de",
    VAT_Number__c="DE 123 456 789",
)
MUELLER_SAP = partner("1000001", "Müller Maschinenbau GmbH", vat="DE123456789", phone="089 7654321")


def stage(store, system: str, *payloads: dict[str, Any]) -> dict[str, Any]:
    return pipeline.stage_payloads(ENTITY, system, list(payloads), sessions=store, mapping=MAPPING)


def run_core(store) -> dict[str, dict[str, Any]]:
    return {
        "quality": pipeline.quality(ENTITY, sessions=store, mapping=MAPPING),
        "match": pipeline.match(ENTITY, sessions=store, mapping=MAPPING),
        "merge": pipeline.merge(ENTITY, sessions=store, mapping=MAPPING),
    }


def xref_of(store) -> dict[tuple[str, str], str]:
    with store() as session:
        return {(x.system, x.source_key): x.golden_id for x in session.scalars(select(Xref))}


def golden(store, golden_id: str) -> GoldenRecord:
    with store() as session:
        return session.get(GoldenRecord, golden_id)


def versions(store, golden_id: str) -> list[tuple[int, str]]:
    with store() as session:
        rows = session.execute(
            select(GoldenRecordVersion.version, GoldenRecordVersion.reason)
            .where(GoldenRecordVersion.golden_id == golden_id)
            .order_by(GoldenRecordVersion.version)
        )
        return [tuple(row) for row in rows]


# --- golden ids ----------------------------------------------------------------------------------------


def test_golden_ids_fit_sap_external_id_and_are_unique():
    ids = {new_golden_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) <= 20 and i.startswith("SH-") and is_golden_id(i) for i in ids)


# --- staging -------------------------------------------------------------------------------------------


def test_staging_keeps_raw_payload_hash_stamp_and_canonical_values(store):
    stats = stage(store, "salesforce", MUELLER_SF)
    assert stats["staged"] == {"inserted": 1, "changed": 0, "unchanged": 0}
    with store() as session:
        raw = session.scalars(select(SourceRecord)).one()
        canonical = session.scalars(select(CanonicalRecord)).one()
    assert raw.payload["VAT_Number__c"] == "DE 123 456 789"
    assert len(raw.payload_hash) == 64
    assert raw.source_stamp.replace(tzinfo=None).isoformat() == "2026-11-02T10:00:00"
    assert canonical.values["vat_number"] == "DE123456789"
    assert canonical.values["street"] == "Hauptstraße" and canonical.values["house_number"] == "5"


def test_staging_an_unchanged_payload_again_writes_nothing(store):
    stage(store, "sap", MUELLER_SAP)
    stats = stage(store, "sap", MUELLER_SAP)
    assert stats["staged"] == {"inserted": 0, "changed": 0, "unchanged": 1}
    assert stats["canonical"] == {"inserted": 0, "changed": 0, "unchanged": 0}


def test_staging_reads_the_sap_stamp_from_date_and_time(store):
    stats = stage(store, "sap", MUELLER_SAP)
    assert stats["max_stamp"] == "2026-11-01T09:30:00+00:00"


def test_staging_records_unreadable_values_as_problems_without_stopping(store):
    stats = stage(store, "salesforce", account("001000000000009AAA", "Acme Inc", Phone="call me"))
    assert stats["canonical"]["inserted"] == 1
    assert stats["problems"] == {"phone": 1}
    assert stats["problem_examples"][0].startswith("salesforce 001000000000009AAA: phone:")


def test_staging_keeps_the_golden_id_a_record_carries(store):
    golden_id = new_golden_id()
    stage(store, "sap", partner("1000002", "Carrier AG", BusinessPartnerIDByExtSystem=golden_id))
    with store() as session:
        assert session.scalars(select(CanonicalRecord.carried_golden_id)).one() == golden_id


# --- quality -------------------------------------------------------------------------------------------


def test_quality_quarantines_a_record_without_a_name_with_a_readable_reason(store):
    stage(store, "salesforce", account("001000000000002AAA", None, BillingCity="Berlin"))
    stats = pipeline.quality(ENTITY, sessions=store, mapping=MAPPING)
    assert {k: stats[k] for k in ("entity", "checked", "quarantined", "newly_quarantined", "released")} == {
        "entity": ENTITY,
        "checked": 1,
        "quarantined": 1,
        "newly_quarantined": 1,
        "released": 0,
    }
    with store() as session:
        assert session.scalars(select(CanonicalRecord.quarantine_reason)).one() == (
            "expectation failed: name is present (expect_column_values_to_not_be_null)"
        )


def test_quality_releases_a_record_once_it_is_complete(store):
    stage(store, "salesforce", account("001000000000002AAA", None))
    pipeline.quality(ENTITY, sessions=store, mapping=MAPPING)
    stage(store, "salesforce", account("001000000000002AAA", "Fixed GmbH"))
    stats = pipeline.quality(ENTITY, sessions=store, mapping=MAPPING)
    assert (stats["released"], stats["quarantined"]) == (1, 0)


def test_quarantined_records_are_kept_out_of_matching(store):
    stage(store, "salesforce", account("001000000000002AAA", None), MUELLER_SF)
    run_core(store)
    assert set(xref_of(store)) == {("salesforce", MUELLER_SF["Id"])}


def test_quality_leaves_quarantines_of_other_checks_alone(store):
    stage(store, "salesforce", MUELLER_SF)
    with store.begin() as session:
        session.scalars(select(CanonicalRecord)).one().quarantine_reason = "dq: suspicious name"
    stats = pipeline.quality(ENTITY, sessions=store, mapping=MAPPING)
    assert (stats["released"], stats["quarantined"]) == (0, 1)


# --- match and link ------------------------------------------------------------------------------------


def test_records_of_one_company_in_both_systems_share_one_golden_record(store):
    stage(store, "salesforce", MUELLER_SF)
    stage(store, "sap", MUELLER_SAP)
    stats = run_core(store)["match"]
    xref = xref_of(store)
    assert xref[("salesforce", MUELLER_SF["Id"])] == xref[("sap", "1000001")]
    assert (stats["new_golden"], stats["auto_linked"]) == (1, 1)


def test_xref_says_which_rule_linked_each_record(store):
    stage(store, "salesforce", MUELLER_SF)
    stage(store, "sap", MUELLER_SAP, partner("1000003", "Solo Logistik GmbH"))
    run_core(store)
    with store() as session:
        rules = {x.source_key: x.link_rule for x in session.scalars(select(Xref))}
    assert rules == {MUELLER_SF["Id"]: "same_vat", "1000001": "same_vat", "1000003": "new"}


def test_duplicates_inside_one_system_share_a_golden_record_with_two_xrefs_of_that_system(store):
    stage(store, "sap", MUELLER_SAP, partner("1000009", "Müller Maschinenbau GmbH", vat="DE123456789"))
    run_core(store)
    xref = xref_of(store)
    assert xref[("sap", "1000001")] == xref[("sap", "1000009")]
    with store() as session:
        assert session.scalars(select(GoldenRecord)).all().__len__() == 1


def test_matching_again_without_changes_creates_no_golden_records(store):
    stage(store, "salesforce", MUELLER_SF)
    stage(store, "sap", MUELLER_SAP)
    run_core(store)
    again = run_core(store)
    assert (again["match"]["new_golden"], again["match"]["xref_added"], again["match"]["xref_moved"]) == (
        0,
        0,
        0,
    )
    assert (again["merge"]["created"], again["merge"]["changed"], again["merge"]["recomputed"]) == (0, 0, 0)


def test_a_record_carrying_an_existing_golden_id_is_linked_to_it(store):
    stage(store, "salesforce", MUELLER_SF)
    run_core(store)
    golden_id = xref_of(store)[("salesforce", MUELLER_SF["Id"])]
    # E.g. SyncHub created the partner in SAP, and the run died before the xref captured its number.
    stage(
        store,
        "sap",
        partner("1000077", "Completely Different Name SE", BusinessPartnerIDByExtSystem=golden_id),
    )
    stats = run_core(store)["match"]
    assert xref_of(store)[("sap", "1000077")] == golden_id
    assert (stats["linked_by_golden_id"], stats["new_golden"]) == (1, 0)
    with store() as session:
        rule = session.scalars(select(Xref.link_rule).where(Xref.source_key == "1000077")).one()
    assert rule == "golden_id"


def test_a_golden_id_that_is_not_ours_is_ignored(store):
    stage(store, "sap", partner("1000078", "Stranger GmbH", BusinessPartnerIDByExtSystem=new_golden_id()))
    stats = run_core(store)["match"]
    assert (stats["linked_by_golden_id"], stats["new_golden"]) == (0, 1)


def test_a_steward_approving_two_golden_records_merges_them_into_one(store):
    stage(store, "salesforce", account("001000000000003AAA", "Nordlicht Handel GmbH", Phone="+49 431 123456"))
    stage(store, "sap", partner("1000004", "Sonnenschein Vertrieb AG"))
    run_core(store)
    before = xref_of(store)
    sf_golden, sap_golden = before[("salesforce", "001000000000003AAA")], before[("sap", "1000004")]
    assert sf_golden != sap_golden
    with store.begin() as session:
        hashes = dict(
            ((s, k), h)
            for s, k, h in session.execute(
                select(CanonicalRecord.system, CanonicalRecord.source_key, CanonicalRecord.values_hash)
            )
        )
        record_steward_decision(
            session,
            ENTITY,
            ("salesforce", "001000000000003AAA"),
            ("sap", "1000004"),
            "approved",
            "anna",
            hashes,
        )
    stats = run_core(store)
    after = xref_of(store)
    assert after[("salesforce", "001000000000003AAA")] == after[("sap", "1000004")]
    loser = ({sf_golden, sap_golden} - {after[("sap", "1000004")]}).pop()
    assert (golden(store, loser).status, golden(store, loser).merged_into) == (
        "merged",
        after[("sap", "1000004")],
    )
    assert stats["match"]["golden_merged"] == 1
    assert versions(store, after[("sap", "1000004")])[-1][1] == "members changed"


# --- merge ---------------------------------------------------------------------------------------------


def test_merge_provenance_says_which_system_record_and_rule_won(store):
    stage(store, "salesforce", MUELLER_SF)
    stage(store, "sap", MUELLER_SAP)
    run_core(store)
    record = golden(store, xref_of(store)[("sap", "1000001")])
    assert record.values["name"] == "Müller Maschinenbau GmbH"
    assert record.provenance["name"] == {
        "system": "sap",
        "source_key": "1000001",
        "rule": "source_priority[sap]",
        "value": "Müller Maschinenbau GmbH",
    }
    # The CRM owns contact data: its phone wins over the ERP's.
    assert record.values["phone"] == "+49891234567"
    assert record.provenance["phone"]["system"] == "salesforce"
    assert record.provenance["phone"]["rule"] == "source_priority[salesforce]"


def test_a_new_golden_record_gets_version_one_created(store):
    stage(store, "sap", MUELLER_SAP)
    stats = run_core(store)["merge"]
    golden_id = xref_of(store)[("sap", "1000001")]
    assert versions(store, golden_id) == [(1, "created")]
    assert (stats["golden"], stats["created"], stats["changed"]) == (1, 1, 0)


def test_a_source_change_makes_a_new_version_and_no_change_makes_none(store):
    stage(store, "salesforce", MUELLER_SF)
    stage(store, "sap", MUELLER_SAP)
    run_core(store)
    golden_id = xref_of(store)[("sap", "1000001")]
    stage(store, "salesforce", MUELLER_SF | {"Phone": "+49 89 7777777"})
    stats = run_core(store)["merge"]
    assert (stats["changed"], stats["unchanged"]) == (1, 0)
    assert versions(store, golden_id) == [(1, "created"), (2, "source change")]
    assert golden(store, golden_id).values["phone"] == "+49897777777"
    run_core(store)
    assert len(versions(store, golden_id)) == 2


def test_a_change_that_does_not_win_makes_no_new_version(store):
    stage(store, "salesforce", MUELLER_SF)
    stage(store, "sap", MUELLER_SAP)
    run_core(store)
    golden_id = xref_of(store)[("sap", "1000001")]
    stage(
        store,
        "sap",
        MUELLER_SAP
        | {
            "to_BusinessPartnerAddress": [
                MUELLER_SAP["to_BusinessPartnerAddress"][0]
                | {"to_PhoneNumber": [{"PhoneNumber": "089 1111111"}]}
            ]
        },
    )
    stats = run_core(store)["merge"]
    assert (stats["recomputed"], stats["changed"]) == (1, 0)
    assert golden(store, golden_id).version == 1


def test_a_golden_record_without_live_records_is_retired(store):
    stage(store, "sap", MUELLER_SAP)
    run_core(store)
    golden_id = xref_of(store)[("sap", "1000001")]
    with store.begin() as session:
        session.scalars(select(CanonicalRecord)).one().is_deleted = True
    stats = run_core(store)["merge"]
    assert (stats["retired"], golden(store, golden_id).status) == (1, "retired")
    assert xref_of(store) == {("sap", "1000001"): golden_id}  # the xref stays, as history


def test_each_step_logs_a_run_of_its_own_when_called_alone(store):
    stage(store, "sap", MUELLER_SAP)
    run_core(store)
    with store() as session:
        runs = session.execute(select(Run.job, Run.status).order_by(Run.id)).all()
    assert [tuple(r) for r in runs] == [
        ("synchub_customer.quality", "success"),
        ("synchub_customer.match", "success"),
        ("synchub_customer.merge", "success"),
    ]


# --- exports -------------------------------------------------------------------------------------------


def export(command: str) -> list[list[str]]:
    result = CliRunner().invoke(app, [command, "export", "--entity", ENTITY])
    assert result.exit_code == 0, result.output
    return list(csv.reader(io.StringIO(result.stdout)))


def test_xref_export_has_the_exact_header_and_a_row_per_record(store):
    stage(store, "salesforce", MUELLER_SF)
    stage(store, "sap", MUELLER_SAP)
    run_core(store)
    rows = export("xref")
    assert rows[0] == ["golden_id", "system", "entity", "source_key"]
    golden_id = xref_of(store)[("sap", "1000001")]
    assert sorted(rows[1:]) == sorted(
        [[golden_id, "salesforce", ENTITY, MUELLER_SF["Id"]], [golden_id, "sap", ENTITY, "1000001"]]
    )


def test_golden_export_has_id_version_status_values_and_sources(store):
    stage(store, "salesforce", MUELLER_SF)
    stage(store, "sap", MUELLER_SAP)
    run_core(store)
    header, row = export("golden")
    fields = list(MAPPING.model.fields)
    assert header[:3] == ["golden_id", "version", "status"]
    assert header[3 : 3 + len(fields)] == fields
    assert "name__source" in header and "name__rule" in header
    values = dict(zip(header, row, strict=True))
    assert (values["version"], values["status"], values["name"]) == (
        "1",
        "active",
        "Müller Maschinenbau GmbH",
    )
    assert (values["name__source"], values["name__rule"]) == ("sap:1000001", "source_priority[sap]")


@pytest.mark.parametrize("system", ["crm", ""])
def test_stage_payloads_rejects_unknown_systems(system):
    with pytest.raises(ValueError, match="system must be one of"):
        pipeline.stage_payloads(ENTITY, system, [], mapping=MAPPING)  # type: ignore[arg-type]


def test_a_member_without_country_is_read_with_its_clusters_country(store):
    # The CRM copy names no country, so on its own its national phone and its region name are
    # unreadable; its SAP twin (linked by the SAP number the CRM holds) knows the country. The golden
    # record gets them in the first run, not only after SyncHub has written the country to the CRM.
    crm = account(
        "001000000000009AAA",
        "Müller Maschinenbau GmbH",
        BillingStreet="Hauptstr. 5",
        BillingCity="München",
        BillingPostalCode="80331",
        BillingState="Bayern",
        Phone="089 1234567",
        SAP_Customer_Number__c="17100009",
    )
    sap = partner("1000009", "Müller Maschinenbau GmbH", vat="DE123456789", Customer="17100009")
    sap["to_BusinessPartnerAddress"][0]["Region"] = ""
    stage(store, "salesforce", crm)
    stage(store, "sap", sap)
    with store() as session:
        staged = session.scalars(select(CanonicalRecord).where(CanonicalRecord.system == "salesforce")).one()
    assert (staged.values["country"], staged.values["phone"], staged.values["region"]) == (None, None, None)
    run_core(store)
    golden_id = xref_of(store)[("salesforce", "001000000000009AAA")]
    values = golden(store, golden_id).values
    assert values["phone"] == "+49891234567"
    assert (values["region"], values["country"]) == ("BY", "DE")
