"""When rejected writes fail a run: a run's write steps against ``writes.max_rejected_share``."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdm.config import MappingError, load_entity_mapping, load_mapping
from mdm.stats import Rejections, StepStats

REPO = Path(__file__).resolve().parents[2]


def write(system: str, written: int, failed: int) -> StepStats:
    return StepStats.of("publish", "write", "customer", {}, system=system, written=written, failed=failed)


STEPS = [
    StepStats.of("extract", "extract", "customer", {}, system="salesforce", read=500, failed=0),
    StepStats.of("quality", "quality", "customer", {}, read=1000, quarantined=7),
    write("salesforce", 98, 2),
    write("sap", 100, 0),
]


def test_only_write_steps_count_and_each_system_is_named() -> None:
    found = Rejections.of(STEPS)
    assert (found.rejected, found.attempted, dict(found.by_system)) == (2, 200, {"salesforce": 2, "sap": 0})
    assert found.share == pytest.approx(0.01)


def test_any_rejected_write_fails_the_run_by_default_naming_the_count_and_the_command() -> None:
    failure = Rejections.of(STEPS).failure("customer", max_share=0.0)
    assert failure is not None
    assert "2 of 200 writes were rejected (salesforce 2, sap 0)" in failure
    assert "synchub errors list --entity customer" in failure
    assert "writes.max_rejected_share in mappings/customer.yaml" in failure


def test_a_share_within_the_allowed_one_does_not_fail_the_run() -> None:
    assert Rejections.of(STEPS).failure("customer", max_share=0.01) is None
    assert Rejections.of(STEPS).failure("customer", max_share=0.009) is not None


def test_a_run_without_rejections_or_without_writes_never_fails() -> None:
    assert Rejections.of([write("sap", 10, 0)]).failure("customer", 0.0) is None
    assert Rejections.of(STEPS[:2]).failure("customer", 0.0) is None


def test_the_share_comes_from_the_mapping_and_defaults_to_zero(tmp_path: Path) -> None:
    assert load_entity_mapping("customer").writes.max_rejected_share == 0.0
    text = (REPO / "mappings" / "customer.yaml").read_text(encoding="utf-8")
    (tmp_path / "customer.yaml").write_text(
        text + "\nwrites:\n  max_rejected_share: 0.02\n", encoding="utf-8"
    )
    assert load_mapping(tmp_path / "customer.yaml").writes.max_rejected_share == 0.02


def test_a_share_above_one_is_refused_naming_the_field(tmp_path: Path) -> None:
    text = (REPO / "mappings" / "customer.yaml").read_text(encoding="utf-8")
    (tmp_path / "customer.yaml").write_text(text + "\nwrites:\n  max_rejected_share: 5\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"customer.yaml:\d+: writes.max_rejected_share"):
        load_mapping(tmp_path / "customer.yaml")
