"""The match engine on small, hand-made canonical records: rules, levels, bands, clusters, memory.

Weights of the settings below (prior 0.01, i.e. -6.63): name exact +9.81, name jaro-winkler >= 0.9
+3.0, name else -5.63; street exact +6.49, street else -3.29. So name and street exact link
automatically (p 0.999), an exact name alone or a close name with the same street goes to review
(p ~0.9), anything weaker is a new golden record.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import pytest

from mdm.match import MatchConfig, MatchRecord, MatchResult, PreviousDecision, match_records, pair_key

SETTINGS: dict[str, Any] = {
    "prior": 0.01,
    "thresholds": {"high": 0.95, "low": 0.5},
    "max_block_size": 50,
    "deterministic": [
        {"name": "same_vat", "keys": [{"field": "vat_number", "transform": "vat"}]},
        {
            "name": "erp_number_in_crm",
            "keys": [{"field": "erp_customer_number", "transform": "strip_leading_zeros"}],
            "systems": ["salesforce", "sap"],
        },
        {"name": "same_duns", "keys": [{"field": "duns", "transform": "digits"}]},
    ],
    "blocking": [
        {
            "name": "postal_code",
            "keys": [
                {"field": "country", "transform": "upper"},
                {"field": "postal_code", "transform": "postal"},
            ],
        }
    ],
    "comparisons": [
        {
            "name": "name",
            "field": "name",
            "transform": "name_core",
            "levels": [
                {"kind": "null"},
                {"kind": "exact", "m": 0.9, "u": 0.001},
                {"kind": "jaro_winkler", "threshold": 0.9, "m": 0.08, "u": 0.01},
                {"kind": "else", "m": 0.02, "u": 0.989},
            ],
        },
        {
            "name": "street",
            "fields": ["street", "house_number"],
            "transform": "street_address",
            "levels": [
                {"kind": "null"},
                {"kind": "exact", "m": 0.9, "u": 0.01},
                {"kind": "else", "m": 0.1, "u": 0.99},
            ],
        },
    ],
}
CONFIG = MatchConfig.from_dict(SETTINGS)
EVERY_PAIR = MatchConfig.from_dict(
    {**SETTINGS, "thresholds": {"high": 1.0, "low": 0.0}}
)  # all scored pairs kept
BASE = {
    "name": "Müller Maschinenbau GmbH",
    "street": "Hauptstraße",
    "house_number": "5",
    "postal_code": "10115",
}


def rec(system: str, key: str, **values: Any) -> MatchRecord:
    """A canonical record: BASE (a German company) with the given changes."""
    merged = {"country": "DE", **BASE, **values}
    digest = hashlib.sha256(json.dumps(merged, sort_keys=True).encode()).hexdigest()
    return MatchRecord(system, key, merged, digest)


def together(result: MatchResult, *refs: tuple[str, str]) -> bool:
    return any(set(refs) <= set(cluster.members) for cluster in result.clusters)


def decision_for(result: MatchResult, a: tuple[str, str], b: tuple[str, str]):
    return next((d for d in result.decisions if d.pair == pair_key(a, b)), None)


SF, SAP = ("salesforce", "001A"), ("sap", "1000042")


# --- fuzzy rules and levels ---------------------------------------------------------------------------


def test_same_name_and_street_link_automatically() -> None:
    result = match_records([rec(*SF, name="MUELLER Maschinenbau Gesellschaft mbH"), rec(*SAP)], CONFIG)
    decision = decision_for(result, SF, SAP)
    assert together(result, SF, SAP)
    assert decision.band == "auto" and decision.status == "auto_linked" and decision.rule == "fuzzy"
    weights = math.log2(0.9 / 0.001) + math.log2(0.9 / 0.01)
    assert decision.score == pytest.approx(1 / (1 + 99 * 2**-weights), abs=1e-6)


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("Müller Maschinenbau AG", "exact"),
        ("Müler Maschinenbau GmbH", "jaro_winkler >= 0.9"),
        ("Schulze Logistik GmbH", "else"),
        (None, "null"),
    ],
)
def test_each_name_level_is_hit_in_order(name: str | None, level: str) -> None:
    result = match_records([rec(*SF, name=name), rec(*SAP)], EVERY_PAIR)
    evidence = decision_for(result, SF, SAP).evidence
    assert evidence["comparisons"][0]["comparison"] == "name"
    assert evidence["comparisons"][0]["level"] == level


@pytest.mark.parametrize(
    ("street", "house_number", "level"),
    [("Hauptstr.", "5", "exact"), ("Hauptstraße", "7", "else"), (None, None, "null")],
)
def test_each_street_level_is_hit_in_order(street: str | None, house_number: str | None, level: str) -> None:
    result = match_records([rec(*SF, street=street, house_number=house_number), rec(*SAP)], EVERY_PAIR)
    assert decision_for(result, SF, SAP).evidence["comparisons"][1]["level"] == level


def test_a_score_between_the_thresholds_goes_to_review() -> None:
    result = match_records([rec(*SF, street=None, house_number=None), rec(*SAP)], CONFIG)
    decision = decision_for(result, SF, SAP)
    assert decision.band == "review" and decision.status == "review"
    assert CONFIG.low <= decision.score < CONFIG.high
    assert not together(result, SF, SAP)


def test_a_score_below_low_makes_a_new_golden_record() -> None:
    result = match_records([rec(*SF, name="Schulze Logistik GmbH"), rec(*SAP)], CONFIG)
    assert result.decisions == []
    assert sorted(len(c.members) for c in result.clusters) == [1, 1]


def test_records_outside_every_block_are_never_compared() -> None:
    result = match_records([rec(*SF, postal_code="80331"), rec(*SAP)], CONFIG)
    assert result.stats["scored_pairs"] == 0
    assert not together(result, SF, SAP)


def test_evidence_names_level_values_and_weight_of_every_comparison() -> None:
    result = match_records([rec(*SF, street="Hauptstr.", house_number="5"), rec(*SAP)], CONFIG)
    evidence = decision_for(result, SF, SAP).evidence
    street = evidence["comparisons"][1]
    assert street == {
        "comparison": "street",
        "level": "exact",
        "left": "hauptstr 5",
        "right": "hauptstr 5",
        "weight": round(math.log2(0.9 / 0.01), 3),
    }
    assert evidence["total_weight"] == pytest.approx(
        sum(c["weight"] for c in evidence["comparisons"]), abs=1e-3
    )
    assert evidence["rule"] == "fuzzy"


def test_blocks_larger_than_max_block_size_are_skipped() -> None:
    config = MatchConfig.from_dict({**SETTINGS, "max_block_size": 2})
    records = [rec("sap", str(n)) for n in range(3)]
    result = match_records(records, config)
    assert result.stats["candidate_pairs"]["postal_code"] == 0


# --- deterministic rules ------------------------------------------------------------------------------


def test_same_vat_links_records_in_different_blocks() -> None:
    result = match_records(
        [
            rec(*SF, vat_number="DE 123 456 789", postal_code="80331", name="MM GmbH"),
            rec(*SAP, vat_number="DE123456789"),
        ],
        CONFIG,
    )
    decision = decision_for(result, SF, SAP)
    assert together(result, SF, SAP)
    assert (decision.rule, decision.score, decision.band) == ("same_vat", 1.0, "auto")
    assert decision.evidence["keys"]["vat_number"] == "123456789"


def test_erp_number_in_the_crm_links_to_that_sap_partner() -> None:
    crm = rec(*SF, erp_customer_number="0001000042", name="Other name", postal_code="80331")
    erp = rec(*SAP, erp_customer_number="1000042")
    result = match_records([crm, erp], CONFIG)
    assert together(result, SF, SAP)
    assert decision_for(result, SF, SAP).rule == "erp_number_in_crm"


def test_erp_number_rule_pairs_only_across_its_two_systems() -> None:
    first = rec("salesforce", "001A", erp_customer_number="1000042", name="Alpha", postal_code="1")
    second = rec("salesforce", "001B", erp_customer_number="1000042", name="Beta", postal_code="2")
    result = match_records([first, second], CONFIG)
    assert not together(result, ("salesforce", "001A"), ("salesforce", "001B"))


def test_same_duns_links() -> None:
    result = match_records(
        [rec(*SF, duns="123456789", name="X", postal_code="1"), rec(*SAP, duns="123456789")], CONFIG
    )
    assert decision_for(result, SF, SAP).rule == "same_duns"


def test_a_pair_found_by_several_rules_is_scored_once_under_the_first() -> None:
    result = match_records([rec(*SF, vat_number="DE123456789"), rec(*SAP, vat_number="DE123456789")], CONFIG)
    assert result.stats["candidate_pairs"] == {
        "same_vat": 1,
        "erp_number_in_crm": 0,
        "same_duns": 0,
        "postal_code": 0,
    }
    assert len(result.decisions) == 1


# --- duplicates inside one system, clusters -------------------------------------------------------------


def test_duplicates_inside_one_system_are_linked() -> None:
    result = match_records(
        [rec("sap", "1"), rec("sap", "2", name="Mueller Maschinenbau"), rec("salesforce", "001X")], CONFIG
    )
    assert together(result, ("sap", "1"), ("sap", "2"), ("salesforce", "001X"))
    assert len(result.clusters) == 1


def test_auto_links_chain_into_one_cluster() -> None:
    a = rec("salesforce", "001A", vat_number="DE111111111", name="First")
    b = rec("sap", "1", vat_number="DE111111111", duns="123456789", name="Second")
    c = rec("salesforce", "001C", duns="123456789", name="Third")
    result = match_records([a, b, c], CONFIG)
    assert together(result, ("salesforce", "001A"), ("sap", "1"), ("salesforce", "001C"))


def test_every_record_ends_in_exactly_one_cluster() -> None:
    records = [rec(*SF), rec(*SAP), rec("sap", "9", name="Someone Else", postal_code="99999")]
    result = match_records(records, CONFIG)
    members = [m for c in result.clusters for m in c.members]
    assert sorted(members) == sorted(r.ref for r in records)


def test_the_same_record_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="given twice"):
        match_records([rec(*SF), rec(*SF)], CONFIG)


# --- xref --------------------------------------------------------------------------------------------


def test_records_in_the_xref_stay_linked_whatever_they_look_like() -> None:
    result = match_records(
        [rec(*SF, name="Completely Different", postal_code="1"), rec(*SAP)],
        CONFIG,
        xref={SF: "G1", SAP: "G1"},
    )
    assert result.clusters == [result.clusters[0]] and result.clusters[0].golden_ids == ("G1",)
    assert result.stats["scored_pairs"] == 0


def test_a_new_record_joins_the_golden_record_of_its_match() -> None:
    result = match_records([rec(*SF), rec(*SAP)], CONFIG, xref={SAP: "G1"})
    assert together(result, SF, SAP)
    assert next(c for c in result.clusters if SF in c.members).golden_ids == ("G1",)


def test_a_link_between_two_golden_records_goes_to_review_instead() -> None:
    result = match_records([rec(*SF), rec(*SAP, vat_number="X")], CONFIG, xref={SF: "G1", SAP: "G2"})
    decision = decision_for(result, SF, SAP)
    assert not together(result, SF, SAP)
    assert decision.band == "review" and decision.score >= CONFIG.high
    assert decision.evidence["note"] == "would join golden records G1, G2"


def test_a_cluster_does_not_join_two_golden_records_through_a_third_record() -> None:
    new = rec("salesforce", "001N")
    result = match_records([rec(*SF), rec(*SAP), new], CONFIG, xref={SF: "G1", SAP: "G2"})
    golden_sets = [c.golden_ids for c in result.clusters]
    assert ("G1", "G2") not in golden_sets
    assert sorted(golden_sets) == [("G1",), ("G2",)]


# --- remembered decisions -----------------------------------------------------------------------------


def _previous(status: str, left: MatchRecord, right: MatchRecord) -> dict:
    pair = pair_key(left.ref, right.ref)
    hashes = {left.ref: left.values_hash, right.ref: right.values_hash}
    return {pair: PreviousDecision(status, hashes[pair[0]], hashes[pair[1]], "steward@example.com")}


@pytest.mark.parametrize("status", ["rejected", "new"])
def test_a_rejected_pair_stays_apart_and_out_of_the_queue(status: str) -> None:
    crm, erp = rec(*SF), rec(*SAP)
    result = match_records([crm, erp], CONFIG, previous=_previous(status, crm, erp))
    assert not together(result, SF, SAP)
    assert decision_for(result, SF, SAP) is None
    assert result.stats["kept_apart"] == 1


def test_a_rejected_pair_is_reopened_when_either_record_changes() -> None:
    crm, erp = rec(*SF), rec(*SAP)
    previous = _previous("rejected", crm, erp)
    changed = rec(*SAP, phone="+4930123456")  # a change the comparisons do not see
    result = match_records([crm, changed], CONFIG, previous=previous)
    assert decision_for(result, SF, SAP) is not None


def test_an_approved_pair_is_linked_even_when_it_scores_low() -> None:
    crm, erp = rec(*SF, name="Schulze Logistik GmbH", postal_code="99999"), rec(*SAP)
    result = match_records([crm, erp], CONFIG, previous=_previous("approved", crm, erp))
    assert together(result, SF, SAP)
    assert decision_for(result, SF, SAP) is None  # the steward's row stays as it is


def test_an_approved_pair_may_join_two_golden_records() -> None:
    crm, erp = rec(*SF), rec(*SAP)
    result = match_records(
        [crm, erp], CONFIG, xref={SF: "G1", SAP: "G2"}, previous=_previous("approved", crm, erp)
    )
    assert next(c for c in result.clusters if SF in c.members).golden_ids == ("G1", "G2")


def test_a_review_pair_already_linked_through_other_records_leaves_the_queue() -> None:
    crm = rec(*SF, street=None, house_number=None, vat_number="DE111111111")  # name only: review band
    erp = rec(*SAP, vat_number="DE111111111")
    result = match_records([crm, erp], MatchConfig.from_dict({**SETTINGS, "deterministic": []}))
    assert decision_for(result, SF, SAP).band == "review"
    result = match_records([crm, erp], CONFIG)
    assert decision_for(result, SF, SAP).rule == "same_vat"
