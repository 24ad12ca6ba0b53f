"""The data-quality gate: Great Expectations suites per entity, quarantine, threshold, Data Docs.

The suites live in ``mdm/quality/suites/<entity>.yaml`` (source records after mapping, per system, and
golden records); ``mdm.quality.gate.validate`` runs them and is what ``mdm.pipeline.quality`` calls.
Great Expectations and pandas are imported only when a validation runs, never with this package.
"""

from __future__ import annotations

QUARANTINE_PREFIX = "expectation failed: "
# Reasons of the completeness check before the suites existed: the gate owns (and releases) them too.
LEGACY_PREFIXES = ("missing required field(s): ",)


class QualityGateError(RuntimeError):
    """More than the configured share of a system's batch failed its suite: the run must not publish."""

    def __init__(
        self,
        entity: str,
        system: str,
        failed: int,
        checked: int,
        threshold: float,
        top: list[tuple[str, int]],
    ) -> None:
        self.entity, self.system, self.failed, self.checked, self.threshold = (
            entity,
            system,
            failed,
            checked,
            threshold,
        )
        self.top = top
        share = failed / checked if checked else 0.0
        worst = "; ".join(f"{name}: {count}" for name, count in top) or "-"
        super().__init__(
            f"quality gate {entity} {system}: {failed} of {checked} records ({share:.1%}) failed, more than "
            f"the threshold of {threshold:.1%} (quality.max_failed_share in mappings/{entity}.yaml); "
            f"publishing stops. Top failed expectations: {worst}"
        )
