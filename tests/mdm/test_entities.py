"""The entity registry (mdm.entities) and the step results every entity's steps return (mdm.stats)."""

from __future__ import annotations

import pytest

from mdm.entities import Entity, Step, entities, entity
from mdm.entities.master_data import master_data_steps
from mdm.stats import Outcome, StepStats, run_steps


def _replay(request) -> None:  # noqa: ANN001 - a declaration's placeholder
    raise AssertionError("not called")


def test_the_built_in_entities_sync_after_what_they_need() -> None:
    declared = entities()
    assert list(declared) == ["customer", "product", "price", "order"]
    assert {e.kind for e in declared.values()} == {"mastered", "derived", "transactional"}
    for one in declared.values():
        for need in one.needs:
            assert list(declared).index(need) < list(declared).index(one.name)


def test_a_master_data_entity_runs_match_merge_and_both_publishes_and_updates_its_golden_asset() -> None:
    customer = entity("customer")
    assert customer.step_ids == (
        "extract_crm",
        "extract_erp",
        "quality",
        "match",
        "merge",
        "publish_erp",
        "publish_crm",
    )
    assert {s.task_id: s.updates for s in customer.steps}["merge"] == "golden/customer"


def test_an_unknown_entity_names_the_declared_ones() -> None:
    with pytest.raises(LookupError, match="no entity 'contact'; declared: customer, product, price, order"):
        entity("contact")


def test_a_declaration_is_checked() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        Entity("x", "golden", "t", "h", (), _replay, "@daily")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unique and not a built-in task"):
        Entity("x", "mastered", "t", "h", (*master_data_steps("x"), Step("match", print)), _replay, "@daily")  # type: ignore[arg-type]


def test_modules_that_need_each_other_or_declare_nothing_are_refused(tmp_path, monkeypatch) -> None:
    (tmp_path / "ent_a.py").write_text(
        "from mdm.entities import Entity\nfrom tests.mdm.test_entities import _replay\n"
        "ENTITY = Entity('a', 'derived', 't', 'h', (), _replay, '@daily', needs=('b',))\n"
    )
    (tmp_path / "ent_b.py").write_text(
        "from mdm.entities import Entity\nfrom tests.mdm.test_entities import _replay\n"
        "ENTITY = Entity('b', 'derived', 't', 'h', (), _replay, '@daily', needs=('a',))\n"
    )
    (tmp_path / "ent_none.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    monkeypatch.setenv("SYNCHUB_ENTITY_MODULES", "ent_a,ent_b")
    with pytest.raises(LookupError, match="entities need each other: a -> b -> a"):
        entities()
    monkeypatch.setenv("SYNCHUB_ENTITY_MODULES", "ent_none")
    with pytest.raises(LookupError, match="ent_none declares no ENTITY"):
        entities()


def test_step_stats_keep_their_outcome_and_details_through_the_run_log() -> None:
    stats = StepStats(
        step="publish",
        kind="write",
        entity="customer",
        system="sap",
        outcome=Outcome(read=10, written=3, unchanged=6, failed=1),
        details={"created": 1, "updated": 2, "errors": [{"code": "X"}]},
    )
    stored = stats.to_json()
    again = StepStats.from_json(stored)

    assert again == stats
    assert stats["created"] == 1 and stats["outcome"]["written"] == 3  # read like the dict it replaced
    assert stored["kind"] == "write" and stored["system"] == "sap"
    assert StepStats.from_json({"created": 5}) is None  # not a step result: counted nowhere
    assert run_steps({"steps": {"publish_erp": stored, "broken": None}}) == [stats]
    assert Outcome.total([stats.outcome, Outcome(written=2)]).written == 5
    with pytest.raises(ValueError, match="step kind must be one of"):
        StepStats(step="x", kind="publish", entity="customer")  # type: ignore[arg-type]
