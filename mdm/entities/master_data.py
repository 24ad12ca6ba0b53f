"""What every mastered entity declares alike: its steps after extract and quality (match, merge, both
publishes), its replay (publish again), its outputs (the exports)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mdm.entities import Entity, Replay, Run, Step

if TYPE_CHECKING:
    from mdm.stats import StepStats


def _match(entity: str, run: Run) -> StepStats:
    from mdm.pipeline import match

    return match(entity, run_id=run.run_id)


def _merge(entity: str, run: Run) -> StepStats:
    from mdm.pipeline import merge

    return merge(entity, full=run.full, run_id=run.run_id)


def _publish_erp(entity: str, run: Run) -> StepStats:
    from mdm.publish import publish

    return publish(entity, "sap", run_id=run.run_id)


def _publish_crm(entity: str, run: Run) -> StepStats:
    from mdm.publish import publish

    return publish(entity, "salesforce", run_id=run.run_id)


def master_data_steps(
    name: str, *, erp_asset: str | None = None, crm_asset: str | None = None
) -> tuple[Step, ...]:
    """match -> merge (updates ``golden/<name>``) -> publish_erp -> publish_crm.

    The ERP goes first, so that records created there in this run reach the CRM with their new SAP
    number in the same run; one after the other, so a rerun after a crash has one half-written side.
    """
    return (
        Step("match", _match),
        Step("merge", _merge, updates=f"golden/{name}"),
        Step("publish_erp", _publish_erp, updates=erp_asset),
        Step("publish_crm", _publish_crm, updates=crm_asset),
    )


def replay_publish(entity: str) -> Callable[[Replay], None]:
    """A master-data entity's replay: publish again to that system, only the failed golden records."""

    def replay(request: Replay) -> None:
        from mdm.publish import publish

        publish(
            entity,
            request.system,  # type: ignore[arg-type]
            sessions=request.sessions,
            connector=request.connector,
            only=request.all_keys,
        )

    return replay


def master_data_entity(
    name: str,
    *,
    title: str,
    help: str,
    schedule: str,
    erp_asset: str | None = None,
    crm_asset: str | None = None,
    **options: Any,
) -> Entity:
    """A mastered entity: the master-data steps, replay by publishing again, the exports as its outputs."""
    return Entity(
        name=name,
        kind="mastered",
        title=title,
        help=help,
        steps=master_data_steps(name, erp_asset=erp_asset, crm_asset=crm_asset),
        replay=replay_publish(name),
        schedule=schedule,
        outputs=(
            f"golden records: synchub golden export --entity {name} > golden_{name}.csv",
            f"cross-reference: synchub xref export --entity {name} > xref_{name}.csv",
        ),
        **options,
    )
