"""Match quality against a labelled truth (mdm.match.evaluate): truth files, pairwise scores, blocking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mdm.match import MatchConfig, MatchRecord
from mdm.match.evaluate import TruthError, blocking_recall, evaluate, read_truth
from tests.mdm.test_match_engine import SETTINGS

A, B, C, D = ("salesforce", "001A"), ("sap", "1"), ("salesforce", "001C"), ("sap", "2")


def test_a_seed_truth_file_gives_one_group_per_company(tmp_path: Path) -> None:
    path = tmp_path / "truth.json"
    path.write_text(
        json.dumps({"customers": [{"salesforce": ["001A"], "sap": ["1"]}, {"salesforce": [], "sap": ["2"]}]})
    )
    assert read_truth(path) == [[A, B], [D]]


def test_a_csv_truth_file_groups_records_by_entity_id(tmp_path: Path) -> None:
    path = tmp_path / "truth.csv"
    path.write_text("system,key,entity_id\nsalesforce,001A,c1\nsap,1,c1\nsap,2,c2\n")
    assert sorted(read_truth(path)) == [[A, B], [D]]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("truth.csv", "system,key\nsap,1\n", "needs the columns system,key,entity_id"),
        ("truth.csv", "system,key,entity_id\ncrm,1,c\n", r"truth\.csv:2: system must be one of"),
        ("truth.json", "{", r"truth\.json:1: not JSON"),
        ("truth.json", '{"products": []}', "no list 'customers'"),
    ],
)
def test_an_unreadable_truth_file_is_named_with_what_is_wrong(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(TruthError, match=message):
        read_truth(path)


def test_pairwise_precision_recall_and_f1() -> None:
    truth = [[A, B, C], [D]]
    predicted = [[A, B], [C, D]]  # one right pair of three, one false link
    result = evaluate(predicted, truth)
    assert (result.true_pairs, result.predicted_pairs, result.correct_pairs) == (3, 2, 1)
    assert result.precision == pytest.approx(0.5) and result.recall == pytest.approx(1 / 3)
    assert result.f1 == pytest.approx(0.4)
    assert result.false_links == [(C, D)] and result.missed == [(A, C), (C, B)]  # pairs: smaller key left


def test_records_the_truth_does_not_know_are_left_out() -> None:
    result = evaluate([[A, B, ("sap", "99")]], [[A, B]])
    assert (result.precision, result.recall) == (1.0, 1.0)


def test_blocking_recall_says_which_true_pairs_each_rule_makes_candidates() -> None:
    config = MatchConfig.from_dict(SETTINGS)
    values = {"country": "DE", "postal_code": "10115", "name": "X"}
    records = [
        MatchRecord(*A, values, "h1"),
        MatchRecord(*B, values, "h2"),
        MatchRecord(*C, values | {"postal_code": "80331", "vat_number": "DE123456789"}, "h3"),
        MatchRecord(*D, values | {"postal_code": "99999", "vat_number": "DE123456789"}, "h4"),
    ]
    result = blocking_recall(records, config, [[A, B], [C, D]])
    assert result["rules"]["postal_code"] == 0.5 and result["rules"]["same_vat"] == 0.5
    assert result["all_rules"] == 1.0 and result["true_pairs"] == 2
