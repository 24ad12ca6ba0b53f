"""``synchub match train|show|versions|evaluate`` and the evidence of ``synchub review show``, on a store
filled by the pipeline's own steps from the seed's hard customer set (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from mdm import pipeline
from mdm.cli import app
from mdm.store.models import MatchDecision, MatchModelRow
from sandbox.seed import BP_SERVICE, SeedOptions, expanded_partners, generate, write_seed

SEED = SeedOptions(seed=23, customers=300, products=0, orders=0, hard_cases=0.25)
runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture(autouse=True)
def wide_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as wide as they need: cells whole, not folded at 80 columns."""
    from rich.console import Console

    for module in ("mdm.cli_match", "mdm.cli_stewardship"):
        monkeypatch.setattr(f"{module}.console", Console(width=250))


@pytest.fixture
def matched(store, tmp_path: Path) -> Path:
    """The store after staging, matching and merging the seed; returns the seed's truth file."""
    data, _truth = generate(SEED)
    pipeline.stage_payloads("customer", "salesforce", data.salesforce["Account"], sessions=store)
    pipeline.stage_payloads("customer", "sap", expanded_partners(data.sap[BP_SERVICE]), sessions=store)
    pipeline.match("customer", sessions=store)
    pipeline.merge("customer", sessions=store)
    return write_seed(tmp_path / "seed", SEED) / "truth.json"


def test_the_match_step_learns_a_model_and_keeps_it_as_version_1(store, matched) -> None:
    with store() as session:
        rows = list(session.scalars(select(MatchModelRow)))
    assert [(r.entity, r.version, r.reason, r.trained_by) for r in rows] == [
        ("customer", 1, "no model learnt for these settings yet", "match step")
    ]
    assert rows[0].records == 600 and 0 < rows[0].prior < 0.01


def test_match_show_prints_every_level_with_m_u_and_weight(store, matched) -> None:
    result = cli("match", "show", "--entity", "customer")
    assert result.exit_code == 0, result.output
    assert "match model v1 (customer)" in result.output
    assert "extra words" in result.output and "u from look-alikes" in result.output
    assert "term-frequency adjusted" in result.output
    assert "known matches" in result.output  # how it was learnt


def test_match_train_keeps_a_new_version_and_the_next_run_uses_it(store, matched) -> None:
    trained = cli("match", "train", "--entity", "customer", "--by", "steward.ivy")
    assert trained.exit_code == 0, trained.output
    versions = cli("match", "versions", "--entity", "customer")
    assert "steward.ivy" in versions.output and "asked for" in versions.output
    stats = pipeline.match("customer", sessions=store)
    assert stats["model_version"] == 2 and stats["model_learnt"] is None


def test_match_evaluate_scores_the_golden_records_against_the_truth(store, matched) -> None:
    result = cli("match", "evaluate", "--entity", "customer", "--truth", str(matched), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["true_pairs"] > 100
    assert report["precision"] >= 0.99 and report["recall"] >= 0.97
    assert report["blocking_recall"]["all_rules"] >= 0.99
    assert set(report["blocking_recall"]["rules"]) >= {"same_vat", "postal_name", "phone"}
    for example in report["examples"]:
        assert example["kind"] in ("false link", "missed")
        assert "levels" in example or "comparisons" in example or "status" in example


def test_match_evaluate_fails_when_asked_for_more_than_it_gets(store, matched) -> None:
    result = cli("match", "evaluate", "--truth", str(matched), "--min-precision", "1.01")
    assert result.exit_code == 1
    assert "precision" in result.output and "blocking:" in result.output


def test_match_evaluate_names_an_unreadable_truth_file(store, matched, tmp_path: Path) -> None:
    bad = tmp_path / "truth.csv"
    bad.write_text("system,key\nsap,1\n")
    result = cli("match", "evaluate", "--truth", str(bad))
    assert result.exit_code == 2
    assert "truth.csv" in result.output and "entity_id" in result.output


def test_review_show_prints_the_evidence_per_comparison_and_the_model(store, matched) -> None:
    with store() as session:
        decision = session.scalars(select(MatchDecision).where(MatchDecision.status == "review")).first()
    assert decision is not None, "the hard seed leaves pairs for a steward"
    result = cli("review", "show", str(decision.id))
    assert result.exit_code == 0, result.output
    assert "scored by match model v1" in result.output
    assert "comparison" in result.output and "weight" in result.output
    assert "probability" in result.output


def test_match_show_without_a_model_says_how_to_get_one(store) -> None:
    result = cli("match", "show", "--entity", "customer")
    assert result.exit_code == 2
    assert "synchub match train --entity customer" in result.output
