"""Match decisions in the store (SQLite and PostgreSQL): kept with evidence, remembered, re-opened."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mdm.match import MatchConfig
from mdm.match.store import (
    list_models,
    load_model,
    load_previous_decisions,
    load_xref,
    match_entity,
    record_steward_decision,
    save_decisions,
    train_entity,
)
from mdm.store.models import CanonicalRecord, GoldenRecord, MatchDecision, Xref
from tests.mdm.test_match_engine import SETTINGS

CONFIG = MatchConfig.from_dict(SETTINGS)
COMPANY = {
    "name": "Müller Maschinenbau GmbH",
    "street": "Hauptstraße",
    "house_number": "5",
    "postal_code": "10115",
    "country": "DE",
}
SF, SAP = ("salesforce", "001A"), ("sap", "1000042")


def _hash(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def add_canonical(session: Session, system: str, key: str, **changes: Any) -> str:
    extra = {k: changes.pop(k) for k in ("is_deleted", "quarantine_reason") if k in changes}
    values = {**COMPANY, **changes}
    session.add(
        CanonicalRecord(
            system=system,
            entity="customer",
            source_key=key,
            values=values,
            values_hash=_hash(values),
            **extra,
        )
    )
    return _hash(values)


def decision_rows(store: sessionmaker[Session]) -> list[MatchDecision]:
    with store() as session:
        return list(session.scalars(select(MatchDecision).order_by(MatchDecision.id)))


def test_a_match_run_keeps_its_decisions_with_evidence(store: sessionmaker[Session]) -> None:
    with store.begin() as session:
        add_canonical(session, *SF)
        add_canonical(session, *SAP)
    result = match_entity(store, "customer", CONFIG, run_id=None)
    [row] = decision_rows(store)
    assert (row.left_system, row.left_key, row.right_system, row.right_key) == (*SF, *SAP)
    assert row.status == "auto_linked" and row.rule == "fuzzy"
    assert row.score == pytest.approx(result.decisions[0].score)
    assert len(row.evidence["levels"]) == len(row.evidence["weights"]) == len(CONFIG.comparisons)
    assert row.evidence["model_version"] == 1  # the settings' pinned model, stored as version 1


def test_quarantined_and_deleted_records_are_left_out(store: sessionmaker[Session]) -> None:
    with store.begin() as session:
        add_canonical(session, *SF)
        add_canonical(session, *SAP, quarantine_reason="name: required")
        add_canonical(session, "sap", "1000043", is_deleted=True)
    result = match_entity(store, "customer", CONFIG)
    assert [c.members for c in result.clusters] == [(SF,)]


def test_rerunning_updates_decisions_instead_of_adding_rows(store: sessionmaker[Session]) -> None:
    with store.begin() as session:
        add_canonical(session, *SF)
        add_canonical(session, *SAP)
    match_entity(store, "customer", CONFIG)
    second = match_entity(store, "customer", CONFIG)
    assert second.stats["decisions_saved"] == {"inserted": 0, "updated": 1, "kept": 0, "removed": 0}
    assert len(decision_rows(store)) == 1


def test_a_steward_rejection_is_remembered_by_the_next_run(store: sessionmaker[Session]) -> None:
    with store.begin() as session:
        hashes = {SF: add_canonical(session, *SF), SAP: add_canonical(session, *SAP)}
    match_entity(store, "customer", CONFIG)
    with store.begin() as session:
        record_steward_decision(session, "customer", SAP, SF, "rejected", "steward@example.com", hashes)
    result = match_entity(store, "customer", CONFIG)
    [row] = decision_rows(store)
    assert (row.status, row.decided_by) == ("rejected", "steward@example.com")
    assert sorted(len(c.members) for c in result.clusters) == [1, 1]


def test_a_rejected_pair_comes_back_to_review_when_a_record_changes(store: sessionmaker[Session]) -> None:
    with store.begin() as session:
        crm = add_canonical(session, *SF, street=None, house_number=None)
        hashes = {SF: crm, SAP: add_canonical(session, *SAP)}
        record_steward_decision(session, "customer", SF, SAP, "rejected", "steward@example.com", hashes)
    with store.begin() as session:
        row = session.scalars(select(CanonicalRecord).where(CanonicalRecord.source_key == SF[1])).one()
        row.values = {**row.values, "phone": "+4930123456"}
        row.values_hash = _hash(row.values)
    match_entity(store, "customer", CONFIG)
    [row] = decision_rows(store)
    assert row.status == "review" and row.decided_by is None


def test_an_approved_pair_is_linked_and_keeps_its_steward_row(store: sessionmaker[Session]) -> None:
    with store.begin() as session:
        hashes = {
            SF: add_canonical(session, *SF, name="Other Name", postal_code="1"),
            SAP: add_canonical(session, *SAP),
        }
        record_steward_decision(session, "customer", SF, SAP, "approved", "steward@example.com", hashes)
    result = match_entity(store, "customer", CONFIG)
    assert [c.members for c in result.clusters] == [(SF, SAP)]
    assert [r.status for r in decision_rows(store)] == ["approved"]


def test_review_rows_a_run_no_longer_produces_are_removed(store: sessionmaker[Session]) -> None:
    with store.begin() as session:
        add_canonical(session, *SF, street=None, house_number=None)
        add_canonical(session, *SAP)
    match_entity(store, "customer", CONFIG)
    assert [r.status for r in decision_rows(store)] == ["review"]
    with store.begin() as session:
        session.add(GoldenRecord(id="G1", entity="customer", values={}, provenance={}))
        for system, key in (SF, SAP):
            session.add(Xref(golden_id="G1", system=system, entity="customer", source_key=key))
    second = match_entity(store, "customer", CONFIG)
    assert second.stats["decisions_saved"]["removed"] == 1
    assert decision_rows(store) == []


def test_the_xref_is_read_back_by_system_and_key(store: sessionmaker[Session]) -> None:
    with store.begin() as session:
        session.add(GoldenRecord(id="G1", entity="customer", values={}, provenance={}))
        session.add(Xref(golden_id="G1", system="sap", entity="customer", source_key="1000042"))
    with store() as session:
        assert load_xref(session, "customer") == {SAP: "G1"}


def test_save_and_load_round_trip_the_hashes(store: sessionmaker[Session]) -> None:
    with store.begin() as session:
        add_canonical(session, *SF)
        add_canonical(session, *SAP)
    result = match_entity(store, "customer", CONFIG)
    with store() as session:
        previous = load_previous_decisions(session, "customer")
    decision = result.decisions[0]
    assert previous[decision.pair].left_hash == decision.left_hash
    assert previous[decision.pair].right_hash == decision.right_hash


def test_a_steward_status_must_be_approve_reject_or_new(store: sessionmaker[Session]) -> None:
    with store() as session, pytest.raises(ValueError, match="status must be one of"):
        record_steward_decision(session, "customer", SF, SAP, "maybe", "x", {SF: "a", SAP: "b"})  # type: ignore[arg-type]


def test_saving_many_decisions_works_in_batches(store: sessionmaker[Session]) -> None:
    with store.begin() as session:
        for n in range(60):  # 30 companies, each in both systems
            add_canonical(session, "salesforce" if n % 2 else "sap", f"K{n:03d}", postal_code=f"{n // 2:05d}")
    match_entity(store, "customer", CONFIG)
    with store.begin() as session:
        assert save_decisions(session, "customer", [])["removed"] == 0
        assert session.scalar(select(func.count()).select_from(MatchDecision)) == 30


# --- models --------------------------------------------------------------------------------------------

LEARNT = MatchConfig.from_dict(
    {
        **SETTINGS,
        "comparisons": [
            {
                **c,
                "levels": [{k: v for k, v in level.items() if k not in ("m", "u")} for level in c["levels"]],
            }
            for c in SETTINGS["comparisons"]
        ],
    }
)


def _companies(session: Session, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        add_canonical(
            session, "salesforce", f"001{n:05d}", name=f"Firma {n} GmbH", postal_code=f"{10000 + n}"
        )
        add_canonical(session, "sap", f"{100000 + n}", name=f"Firma {n} GmbH", postal_code=f"{10000 + n}")


def test_a_match_run_stores_the_model_it_learnt_and_the_next_run_uses_it(store) -> None:
    with store.begin() as session:
        _companies(session, 40)
    first = match_entity(store, "customer", LEARNT)
    second = match_entity(store, "customer", LEARNT)
    assert first.stats["model_learnt"] == "no model learnt for these settings yet"
    assert "model_learnt" not in second.stats and second.model.version == first.model.version == 1
    with store() as session:
        assert list_models(session, "customer")[0]["records"] == 80


def test_a_model_is_learnt_again_when_the_data_has_moved(store) -> None:
    with store.begin() as session:
        _companies(session, 40)
    match_entity(store, "customer", LEARNT)
    with store.begin() as session:
        _companies(session, 20, start=40)  # +50 % records
    again = match_entity(store, "customer", LEARNT)
    assert again.model.version == 2 and again.stats["model_learnt"].startswith("the data has moved: 120")


def test_a_model_learnt_for_other_settings_is_not_used(store) -> None:
    with store.begin() as session:
        _companies(session, 40)
    match_entity(store, "customer", LEARNT)
    other = MatchConfig.from_dict({**LEARNT.to_dict(), "max_block_size": 7})
    again = match_entity(store, "customer", other)
    assert again.model.version == 2 and again.model.fits(other)
    with store() as session:
        assert load_model(session, "customer", LEARNT).version == 1


def test_train_entity_keeps_a_new_version_with_who_asked(store) -> None:
    with store.begin() as session:
        _companies(session, 40)
    model = train_entity(store, "customer", LEARNT, trained_by="steward.ivy")
    with store() as session:
        rows = list_models(session, "customer")
    assert model.version == 1 and (rows[0]["trained_by"], rows[0]["reason"]) == ("steward.ivy", "asked for")
