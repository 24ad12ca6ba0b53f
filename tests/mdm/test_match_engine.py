"""The match engine on small, hand-made canonical records: rules, levels, bands, constraints, clusters.

The settings below pin every value (prior 0.01, i.e. -6.63), so scores are known in advance: name exact
+9.81, name jaro-winkler >= 0.9 +3.0, name else -5.63; street exact +6.49, street else -3.29; the VAT,
DUNS and ERP-number comparisons count a shared key strongly. So name and street exact link
automatically (p 0.999), an exact name alone or a close name with the same street goes to review
(p ~0.9), anything weaker is a new golden record. Learnt parameters are tested in test_match_training.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import pytest

from mdm.match import MatchConfig, MatchRecord, MatchResult, PreviousDecision, match_records, pair_key
from mdm.match.evidence import describe

SETTINGS: dict[str, Any] = {
    "prior": 0.01,
    "thresholds": {"high": 0.95, "low": 0.5, "target_precision": 0.9},
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
        *(
            {
                "name": name,
                "field": field,
                "transform": transform,
                "levels": [
                    {"kind": "null"},
                    {"kind": "exact", "m": 0.95, "u": 0.00001},
                    {"kind": "else", "m": 0.05, "u": 0.99999},
                ],
            }
            for name, field, transform in (
                ("vat", "vat_number", "vat"),
                ("duns", "duns", "digits"),
                ("erp_number", "erp_customer_number", "strip_leading_zeros"),
            )
        ),
    ],
}
CONFIG = MatchConfig.from_dict(SETTINGS)
EVERY_PAIR = MatchConfig.from_dict(
    {**SETTINGS, "thresholds": {"high": 1.0, "low": 0.0, "target_precision": 0.5}}
)  # all scored pairs kept
CONSTRAINED = MatchConfig.from_dict(
    {
        **SETTINGS,
        "cannot_link": [
            {"name": "different_vat", "fields": ["vat_number", "country"], "kind": "tax_id"},
            {
                "name": "different_erp_number",
                "field": "erp_customer_number",
                "transform": "strip_leading_zeros",
                "kind": "reference",
                "owner": "sap",
            },
        ],
        "review_when": [
            {"name": "different_legal_form", "field": "legal_form", "transform": "upper", "max_edits": 0}
        ],
    }
)
BASE = {
    "name": "Müller Maschinenbau GmbH",
    "street": "Hauptstraße",
    "house_number": "5",
    "postal_code": "10115",
}
# Checksum-valid German VAT ids (python-stdnum), and one with a typo (checksum fails).
VAT_A, VAT_B, VAT_A_TYPO = "DE136695976", "DE129274202", "DE136695977"


def rec(system: str, key: str, **values: Any) -> MatchRecord:
    """A canonical record: BASE (a German company) with the given changes."""
    merged = {"country": "DE", **BASE, **values}
    digest = hashlib.sha256(json.dumps(merged, sort_keys=True).encode()).hexdigest()
    return MatchRecord(system, key, merged, digest)


def together(result: MatchResult, *refs: tuple[str, str]) -> bool:
    return any(set(refs) <= set(cluster.members) for cluster in result.clusters)


def decision_for(result: MatchResult, a: tuple[str, str], b: tuple[str, str]):
    return next((d for d in result.decisions if d.pair == pair_key(a, b)), None)


def level_of(decision, comparison: str, config: MatchConfig = EVERY_PAIR) -> str:
    rows = describe(decision.evidence, config, None)
    row = next((r for r in rows["comparisons"] if r["comparison"] == comparison), None)
    return row["level"] if row else "null"


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
    assert level_of(decision_for(result, SF, SAP), "name") == level


@pytest.mark.parametrize(
    ("street", "house_number", "level"),
    [("Hauptstr.", "5", "exact"), ("Hauptstraße", "7", "else"), (None, None, "null")],
)
def test_each_street_level_is_hit_in_order(street: str | None, house_number: str | None, level: str) -> None:
    result = match_records([rec(*SF, street=street, house_number=house_number), rec(*SAP)], EVERY_PAIR)
    assert level_of(decision_for(result, SF, SAP), "street") == level


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


def test_evidence_keeps_level_and_weight_of_every_comparison_and_the_model_version() -> None:
    result = match_records([rec(*SF, street="Hauptstr.", house_number="5"), rec(*SAP)], CONFIG)
    evidence = decision_for(result, SF, SAP).evidence
    assert evidence["levels"] == [1, 1, 0, 0, 0]  # name exact, street exact, the keys missing
    assert evidence["weights"][:2] == [round(math.log2(0.9 / 0.001), 3), round(math.log2(0.9 / 0.01), 3)]
    assert evidence["total_weight"] == pytest.approx(sum(evidence["weights"]), abs=1e-3)
    assert evidence["rule"] == "fuzzy" and "model_version" in evidence
    street = next(
        r
        for r in describe(evidence, CONFIG, result.model, *_values(result))["comparisons"]
        if r["comparison"] == "street"
    )
    assert street == {
        "comparison": "street",
        "level": "exact",
        "weight": round(math.log2(0.9 / 0.01), 3),
        "left": "hauptstr 5",
        "right": "hauptstr 5",
        "m": 0.9,
        "u": 0.01,
    }


def _values(result: MatchResult) -> tuple[dict, dict]:
    return {**{"country": "DE"}, **BASE, "street": "Hauptstr."}, {"country": "DE", **BASE}


def test_a_block_of_5000_records_sharing_a_postal_code_is_still_compared() -> None:
    """Blocks above max_block_size are compared by sorted neighbourhood, not skipped."""
    records = [
        rec("sap", str(n), name=f"Firma {n:05d} GmbH", street=f"Weg {n}", house_number="1")
        for n in range(5000)
    ]
    records.append(rec("salesforce", "001DUP", name="Firma 02500 GmbH", street="Weg 2500", house_number="1"))
    result = match_records(records, CONFIG)
    stats = result.stats["blocking"]["postal_code"]
    assert stats["largest_block"] == 5001 and stats["large_blocks"] == 1
    assert stats["neighbourhood_pairs"] < 5001 * 5000 // 2 // 50  # near-linear, not all pairs
    assert together(result, ("salesforce", "001DUP"), ("sap", "2500"))


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
    assert (decision.rule, decision.band) == ("same_vat", "auto")
    assert decision.evidence["keys"]["vat_number"] == "123456789"


def test_a_deterministic_pair_whose_other_fields_contradict_it_waits_for_a_steward() -> None:
    """Same VAT id, but another name and another address: maybe a VAT group of two companies."""
    crm = rec(
        *SF,
        vat_number="DE123456789",
        postal_code="80331",
        name="Schulze Logistik",
        street="Ring",
        house_number="9",
    )
    result = match_records(
        [crm, rec(*SAP, vat_number="DE123456789")],
        MatchConfig.from_dict({**SETTINGS, "comparisons": SETTINGS["comparisons"][:2]}),
    )
    decision = decision_for(result, SF, SAP)
    assert decision.band == "review" and decision.rule == "same_vat"
    assert not together(result, SF, SAP)


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


# --- constraints: evidence against that no similarity outweighs ----------------------------------------


def test_a_different_valid_vat_id_keeps_two_otherwise_identical_companies_apart() -> None:
    result = match_records([rec(*SF, vat_number=VAT_A), rec(*SAP, vat_number=VAT_B)], CONSTRAINED)
    assert not together(result, SF, SAP)
    assert decision_for(result, SF, SAP) is None  # never linked, never asked
    assert result.stats["cannot_link_pairs"] == 1


def test_a_vat_id_with_a_typo_does_not_keep_a_company_apart() -> None:
    result = match_records([rec(*SF, vat_number=VAT_A_TYPO), rec(*SAP, vat_number=VAT_A)], CONSTRAINED)
    assert together(result, SF, SAP)


def test_tax_ids_of_two_countries_do_not_conflict() -> None:
    result = match_records([rec(*SF, vat_number="ATU13585627"), rec(*SAP, vat_number=VAT_A)], CONSTRAINED)
    assert together(result, SF, SAP)


def test_a_crm_account_naming_another_sap_partner_is_not_linked_to_this_one() -> None:
    result = match_records(
        [rec(*SF, erp_customer_number="1000099"), rec(*SAP, erp_customer_number="1000042")], CONSTRAINED
    )
    assert not together(result, SF, SAP)


def test_duplicates_inside_sap_may_join_the_golden_record_of_the_partner_the_crm_names() -> None:
    crm = rec(*SF, erp_customer_number="1000042")
    first, second = (
        rec("sap", "1000042", erp_customer_number="1000042"),
        rec("sap", "1000043", erp_customer_number="1000043"),
    )
    result = match_records([crm, first, second], CONSTRAINED)
    assert together(result, SF, ("sap", "1000042"), ("sap", "1000043"))


def test_two_legal_forms_wait_for_a_steward_instead_of_linking() -> None:
    result = match_records(
        [
            rec(*SF, name="Brandt Logistik KG", legal_form="KG"),
            rec(*SAP, name="Brandt Logistik GmbH", legal_form="GMBH"),
        ],
        CONSTRAINED,
    )
    decision = decision_for(result, SF, SAP)
    assert decision.band == "review" and decision.score >= CONFIG.high
    assert "different_legal_form" in decision.evidence["note"]
    assert not together(result, SF, SAP)


def test_a_chain_whose_ends_conflict_is_broken_at_its_weakest_link() -> None:
    """A ~ B ~ C with A and C of different VAT ids: the weaker link goes to review."""
    a = rec("salesforce", "001A", vat_number=VAT_A, street=None, house_number=None)  # name only: weaker
    b = rec("sap", "1", duns="123456789")  # no VAT id: matches both
    c = rec("salesforce", "001C", vat_number=VAT_B, duns="123456789")  # name, street and DUNS: far stronger
    thresholds = {"high": 0.8, "low": 0.5, "target_precision": 0.8}
    result = match_records(
        [a, b, c], MatchConfig.from_dict({**CONSTRAINED.to_dict(), "thresholds": thresholds})
    )
    weak = decision_for(result, ("salesforce", "001A"), ("sap", "1"))
    strong = decision_for(result, ("salesforce", "001C"), ("sap", "1"))
    assert weak.score < strong.score
    assert together(result, ("salesforce", "001C"), ("sap", "1")) and strong.band == "auto"
    assert not together(result, ("salesforce", "001A"), ("salesforce", "001C"))
    assert result.stats["chain_breaks"] == 1
    assert weak.band == "review" and "different_vat" in weak.evidence["note"]


def test_a_record_matching_two_companies_that_must_stay_apart_equally_well_goes_to_review() -> None:
    """A CRM account without legal form or VAT id, and two sister companies in SAP at its address."""
    crm = rec(*SF, name="Brandt Logistik")
    kg = rec("sap", "1", name="Brandt Logistik KG", legal_form="KG")
    gmbh = rec("sap", "2", name="Brandt Logistik GmbH", legal_form="GMBH")
    result = match_records([crm, kg, gmbh], CONSTRAINED)
    for sap in (("sap", "1"), ("sap", "2")):
        decision = decision_for(result, SF, sap)
        assert decision.band == "review" and decision.evidence["note"].startswith("ambiguous")
    assert [len(c.members) for c in result.clusters] == [1, 1, 1]


# --- duplicates inside one system, clusters -------------------------------------------------------------


def test_duplicates_inside_one_system_are_linked() -> None:
    result = match_records(
        [rec("sap", "1"), rec("sap", "2", name="Mueller Maschinenbau"), rec("salesforce", "001X")], CONFIG
    )
    assert together(result, ("sap", "1"), ("sap", "2"), ("salesforce", "001X"))
    assert len(result.clusters) == 1


def test_two_records_of_one_system_whose_own_pair_scores_low_never_share_a_cluster() -> None:
    """Two SAP partners that are plainly different: a CRM record close to both joins only one."""
    crm = rec(*SF, street=None, house_number=None)
    first = rec("sap", "1")
    second = rec("sap", "2", street="Ring", house_number="77")
    thresholds = {"high": 0.8, "low": 0.5, "target_precision": 0.8}
    result = match_records(
        [crm, first, second], MatchConfig.from_dict({**SETTINGS, "thresholds": thresholds})
    )
    assert not together(result, ("sap", "1"), ("sap", "2"))
    assert result.stats["same_system_breaks"] + result.stats["ambiguous_links"] >= 1


def test_auto_links_chain_into_one_cluster() -> None:
    a = rec("salesforce", "001A", vat_number="DE111111111", name="First")
    b = rec("sap", "1", vat_number="DE111111111", duns="123456789", name="First")
    c = rec("salesforce", "001C", duns="123456789", name="First")
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
    no_keys = MatchConfig.from_dict(
        {**SETTINGS, "deterministic": [], "comparisons": SETTINGS["comparisons"][:2]}
    )
    result = match_records([crm, erp], no_keys)
    assert decision_for(result, SF, SAP).band == "review"
    result = match_records([crm, erp], CONFIG)
    assert decision_for(result, SF, SAP).rule == "same_vat"


# --- levels that wait for a steward -------------------------------------------------------------------

GROUP_WORDS = MatchConfig.from_dict(
    {
        **SETTINGS,
        "comparisons": [
            {
                **SETTINGS["comparisons"][0],
                "levels": [
                    {"kind": "null"},
                    {"kind": "exact", "m": 0.9, "u": 0.001},
                    {
                        "kind": "token_subset",
                        "label": "extra group word",
                        "words": ["holding", "nord"],
                        "auto_link": False,
                        "m": 0.01,
                        "u": 0.001,
                    },
                    {"kind": "token_subset", "label": "extra words", "m": 0.05, "u": 0.001},
                    {"kind": "else", "m": 0.04, "u": 0.997, "auto_link": False},
                ],
            },
            *SETTINGS["comparisons"][1:],
        ],
    }
)


def test_a_name_with_an_extra_group_word_waits_for_a_steward_however_close_the_rest() -> None:
    result = match_records(
        [rec(*SF, name="Müller Maschinenbau Holding GmbH", duns="1"), rec(*SAP, duns="1")], GROUP_WORDS
    )
    decision = decision_for(result, SF, SAP)
    assert decision.score >= GROUP_WORDS.high and decision.band == "review"
    assert decision.evidence["note"] == "needs a steward: name extra group word"


def test_another_extra_word_is_its_own_level_and_may_link() -> None:
    result = match_records([rec(*SF, name="Müller Maschinenbau Kiel GmbH"), rec(*SAP)], GROUP_WORDS)
    assert level_of(decision_for(result, SF, SAP), "name", GROUP_WORDS) == "extra words"
    assert together(result, SF, SAP)


def test_names_that_differ_throughout_never_link_automatically_even_on_a_shared_key() -> None:
    result = match_records(
        [rec(*SF, name="Schulze Logistik", duns="123456789"), rec(*SAP, duns="123456789")], GROUP_WORDS
    )
    decision = decision_for(result, SF, SAP)
    assert decision.rule == "same_duns" and decision.band == "review"
    assert not together(result, SF, SAP)
