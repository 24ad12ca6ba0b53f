"""The quality step: the Great Expectations gate (``mdm.quality``) over an entity's live records."""

from __future__ import annotations

import logging
from typing import Any

from mdm.config import Mapping as EntityMapping
from mdm.config import mapping_with
from mdm.runtime import Sessions, run_step
from mdm.stats import StepStats

log = logging.getLogger(__name__)


def quality(
    entity: str,
    *,
    sessions: Sessions | None = None,
    run_id: int | None = None,
    mapping: EntityMapping | None = None,
    settings: Any = None,
) -> StepStats:
    """The quality gate: the entity's Great Expectations suites over every live record (``mdm.quality``).

    Records failing an expectation are quarantined with a reason naming it (kept out of match and
    publish) and released once they pass again; reasons other checks set are left to them. Every
    outcome lands in ``dq_result``, the Data Docs index is in the stats (``data_docs``). Raises
    ``mdm.quality.QualityGateError`` when more than the mapping's ``quality.max_failed_share`` of a
    system's batch fails. ``settings`` (``mdm.quality.gate.Settings``) overrides the mapping's section.
    """
    mapping = mapping_with(entity, mapping, "canonical")

    def body(store: Sessions, run: int | None) -> StepStats:
        from mdm.quality.gate import validate  # Great Expectations and pandas load only here

        stats = validate(store, mapping, run, settings=settings)
        return StepStats.of(
            "quality", "quality", entity, stats, read=stats["checked"], quarantined=stats["quarantined"]
        )

    return run_step(sessions, entity, "quality", run_id, body)
