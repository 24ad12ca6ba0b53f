"""Status back: SAP's order number and processing, delivery and billing status written to the CRM order
where they differ (the order DAG's ``status_crm``); SyncHub's own last write is remembered per order, so
its echo is not written again."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import WriteOutcome, WriteRecord
from mdm.canonical import to_target
from mdm.config import load_entity_mapping
from mdm.runtime import Sessions, aware, connector_for, run_step
from mdm.stats import StepStats
from mdm.steps.diff import differences
from mdm.steps.write import Write, apply_writes
from mdm.store.deadletter import resolve_keys
from mdm.store.models import (
    OrderSync,
    utcnow,
)

if TYPE_CHECKING:
    from connectors.base import Connector
    from mdm.config import Mapping as EntityMapping

from mdm.orders.sync import ENTITY, WRITE_CHUNK, Report, canonical_values, decimal_of

log = logging.getLogger(__name__)


def status_to_crm(
    *,
    sessions: Sessions | None = None,
    run_id: int | None = None,
    connector: Connector | None = None,
    mapping: EntityMapping | None = None,
) -> StepStats:
    """Write the SAP order number and status to the CRM orders that differ (see the module docstring).

    Stats: orders (in SAP), updated, unchanged, echo_pending, erp_not_staged (SAP order not read yet),
    amount_mismatch (SyncHub-created orders whose SAP net total differs from the CRM's), failed (with
    errors), api_calls, seconds.
    """
    mapping = mapping or load_entity_mapping(ENTITY)

    def body(store: Sessions, run: int | None) -> StepStats:
        crm = connector or connector_for("salesforce")
        calls_before = crm.usage.calls
        clock = time.perf_counter()
        report = Report()
        with store() as session:
            linked = list(session.scalars(select(OrderSync).where(OrderSync.erp_order.is_not(None))))
            session.expunge_all()
            erp = canonical_values(session, "sap", [s.erp_order for s in linked if s.erp_order])
            crm_values = canonical_values(session, "salesforce", [s.crm_order_id for s in linked])
        writes: list[tuple[OrderSync, dict[str, Any], dict[str, Any]]] = []
        mismatches: dict[str, str | None] = {}
        settled: list[str] = []  # nothing to write: an open error-queue entry is no longer needed
        for state in linked:
            report.counts["orders"] += 1
            if state.erp_order not in erp:
                report.add("erp_not_staged", {"crm_order": state.crm_order_id, "erp_order": state.erp_order})
                continue
            sap_values, _ = erp[state.erp_order]
            values, staged_at = crm_values.get(state.crm_order_id, ({}, None))
            if state.state == "created":
                mismatches[state.crm_order_id] = _amount_mismatch(sap_values, values)
            want = to_target(mapping, "salesforce", sap_values, include_nulls=True)  # type: ignore[arg-type]
            have = to_target(mapping, "salesforce", values, include_nulls=True)  # type: ignore[arg-type]
            echo = False
            if state.crm_written and _written_after(state.crm_written_at, staged_at):
                echo = not differences(want, state.crm_written)
            changes = differences(want, have)
            if not changes or echo:
                report.add("echo_pending" if changes else "unchanged")
                if not changes:
                    settled.append(state.crm_order_id)
                continue
            writes.append((state, want, changes))

        def written(session: Session, done: list[tuple[Write, WriteOutcome]]) -> None:
            """What SyncHub wrote to each CRM order (its echo check), in the chunk's transaction."""
            now = utcnow()
            for write, outcome in done:
                state, want = write.item
                if outcome.status == "failed":
                    report.add(
                        "failed",
                        {
                            "crm_order": state.crm_order_id,
                            "code": outcome.error_code,
                            "message": outcome.error_message,
                        },
                    )
                    continue
                report.add("updated" if outcome.status != "unchanged" else "unchanged")
                row = session.get(OrderSync, state.crm_order_id)
                row.crm_written, row.crm_written_at, row.updated_at = want, now, now

        apply_writes(
            crm,
            mapping.source,
            [
                Write(
                    state.crm_order_id,
                    WriteRecord(state.crm_order_id, changes, remote_key=state.crm_order_id),
                    "update",
                    item=(state, want),
                )
                for state, want, changes in writes
            ],
            system="salesforce",
            chunk_size=WRITE_CHUNK,
            sessions=store,
            run_id=run,
            queue=True,
            after_chunk=written,
        )
        with store.begin() as session:
            resolve_keys(session, entity=ENTITY, system="salesforce", record_keys=settled)
            for crm_id, mismatch in mismatches.items():
                row = session.get(OrderSync, crm_id)
                if row is not None and row.reason != mismatch:
                    row.reason = mismatch
                if mismatch:
                    report.add("amount_mismatch", {"crm_order": crm_id, "reason": mismatch})
        stats = {
            "entity": ENTITY,
            **{
                key: report.counts[key]
                for key in ("orders", "updated", "unchanged", "echo_pending", "erp_not_staged", "failed")
            },
            "amount_mismatch": report.counts["amount_mismatch"],
            "amount_mismatch_examples": report.examples.get("amount_mismatch", []),
            "errors": report.examples.get("failed", []),
            "api_calls": crm.usage.calls - calls_before,
            "seconds": round(time.perf_counter() - clock, 3),
        }
        log.info(
            "order status to CRM: %d orders in SAP, %d updated, %d unchanged, %d failed",
            stats["orders"],
            stats["updated"],
            stats["unchanged"],
            stats["failed"],
        )
        return StepStats.of(
            "status",
            "write",
            ENTITY,
            stats,
            system="salesforce",
            read=stats["orders"],
            written=stats["updated"],
            unchanged=stats["unchanged"],
            failed=stats["failed"],
        )

    return run_step(sessions, ENTITY, "status_crm", run_id, body)


def _written_after(written: dt.datetime | None, staged: dt.datetime | None) -> bool:
    """Whether SyncHub's last write to the CRM order is newer than the order's staged values."""
    if written is None:
        return False
    if staged is None:
        return True
    return aware(written) >= aware(staged)


def _amount_mismatch(sap_values: Mapping[str, Any], crm_values: Mapping[str, Any]) -> str | None:
    """Why SAP's net total of an order differs from the CRM's total, or None when they agree."""
    sap_total, crm_total = (
        decimal_of(sap_values.get("total_amount")),
        decimal_of(crm_values.get("total_amount")),
    )
    if sap_total is None or crm_total is None or sap_total == crm_total:
        return None
    currency = sap_values.get("currency") or ""
    return f"SAP's net total {sap_total:.2f} {currency} differs from the CRM's total {crm_total:.2f}".rstrip()
