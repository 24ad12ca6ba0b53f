"""The pipeline core against seeded sandboxes: extraction through the real connectors over HTTPS.

Each test starts fresh sandboxes (``sandbox_factory``) from one small seed written once per module;
the connectors are built from the Airflow connections they publish, as the DAG builds them. Tests
change sandbox data directly (``org.update``, ``sap.update``) only to play the part of other users.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connectors.base import EntitySource, Page
from connectors.salesforce import SalesforceConnector, SalesforceSettings
from connectors.sap import SapConnector
from mdm import pipeline
from mdm.config import DEFAULT_DIR, load_mapping
from mdm.store.models import CanonicalRecord, SourceRecord, Watermark, Xref
from sandbox.datadir import SandboxData, write_data_dir
from sandbox.sap.model import find_set
from sandbox.seed import BP_SERVICE, SeedOptions, generate

MAPPING = load_mapping(DEFAULT_DIR / "customer.yaml")
ENTITY = "customer"
SEED = SeedOptions(seed=42, customers=150, products=0, orders=0)
PARTNERS = find_set("A_BusinessPartner")


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SandboxData, dict[str, Any]]:
    """The seed as a data folder (loaded by each test's fresh sandboxes), its data and its truth."""
    data, truth = generate(SEED)
    directory = tmp_path_factory.mktemp("pipeline-seed")
    write_data_dir(directory, data)
    return directory, data, truth


def extract(store, system: str, **options: Any) -> dict[str, Any]:
    return pipeline.extract(ENTITY, system, sessions=store, mapping=MAPPING, **options)  # type: ignore[arg-type]


def extract_both(store, **options: Any) -> None:
    extract(store, "salesforce", **options)
    extract(store, "sap", **options)


def run_core(store) -> dict[str, dict[str, Any]]:
    return {
        "quality": pipeline.quality(ENTITY, sessions=store, mapping=MAPPING),
        "match": pipeline.match(ENTITY, sessions=store, mapping=MAPPING),
        "merge": pipeline.merge(ENTITY, sessions=store, mapping=MAPPING),
    }


def staged(store, system: str) -> dict[str, SourceRecord]:
    with store() as session:
        rows = session.scalars(select(SourceRecord).where(SourceRecord.system == system))
        return {r.source_key: r for r in rows}


def canonical(store, system: str, key: str) -> CanonicalRecord:
    with store() as session:
        return session.scalars(
            select(CanonicalRecord).where(CanonicalRecord.system == system, CanonicalRecord.source_key == key)
        ).one()


def watermark_of(store, system: str) -> dt.datetime | None:
    with store() as session:
        mark = session.get(Watermark, (system, ENTITY))
        return None if mark is None else mark.value.replace(tzinfo=dt.UTC)


def xref_of(store) -> dict[tuple[str, str], tuple[str, str | None]]:
    with store() as session:
        return {(x.system, x.source_key): (x.golden_id, x.link_rule) for x in session.scalars(select(Xref))}


class Crash(Exception):
    """The extraction died, e.g. the worker was killed."""


class CrashingConnector:
    """The real connector, killed after ``pages`` pages have been handed out."""

    def __init__(self, connector: Any, pages: int) -> None:
        self.connector, self.pages = connector, pages
        self.system, self.usage = connector.system, connector.usage
        self.handed_out: list[Page] = []

    def extract_changed(self, entity: EntitySource, since: dt.datetime | None) -> Iterator[Page]:
        for page in self.connector.extract_changed(entity, since):
            if len(self.handed_out) == self.pages:
                raise Crash("killed")
            self.handed_out.append(page)
            yield page

    def extract_all_keys(self, entity: EntitySource) -> Iterator[list[str]]:
        return self.connector.extract_all_keys(entity)


# --- extract -------------------------------------------------------------------------------------------


def test_full_extract_stages_and_maps_every_record_of_both_systems(store, sandbox_factory, seed):
    directory, data, _ = seed
    sandbox_factory(data_dir=directory)
    sf = extract(store, "salesforce")
    sap = extract(store, "sap")
    accounts = len(data.salesforce["Account"])
    partners = len(data.sap[BP_SERVICE]["A_BusinessPartner"])
    assert (sf["records"], sf["staged"]["inserted"], sf["canonical"]["inserted"]) == (accounts,) * 3
    assert (sap["records"], sap["staged"]["inserted"], sap["canonical"]["inserted"]) == (partners,) * 3
    newest = max(r.source_stamp for r in staged(store, "salesforce").values()).replace(tzinfo=dt.UTC)
    assert watermark_of(store, "salesforce") == newest


def test_incremental_extract_stages_only_what_changed(store, sandbox_factory, seed):
    directory, data, _ = seed
    sandboxes = sandbox_factory(data_dir=directory)
    extract_both(store)
    account = data.salesforce["Account"][0]["Id"]
    bp = data.sap[BP_SERVICE]["A_BusinessPartner"][0]["BusinessPartner"]
    sandboxes.org.update("Account", account, {"Phone": "+49 30 5550123"})
    sandboxes.sap.update(
        PARTNERS, {"BusinessPartner": bp}, {"OrganizationBPName1": "Renamed AG"}, user="OUTSIDE"
    )
    sf = extract(store, "salesforce")
    sap = extract(store, "sap")
    assert sf["staged"] == {"inserted": 0, "changed": 1, "unchanged": sf["records"] - 1}
    assert sap["staged"] == {"inserted": 0, "changed": 1, "unchanged": sap["records"] - 1}
    # The watermarks held: only records changed since (minus the look-back) were read again.
    assert sf["records"] < 10 and sap["records"] < len(data.sap[BP_SERVICE]["A_BusinessPartner"]) / 2
    assert canonical(store, "salesforce", account).values["phone"] == "+49305550123"
    assert canonical(store, "sap", bp).values["name"] == "Renamed AG"


def test_salesforce_watermark_never_passes_a_record_not_yet_stored(store, sandbox_factory, seed):
    directory, _, _ = seed
    sandboxes = sandbox_factory(data_dir=directory)
    for i in range(100):  # 250 accounts: two query pages of 200
        sandboxes.org.insert("Account", {"Name": f"Late Company {i} Ltd"})
    crashing = CrashingConnector(
        SalesforceConnector.from_airflow(settings=SalesforceSettings(query_page_size=200)), pages=1
    )
    with pytest.raises(Crash):
        extract(store, "salesforce", connector=crashing)
    stored = staged(store, "salesforce")
    stamps = {
        a["Id"]: dt.datetime.fromisoformat(a["SystemModstamp"].replace("+0000", "+00:00"))
        for a in sandboxes.org.live_records("Account")
    }
    assert len(stored) == 200
    mark = watermark_of(store, "salesforce")
    assert mark is not None
    assert all(mark <= stamps[key] for key in stamps.keys() - stored.keys())
    again = extract(store, "salesforce")
    assert len(staged(store, "salesforce")) == 250
    assert again["staged"]["inserted"] == 50


def test_sap_watermark_moves_only_after_the_last_page(store, sandbox_factory, seed):
    directory, _, _ = seed
    sandbox_factory(data_dir=directory, page_size=40)
    crashing = CrashingConnector(SapConnector.from_airflow(), pages=2)
    with pytest.raises(Crash):
        extract(store, "sap", connector=crashing)
    assert len(staged(store, "sap")) == 80
    assert watermark_of(store, "sap") is None  # SAP pages are not ordered by stamp


def test_watermark_never_passes_the_start_of_the_extraction(store, sandbox_factory, seed):
    directory, data, _ = seed
    sandboxes = sandbox_factory(data_dir=directory)
    # Clock skew: the org's clock runs an hour ahead of ours, so its stamps lie in our future.
    sandboxes.org._clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    sandboxes.org.update("Account", data.salesforce["Account"][0]["Id"], {"Phone": "+49 30 5550199"})
    before = dt.datetime.now(dt.UTC)
    extract(store, "salesforce")
    assert before <= watermark_of(store, "salesforce") <= dt.datetime.now(dt.UTC)


def test_a_record_deleted_in_salesforce_arrives_deleted_incrementally(store, sandbox_factory, seed):
    directory, data, _ = seed
    sandboxes = sandbox_factory(data_dir=directory)
    extract(store, "salesforce")
    gone = data.salesforce["Account"][3]["Id"]
    sandboxes.org.delete("Account", gone)
    stats = extract(store, "salesforce")
    assert stats["deleted"] == 1
    assert canonical(store, "salesforce", gone).is_deleted
    assert staged(store, "salesforce")[gone].is_deleted


def test_full_extract_marks_records_gone_from_the_system_deleted(store, sandbox_factory, seed, tmp_path):
    directory, data, _ = seed
    sandbox_factory(data_dir=directory)
    extract(store, "sap")
    run_core(store)
    # The partner is archived in SAP: it is gone from the API, with no tombstone.
    sets = data.sap[BP_SERVICE]
    gone = sets["A_BusinessPartner"][0]["BusinessPartner"]
    addresses = {a["AddressID"] for a in sets["A_BusinessPartnerAddress"] if a["BusinessPartner"] == gone}
    reduced = {
        name: [
            row
            for row in rows
            if row.get("BusinessPartner", row.get("Customer")) != gone
            and row.get("AddressID") not in addresses
        ]
        for name, rows in sets.items()
    }
    write_data_dir(tmp_path, SandboxData(salesforce=data.salesforce, sap={BP_SERVICE: reduced}))
    sandbox_factory(data_dir=tmp_path)
    incremental = extract(store, "sap")
    assert incremental["deleted"] == 0  # SAP has no tombstones: only the key set tells
    full = extract(store, "sap", full=True)
    assert (full["deleted"], full["reconciled_deletes"]) == (1, 1)
    assert canonical(store, "sap", gone).is_deleted
    assert run_core(store)["merge"]["retired"] == 1


def test_full_extract_refuses_to_delete_most_records_at_once(store, sandbox_factory, seed, tmp_path):
    directory, data, _ = seed
    sandbox_factory(data_dir=directory)
    extract(store, "salesforce")
    write_data_dir(tmp_path, SandboxData(salesforce={"Account": data.salesforce["Account"][:5]}, sap={}))
    sandbox_factory(data_dir=tmp_path)
    with pytest.raises(pipeline.ExtractError, match="refusing to mark them deleted"):
        extract(store, "salesforce", full=True)


# --- match against the truth ---------------------------------------------------------------------------


def truth_company(truth: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (system, key): company["entity_id"]
        for company in truth["customers"]
        for system in ("salesforce", "sap")
        for key in company[system]
    }


def test_one_golden_record_per_company_as_the_truth_says(store, sandbox_factory, seed):
    directory, _, truth = seed
    sandbox_factory(data_dir=directory)
    extract_both(store)
    stats = run_core(store)
    xref = xref_of(store)
    company = truth_company(truth)
    members: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for ref, (golden_id, _) in xref.items():
        members[golden_id].append(ref)
    predicted = {tuple(sorted(p)) for refs in members.values() for p in itertools.combinations(refs, 2)}
    true_pairs = {
        tuple(sorted(p))
        for refs in _group(company).values()
        for p in itertools.combinations(refs, 2)
        if all(r in xref for r in p)
    }
    assert len(predicted & true_pairs) / len(predicted) >= 0.99  # precision
    assert len(predicted & true_pairs) / len(true_pairs) >= 0.9  # recall on the small seed
    assert stats["match"]["new_golden"] == len(members) == stats["merge"]["created"]
    # Within-system duplicates found end in one golden record with two xrefs of the same system.
    same_system = [refs for refs in members.values() if len({s for s, _ in refs}) < len(refs)]
    assert same_system
    assert all(len({company[r] for r in refs}) == 1 for refs in same_system)


def _group(company: dict[tuple[str, str], str]) -> dict[str, list[tuple[str, str]]]:
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for ref, entity_id in company.items():
        groups[entity_id].append(ref)
    return groups


def test_a_record_created_with_a_golden_id_links_to_that_golden_record(store, sandbox_factory, seed):
    directory, data, _ = seed
    sandboxes = sandbox_factory(data_dir=directory)
    extract_both(store)
    run_core(store)
    bp = data.sap[BP_SERVICE]["A_BusinessPartner"][0]["BusinessPartner"]
    golden_id = xref_of(store)[("sap", bp)][0]
    # SyncHub created the account, and the run died before the xref captured its Id.
    created = sandboxes.org.insert("Account", {"Name": "Quite Another Name Ltd", "SyncHub_Id__c": golden_id})
    extract(store, "salesforce")
    stats = run_core(store)
    assert xref_of(store)[("salesforce", created)] == (golden_id, "golden_id")
    assert (stats["match"]["linked_by_golden_id"], stats["match"]["new_golden"]) == (1, 0)
