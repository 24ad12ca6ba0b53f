"""Orders: activated CRM orders to SAP sales orders, SAP's number and status back (nothing merged)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mdm.entities import Entity, Replay, Run, Step

if TYPE_CHECKING:
    from mdm.stats import StepStats


def _push_erp(entity: str, run: Run) -> StepStats:
    from mdm.orders import push_orders

    return push_orders(run_id=run.run_id)


def _status_crm(entity: str, run: Run) -> StepStats:
    from mdm.orders import status_to_crm

    return status_to_crm(run_id=run.run_id)


def _quality_columns(session: Any, mapping: Any, system: str, rows: list[dict[str, Any]]) -> None:
    from mdm.orders.references import order_references

    order_references(session, mapping, system, rows)


def _replay(request: Replay) -> None:
    """Orders SAP rejected are sent again (only those); failed status writes by a status run."""
    from sqlalchemy import update

    from mdm.orders import push_orders, status_to_crm
    from mdm.store.models import OrderSync

    creates = request.keys.get("create", set())
    if creates:
        with request.sessions.begin() as session:
            # An order SAP rejected is sent again only when it changed; forget the hash to send it now.
            session.execute(
                update(OrderSync)
                .where(OrderSync.crm_order_id.in_(sorted(creates)), OrderSync.state == "failed")
                .values(payload_hash=None)
            )
        push_orders(sessions=request.sessions, connector=request.connector, only=creates)
    if set(request.keys) - {"create"}:
        status_to_crm(sessions=request.sessions, connector=request.connector)


ENTITY = Entity(
    name="order",
    kind="transactional",
    title="activated CRM orders -> SAP sales orders, status back",
    help="Orders whose customer or product is not in SAP yet wait (see `synchub orders list`).",
    steps=(
        Step("push_erp", _push_erp, updates="erp/order"),
        Step("status_crm", _status_crm),
    ),
    replay=_replay,
    schedule="*/15 * * * *",
    waits_for=("erp/customer", "golden/product"),
    needs=("customer", "product"),
    dag_timeout_hours=1,
    outputs=("orders and why they wait: synchub orders list",),
    quality_columns=_quality_columns,
)
