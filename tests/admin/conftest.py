"""Fixtures of the admin view's tests: a small, consistent store.

Two customer records of one company (CRM and ERP) merged into a golden record with provenance, a third
record in the review band against one of them, a rejected write in the error queue, a run and its DQ
results, all written through the models.
"""

from __future__ import annotations

import pytest

from mdm.config import DEFAULT_DIR, load_mapping
from mdm.match import MatchRecord
from mdm.match.engine import explain, learn_model
from mdm.match.store import save_model
from mdm.pipeline import values_hash
from mdm.stats import Outcome, StepStats
from mdm.store.models import (
    CanonicalRecord,
    DeadLetter,
    DqResult,
    GoldenRecord,
    GoldenRecordVersion,
    MatchDecision,
    Run,
    Xref,
)

GOLDEN = "SH-ABCDEFGHIJKLMNOP"
CRM = {"name": "Müller Maschinenbau GmbH", "city": "Stuttgart", "country": "DE", "phone": "+49 711 123456"}
ERP = {"name": "Mueller Maschinenbau GmbH", "city": "Stuttgart", "country": "DE", "vat_number": "DE123456789"}
DUPLICATE = {"name": "Müller Maschinenbau", "city": "Stuttgart", "country": "DE"}


def canonical(system: str, key: str, values: dict) -> CanonicalRecord:
    return CanonicalRecord(
        system=system, entity="customer", source_key=key, values=values, values_hash=values_hash(values)
    )


def review_evidence(session) -> dict:
    """The review pair's evidence as a match run gives it: a model learnt from the three records and
    stored as version 1, and the pair scored with it."""
    config = load_mapping(DEFAULT_DIR / "customer.yaml").match
    records = [
        MatchRecord("salesforce", "001A", CRM, values_hash(CRM)),
        MatchRecord("sap", "1000001", ERP, values_hash(ERP)),
        MatchRecord("salesforce", "001B", DUPLICATE, values_hash(DUPLICATE)),
    ]
    model = learn_model(records, config)
    save_model(session, "customer", model, "no model learnt for these settings yet", "match step")
    pair = (("salesforce", "001B"), ("sap", "1000001"))
    return explain(records, config, model, [pair])[pair] | {"rule": "fuzzy"}


@pytest.fixture
def stocked(store):
    """The store with one golden customer, one review pair, one open error, a run and DQ results."""
    values = {"name": ERP["name"], "city": "Stuttgart", "country": "DE", "phone": CRM["phone"]}
    provenance = {
        "name": {"system": "sap", "source_key": "1000001", "rule": "source_priority", "value": ERP["name"]},
        "city": {"system": "sap", "source_key": "1000001", "rule": "most_recent", "value": "Stuttgart"},
        "country": {"system": "sap", "source_key": "1000001", "rule": "source_priority", "value": "DE"},
        "phone": {
            "system": "salesforce",
            "source_key": "001A",
            "rule": "source_priority",
            "value": CRM["phone"],
        },
    }
    with store.begin() as session:
        run = Run(job="synchub_customer", entity="customer", status="success", stats={})
        session.add(run)
        session.flush()
        match = StepStats("match", "match", "customer", outcome=Outcome(read=3, matched=1, new=2, review=1))
        run.stats = {"steps": {"match": match.to_json()}}
        run.finished_at = run.started_at
        session.add_all(
            [
                canonical("salesforce", "001A", CRM),
                canonical("sap", "1000001", ERP),
                canonical("salesforce", "001B", DUPLICATE),
                GoldenRecord(id=GOLDEN, entity="customer", values=values, provenance=provenance, version=1),
            ]
        )
        session.flush()
        session.add_all(
            [
                GoldenRecordVersion(
                    golden_id=GOLDEN, version=1, values=values, provenance=provenance, reason="created"
                ),
                Xref(
                    golden_id=GOLDEN,
                    system="salesforce",
                    entity="customer",
                    source_key="001A",
                    link_rule="vat",
                ),
                Xref(
                    golden_id=GOLDEN, system="sap", entity="customer", source_key="1000001", link_rule="new"
                ),
                MatchDecision(
                    entity="customer",
                    left_system="salesforce",
                    left_key="001B",
                    right_system="sap",
                    right_key="1000001",
                    score=0.81,
                    rule="fuzzy",
                    evidence=review_evidence(session),
                    status="review",
                    left_hash=values_hash(DUPLICATE),
                    right_hash=values_hash(ERP),
                    run_id=run.id,
                ),
                DeadLetter(
                    entity="customer",
                    system="sap",
                    operation="update",
                    record_key=GOLDEN,
                    code="CX_SADL_ENTITY_SRV/001",
                    message="Tax number DE123 is not valid for country DE",
                    payload={"OrganizationBPName1": ERP["name"]},
                    run_id=run.id,
                ),
                DqResult(
                    run_id=run.id,
                    entity="customer",
                    suite="customer.source",
                    system="sap",
                    expectation="expect_column_values_to_not_be_null(name)",
                    column="name",
                    checked=3,
                    failed=0,
                    success=True,
                ),
                DqResult(
                    run_id=run.id,
                    entity="customer",
                    suite="customer.source",
                    system="sap",
                    expectation="expect_column_values_to_match_regex(vat_number)",
                    column="vat_number",
                    checked=3,
                    failed=1,
                    success=False,
                ),
            ]
        )
    return store
