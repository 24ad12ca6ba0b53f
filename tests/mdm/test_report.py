"""The SyncHub summary page: pass rates per expectation, records per outcome, match scores with thresholds."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from typer.testing import CliRunner

from mdm.cli import app
from mdm.report import REPORT_FILE, write_report
from mdm.report.summary import collect, step_outcomes
from mdm.stats import Outcome, StepStats
from mdm.store.models import DqResult, MatchDecision, Run

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
VAT = "expect_column_values_to_match_regex(vat_number)"


def stored(kind: str, **counts: int) -> dict:
    """A step's result as the run log keeps it."""
    return StepStats(step=kind, kind=kind, entity="x", outcome=Outcome(**counts)).to_json()


def seed_store(store) -> None:
    """Two customer DAG runs with their steps' stats and DQ results, one price step run, scored pairs."""
    with store.begin() as session:
        for n, (failed, written) in enumerate(((4, 30), (1, 12))):
            run = Run(
                job="synchub_customer",
                entity="customer",
                status="success",
                started_at=NOW + dt.timedelta(hours=n),
                finished_at=NOW + dt.timedelta(hours=n, minutes=5),
                stats={
                    "full": False,
                    "steps": {
                        "quality": stored("quality", read=200, quarantined=3),
                        "match": stored("match", matched=85, new=20, review=7),
                        "publish_sap": stored("write", written=written, failed=failed),
                        "publish_crm": stored("write", written=2),
                    },
                    "errors": {},
                },
            )
            session.add(run)
            session.flush()
            for expectation, bad in ((VAT, 10 * (n + 1)), ("expect_column_values_to_not_be_null(name)", 0)):
                session.add(
                    DqResult(
                        run_id=run.id,
                        entity="customer",
                        suite="customer.source",
                        system="salesforce",
                        expectation=expectation,
                        column=None,
                        checked=100,
                        failed=bad,
                        success=bad == 0,
                        created_at=NOW + dt.timedelta(hours=n),
                    )
                )
        session.add(
            Run(
                job="synchub_price.sync",
                entity="price",
                status="failed",
                started_at=NOW + dt.timedelta(hours=3),
                stats=stored("write", written=8, failed=2),
                error="PriceSyncError: the Salesforce org has no standard pricebook",
            )
        )
        for i, (score, status) in enumerate(
            ((0.31, "review"), (0.42, "review"), (0.995, "auto_linked"), (0.1, "new"))
        ):
            session.add(
                MatchDecision(
                    entity="customer",
                    left_system="salesforce",
                    left_key=f"001{i}",
                    right_system="sap",
                    right_key=f"100{i}",
                    score=score,
                    rule="fuzzy",
                    evidence={},
                    status=status,
                    left_hash="a",
                    right_hash="b",
                )
            )


def test_outcomes_are_the_sum_of_the_steps_outcomes_whatever_their_task_ids():
    step = stored

    counts = step_outcomes(
        {
            "steps": {
                "quality": step("quality", read=10, quarantined=3),
                "match": step("match", matched=9, new=2, review=4),
                "publish_sap": step("write", written=3, failed=1),
                "a_task_id_no_report_knows": step("write", written=3, failed=3, waiting=2),
                "push_erp": step("write", written=5, failed=1),
                "not_a_step_result": {"created": 100},
            }
        }
    )
    # A step run on its own stores its own stats at the top level.
    alone = step_outcomes(step("write", written=7, failed=1))

    assert counts == {"matched": 9, "new": 2, "review": 4, "quarantined": 3, "written": 11, "failed": 5}
    assert alone["written"] == 7 and alone["failed"] == 1


def test_the_report_holds_the_pass_rates_outcomes_and_scores_with_thresholds(store, tmp_path: Path):
    seed_store(store)

    path = write_report(store, tmp_path / "out", runs=20)
    page = path.read_text(encoding="utf-8")

    assert path == tmp_path / "out" / REPORT_FILE
    assert VAT in page and "customer.source" in page
    assert "85.0%" in page  # VAT: 30 of 200 failed over two runs
    assert "run 1: 90.0%" in page and "run 2: 80.0%" in page  # one cell per run
    assert 'data-threshold="0.3"' in page and 'data-threshold="0.99"' in page  # mappings/customer.yaml
    assert "review &#8805; 0.30" in page and "auto-link &#8805; 0.99" in page
    assert "0.30-0.35: 1 review" in page and "0.95-1.00: 1 linked" in page
    assert "matched: 170" in page and "written: 46" in page and "failed: 5" in page  # customer, two runs
    assert "written: 8" in page and "no standard pricebook" in page  # the price step's own run
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert not re.search(r'id="(dq|outcomes)-empty"', page)


def test_an_empty_store_gives_the_empty_states(store, tmp_path: Path):
    page = write_report(store, tmp_path).read_text(encoding="utf-8")

    assert 'id="dq-empty"' in page and 'id="outcomes-empty"' in page
    assert "No match decisions for customer yet" in page


def test_only_the_latest_runs_are_charted(store):
    seed_store(store)

    data = collect(store, runs=1)

    assert data.dq_runs == [2]
    assert [o.run_id for o in data.outcomes] == [3, 2]  # the latest run of each entity


def test_the_data_docs_are_linked_when_present(store, tmp_path: Path, monkeypatch):
    docs = tmp_path / "data_docs" / "customer"
    docs.mkdir(parents=True)
    (docs / "index.html").write_text("<html></html>")
    monkeypatch.setenv("SYNCHUB_REPORTS_DIR", str(tmp_path / "elsewhere"))

    page = write_report(store, tmp_path).read_text(encoding="utf-8")

    assert 'href="data_docs/customer/index.html"' in page


def test_synchub_report_writes_to_the_reports_dir_and_prints_the_path(store, tmp_path: Path, monkeypatch):
    seed_store(store)
    monkeypatch.setenv("SYNCHUB_REPORTS_DIR", str(tmp_path / "reports"))

    result = CliRunner().invoke(app, ["report", "--runs", "5"])

    assert result.exit_code == 0, result.output
    path = tmp_path / "reports" / REPORT_FILE
    assert path.is_file() and str(path) in result.output.replace("\n", "")


def test_synchub_report_copies_the_page_to_an_object_storage_url(store, monkeypatch):
    from airflow.sdk import ObjectStoragePath

    seed_store(store)
    monkeypatch.setenv("SYNCHUB_REPORTS_DIR", "memory://synchub-reports/summary")

    result = CliRunner().invoke(app, ["report", "--runs", "5"])

    assert result.exit_code == 0, result.output
    printed = result.output.strip()
    assert printed == "memory://synchub-reports/summary/synchub_summary.html"
    assert b"SyncHub" in ObjectStoragePath(printed).read_bytes()
