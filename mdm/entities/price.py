"""Prices: SAP's sales price conditions projected onto the CRM's pricebooks (no golden records)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mdm.entities import Entity, Replay, Run, Step

if TYPE_CHECKING:
    from mdm.stats import StepStats


def _sync_crm(entity: str, run: Run) -> StepStats:
    from mdm.prices import sync_prices

    return sync_prices(run_id=run.run_id)


def _replay(request: Replay) -> None:
    """The price sync diffs every wanted entry: running it again retries every failed one."""
    from mdm.prices import sync_prices

    sync_prices(sessions=request.sessions, connector=request.connector)


ENTITY = Entity(
    name="price",
    kind="derived",
    title="SAP price conditions -> Salesforce PricebookEntry",
    help="Run it after `synchub sync product`: prices go to the products the CRM has.",
    steps=(Step("sync_crm", _sync_crm, updates="crm/price"),),
    replay=_replay,
    schedule="15 0 * * *",
    waits_for=("crm/product",),
    needs=("product",),
    erp_always_full=True,
    dag_timeout_hours=2,
)
