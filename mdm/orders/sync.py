"""Quote-to-cash: activated CRM orders become SAP sales orders; SAP's number and status come back.

Orders are transactional, not mastered. Both systems' orders are staged by ``mdm.pipeline.extract``
(raw payload with the CRM's OrderItems and SAP's to_Item, plus canonical values from
``mappings/order.yaml``); the two steps work on that staging (``push_orders`` here, ``status_to_crm`` in
``mdm.orders.status``):

- ``push_orders``: every CRM order whose status is in the configured category
  (``orders.send_when_status_category``, the CRM's StatusCode) that is
  not yet in SAP is sent there, by deep insert (A_SalesOrder with to_Item). The sold-to party comes
  from the customer cross-reference (Account -> golden customer -> its SAP business partner -> that
  partner's customer number, A_BusinessPartner.Customer, which differs from the partner's number unless
  the CVI assigns the same numbers; SD takes it only in a sales area it is extended to, so an order
  for a customer without the sales area of ``orders.header`` waits, with the reason, its partner read
  again from SAP on every run until it is extended), each
  item's material from the product cross-reference (Product2 -> golden product -> SAP product, whose
  base unit the item is ordered in). An order whose customer or product is not in SAP yet *waits*,
  with the reason (``order_sync``), and goes through in the first run after the master data arrives.
  Idempotent: ExternalDocumentID carries the CRM order's Id; an order the CRM already names a SAP
  number for, or that SAP holds under its Id (also looked up remotely just before a create, in case a
  run died after the write), is *linked*, never created twice. An order SAP rejects is *failed*, with
  SAP's message, in the error queue (``dead_letter``); it is sent again once the CRM order changes.
- ``status_to_crm``: the SAP order number and its overall processing, delivery and billing status
  are written to the CRM order where they differ from what it holds (``publish`` of the mapping's
  salesforce system: SAP's codes through the value map ``sd_status``). SyncHub's own writes are not
  repeated before their echo comes back. For orders SyncHub created, a SAP net total that differs from
  the CRM's total is kept as the order's ``reason`` for an admin to see.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import WriteRecord
from mdm.config import load_entity_mapping, mapping_with
from mdm.config.sections import OrderSettings, order_is_due
from mdm.runtime import Sessions, chunked, connector_for, run_step
from mdm.stats import StepStats
from mdm.steps.extract import extract, stage_payloads
from mdm.steps.write import Write, apply_writes
from mdm.store.deadletter import record_failure, resolve
from mdm.store.models import (
    CANONICAL_SOURCE,
    XREF_RECORD,
    CanonicalRecord,
    OrderSync,
    SourceRecord,
    Xref,
    utcnow,
)
from mdm.store.staging import payload_hash

if TYPE_CHECKING:
    from connectors.base import Connector
    from mdm.config import Mapping as EntityMapping

log = logging.getLogger(__name__)

ENTITY = "order"
MAX_EXAMPLES = 20
WRITE_CHUNK = 200  # orders per connector call; the store is updated after each
_IN = 500  # keys per IN (...) list


@dataclass
class Report:
    """Counts plus a few examples per outcome, for the stats and the run log."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, outcome: str, example: dict[str, Any] | None = None) -> None:
        self.counts[outcome] += 1
        if example is not None:
            listed = self.examples.setdefault(outcome, [])
            if len(listed) < MAX_EXAMPLES:
                listed.append(example)


# --- reading the store -------------------------------------------------------------------------------


def _staged(session: Session, system: str, entity: str, keys: Sequence[str] | None = None) -> dict[str, Any]:
    """Live staged raw payloads of one system's records of an entity (only ``keys`` when given)."""
    query = select(SourceRecord.source_key, SourceRecord.payload).where(
        SourceRecord.system == system, SourceRecord.entity == entity, SourceRecord.is_deleted.is_(False)
    )
    if keys is None:
        return dict(session.execute(query).all())
    found: dict[str, Any] = {}
    for part in chunked(list(keys), _IN):
        found.update(session.execute(query.where(SourceRecord.source_key.in_(part))).all())
    return found


def canonical_values(
    session: Session, system: str, keys: Sequence[str] | None = None
) -> dict[str, tuple[dict, Any]]:
    """Canonical order values (and when they last changed) of one system, by key."""
    query = select(CanonicalRecord.source_key, CanonicalRecord.values, CanonicalRecord.updated_at).where(
        CanonicalRecord.system == system,
        CanonicalRecord.entity == ENTITY,
        CanonicalRecord.is_deleted.is_(False),
    )
    if keys is None:
        return {key: (values or {}, stamp) for key, values, stamp in session.execute(query)}
    found: dict[str, tuple[dict, Any]] = {}
    for part in chunked(list(keys), _IN):
        rows = session.execute(query.where(CanonicalRecord.source_key.in_(part)))
        found.update({key: (values or {}, stamp) for key, values, stamp in rows})
    return found


def translate(
    session: Session, entity: str, keys: Iterable[str], *, source: str = "salesforce", target: str = "sap"
) -> dict[str, tuple[str, list[str]]]:
    """Per key of ``source``: its golden id and the keys of that golden record's live records in
    ``target`` (sorted; empty when it has none there yet). Keys without a golden record are absent."""
    wanted = sorted(set(keys))
    golden_of: dict[str, str] = {}
    for part in chunked(wanted, _IN):
        golden_of.update(
            session.execute(
                select(Xref.source_key, Xref.golden_id).where(
                    Xref.system == source, Xref.entity == entity, Xref.source_key.in_(part)
                )
            ).all()
        )
    targets: dict[str, list[str]] = {}
    goldens = sorted(set(golden_of.values()))
    for part in chunked(goldens, _IN):
        rows = session.execute(
            select(Xref.golden_id, Xref.source_key, CanonicalRecord.is_deleted)
            .outerjoin(CanonicalRecord, XREF_RECORD)
            .where(Xref.system == target, Xref.entity == entity, Xref.golden_id.in_(part))
        )
        for golden, key, deleted in rows:
            if not deleted:  # a record SyncHub created and has not extracted yet counts too
                targets.setdefault(golden, []).append(key)
    return {key: (golden, sorted(targets.get(golden, []))) for key, golden in golden_of.items()}


@dataclass(frozen=True)
class _SapCustomer:
    number: str  # SAP's customer number (erp_customer_number, from A_BusinessPartner.Customer)
    # (SalesOrganization, DistributionChannel, Division) it is extended to; None: not read
    sales_areas: frozenset[tuple[str, str, str]] | None


def _sap_customers(session: Session, partners: Sequence[str]) -> dict[str, _SapCustomer]:
    """The customer of each of these business partners, as last staged; partners without one are absent."""
    found: dict[str, _SapCustomer] = {}
    for part in chunked(list(partners), _IN):
        rows = session.execute(
            select(CanonicalRecord.source_key, CanonicalRecord.values, SourceRecord.payload)
            .join(SourceRecord, CANONICAL_SOURCE)
            .where(
                CanonicalRecord.system == "sap",
                CanonicalRecord.entity == "customer",
                CanonicalRecord.is_deleted.is_(False),
                CanonicalRecord.source_key.in_(part),
            )
        )
        for key, values, payload in rows:
            number = (values or {}).get("erp_customer_number")
            if not number:
                continue
            customer = (payload or {}).get("to_Customer")
            areas = customer.get("to_CustomerSalesArea") if isinstance(customer, dict) else None
            keys = ("SalesOrganization", "DistributionChannel", "Division")
            found[key] = _SapCustomer(
                str(number),
                None
                if areas is None
                else frozenset(tuple(str(a.get(k)) for k in keys) for a in areas if isinstance(a, dict)),
            )
    return found


def _number(value: Any) -> str:
    return str(value or "").strip().lstrip("0")


def decimal_of(value: Any) -> Decimal | None:
    try:
        return None if value in (None, "") else Decimal(str(value))
    except InvalidOperation:
        return None


# --- push: CRM orders -> SAP sales orders ------------------------------------------------------------


@dataclass
class _Plan:
    crm_id: str
    payload_digest: str
    order_number: str | None
    state: str  # created (to send), linked, waiting, failed
    fields: dict[str, Any] | None = None
    erp_order: str | None = None
    reason: str | None = None
    customer: str | None = None
    error_code: str | None = None  # failed: the code and message for the error queue
    error_message: str | None = None
    # waiting: SAP partners whose staged sales areas lack the order's (SAP may know better by now)
    recheck: list[str] = field(default_factory=list)


def push_orders(
    *,
    sessions: Sessions | None = None,
    run_id: int | None = None,
    connector: Connector | None = None,
    mapping: EntityMapping | None = None,
    only: set[str] | None = None,
) -> StepStats:
    """Send the CRM orders that reached the configured status to SAP (see the module docstring).

    ``only``: just these CRM order ids (a replay from the error queue); None: every one.

    Stats: orders (with the status), already_in_erp, created, linked, recovered, waiting (with
    examples and their reasons), failed (SAP rejected; with SAP's messages), failed_unchanged (rejected
    before and not changed since: not sent again), refreshed (SAP orders staged after the creates),
    api_calls, seconds.
    """
    mapping = mapping_with(ENTITY, mapping, "orders")
    settings = mapping.orders

    def body(store: Sessions, run: int | None) -> StepStats:
        sap = connector or connector_for("sap")
        calls_before = sap.usage.calls
        clock = time.perf_counter()
        report = Report()
        with store() as session:
            plans = _plan_orders(session, settings, Report(), only)
        stale = sorted({k for plan in plans if plan.state == "waiting" for k in plan.recheck})
        if stale:
            # Extending a customer to a sales area does not move the partner's change stamp: read
            # those partners again before an order waits for them.
            customers = load_entity_mapping("customer")
            stage_payloads(
                "customer",
                "sap",
                sap.read_keys(customers.source, stale),
                sessions=store,
                run_id=run,
                mapping=customers,
            )
        with store() as session:
            plans = _plan_orders(session, settings, report, only)
        to_create = [p for p in plans if p.state == "created"]
        if to_create:
            # A run that died after SAP took the order but before the store knew: find, don't resend.
            found = sap.keys_for_external_ids(mapping.source, [p.crm_id for p in to_create])
            for plan in to_create:
                if plan.crm_id in found:
                    plan.state, plan.erp_order = "linked", found[plan.crm_id]
                    report.add("recovered", {"crm_order": plan.crm_id, "erp_order": plan.erp_order})
        sends = [
            Write(p.crm_id, WriteRecord(p.crm_id, p.fields or {}), "create", item=p)
            for p in plans
            if p.state == "created"
        ]
        # The error queue is kept with each order's state (_save), waiting and unchanged ones included.
        sent = apply_writes(sap, mapping.source, sends, system="sap", chunk_size=WRITE_CHUNK)
        for write, outcome in sent.done:
            plan = write.item
            if outcome.status == "failed":
                plan.state = "failed"
                plan.error_code, plan.error_message = outcome.error_code, outcome.error_message or ""
                plan.reason = (
                    f"SAP rejected the order: {outcome.error_code or 'UNKNOWN'}: {outcome.error_message}"
                )
                report.add(
                    "failed",
                    {
                        "crm_order": plan.crm_id,
                        "code": outcome.error_code,
                        "message": outcome.error_message,
                    },
                )
            else:
                plan.erp_order = outcome.remote_key
                report.add("created", {"crm_order": plan.crm_id, "erp_order": plan.erp_order})
        with store.begin() as session:
            _save(session, plans, run)
        refreshed = None
        if report.counts["created"]:
            # Stage the new SAP orders now, so their number and status reach the CRM in this run.
            refreshed = extract(ENTITY, "sap", sessions=store, run_id=run, connector=sap, mapping=mapping)
        stats = {
            "entity": ENTITY,
            "orders": report.counts["orders"],
            "already_in_erp": report.counts["already_in_erp"],
            "created": report.counts["created"],
            "linked": report.counts["linked"] + report.counts["recovered"],
            "recovered": report.counts["recovered"],
            "waiting": report.counts["waiting"],
            "failed": report.counts["failed"],
            "failed_unchanged": report.counts["failed_unchanged"],
            "waiting_examples": report.examples.get("waiting", []),
            "errors": report.examples.get("failed", []),
            "refreshed": refreshed["records"] if refreshed else 0,
            "api_calls": sap.usage.calls - calls_before,
            "seconds": round(time.perf_counter() - clock, 3),
        }
        log.info(
            "push orders: %d in status category %s; %d created in SAP, %d linked, %d waiting, %d failed",
            stats["orders"],
            settings.send_when_status_category,
            stats["created"],
            stats["linked"],
            stats["waiting"],
            stats["failed"],
        )
        return StepStats.of(
            "push",
            "write",
            ENTITY,
            stats,
            system="sap",
            read=stats["orders"],
            written=stats["created"],
            unchanged=stats["already_in_erp"],
            failed=stats["failed"],
            waiting=stats["waiting"],
        )

    return run_step(sessions, ENTITY, "push_erp", run_id, body)


def _plan_orders(
    session: Session, settings: OrderSettings, report: Report, only: set[str] | None = None
) -> list[_Plan]:
    """What to do with each CRM order that has the status and is not in SAP yet (of ``only``, if given)."""
    staged = _staged(session, "salesforce", ENTITY, sorted(only) if only is not None else None)
    crm = {
        key: payload
        for key, payload in staged.items()
        if order_is_due(payload, settings.send_when_status_category)
    }
    # Orders the quality gate quarantined are not sent until they pass again.
    held = set(
        session.scalars(
            select(CanonicalRecord.source_key).where(
                CanonicalRecord.system == "salesforce",
                CanonicalRecord.entity == ENTITY,
                CanonicalRecord.quarantine_reason.is_not(None),
            )
        )
    )
    crm = {key: payload for key, payload in crm.items() if key not in held}
    report.counts["orders"] = len(crm)
    states = {
        s.crm_order_id: s
        for part in chunked(sorted(crm), _IN)
        for s in session.scalars(select(OrderSync).where(OrderSync.crm_order_id.in_(part)))
    }
    erp = canonical_values(session, "sap")
    erp_by_number = {_number(values.get("erp_order_number") or key): key for key, (values, _) in erp.items()}
    erp_by_crm_id = {
        values["crm_order_id"]: key for key, (values, _) in erp.items() if values.get("crm_order_id")
    }
    todo: dict[str, dict[str, Any]] = {}
    plans: list[_Plan] = []
    for crm_id, payload in sorted(crm.items()):
        state = states.get(crm_id)
        digest = payload_hash(payload)
        number = payload.get("OrderNumber")
        if state is not None and state.state in ("created", "linked"):
            report.counts["already_in_erp"] += 1
            continue
        if state is not None and state.state == "failed" and state.payload_hash == digest:
            report.counts["failed_unchanged"] += 1
            continue
        named = _number(payload.get("SAP_Order_Number__c"))
        if named:
            if named in erp_by_number:
                plans.append(_Plan(crm_id, digest, number, "linked", erp_order=erp_by_number[named]))
                report.add("linked")
            else:
                reason = f"the CRM order names SAP order {named}, which SAP does not have"
                plans.append(
                    _Plan(
                        crm_id,
                        digest,
                        number,
                        "failed",
                        reason=reason,
                        error_code="ERP_ORDER_NOT_FOUND",
                        error_message=reason,
                    )
                )
                report.add("failed", {"crm_order": crm_id, "code": "ERP_ORDER_NOT_FOUND", "message": reason})
            continue
        if crm_id in erp_by_crm_id:
            plans.append(_Plan(crm_id, digest, number, "linked", erp_order=erp_by_crm_id[crm_id]))
            report.add("linked")
            continue
        todo[crm_id] = payload
    if not todo:
        return plans
    customers = translate(session, "customer", {str(p.get("AccountId") or "") for p in todo.values()})
    sap_customers = _sap_customers(session, sorted({k for _, keys in customers.values() for k in keys}))
    product_ids = {str(i.get("Product2Id") or "") for p in todo.values() for i in p.get("OrderItems") or []}
    products = translate(session, "product", product_ids)
    materials = {keys[0] for _, keys in products.values() if keys}
    units = {
        key: p.get("BaseUnit") for key, p in _staged(session, "sap", "product", sorted(materials)).items()
    }
    for crm_id, payload in todo.items():
        plan = _order_plan(crm_id, payload, settings, customers, sap_customers, products, units)
        plans.append(plan)
        if plan.state == "waiting":
            report.add(
                "waiting", {"crm_order": crm_id, "order_number": plan.order_number, "reason": plan.reason}
            )
    return plans


def _order_plan(
    crm_id: str,
    payload: Mapping[str, Any],
    settings: OrderSettings,
    customers: Mapping[str, tuple[str, list[str]]],
    sap_customers: Mapping[str, _SapCustomer],
    products: Mapping[str, tuple[str, list[str]]],
    units: Mapping[str, Any],
) -> _Plan:
    """The deep insert of one CRM order, or why it waits."""
    digest = payload_hash(dict(payload))
    number = payload.get("OrderNumber")
    account = str(payload.get("AccountId") or "")
    missing: list[str] = []
    golden_customer = None
    sold_to = None
    recheck: list[str] = []
    if not account:
        missing.append("customer: the CRM order has no account")
    elif account not in customers:
        missing.append(f"customer: account {account} is not synchronised yet (no golden customer)")
    else:
        golden_customer, partners = customers[account]
        numbered = [sap_customers[p] for p in partners if p in sap_customers]
        # SD takes a sold-to party only in a sales area it is extended to (A_CustomerSalesArea).
        area = (
            str(settings.header.get("SalesOrganization")),
            str(settings.header.get("DistributionChannel")),
            str(settings.header.get("OrganizationDivision")),
        )
        in_area = [c for c in numbered if c.sales_areas is None or area in c.sales_areas]
        recheck = [p for p in partners if p in sap_customers and sap_customers[p] not in in_area]
        if not partners:
            missing.append(f"customer: golden customer {golden_customer} is not in SAP yet")
        elif not numbered:
            missing.append(
                f"customer: SAP business partner {partners[0]} of golden customer {golden_customer} "
                "has no customer number yet (no customer role, or not read back from SAP)"
            )
        elif not in_area:
            missing.append(
                f"customer: SAP customer {numbered[0].number} (golden customer {golden_customer}) is not "
                f"extended to sales area {'/'.join(area)} (orders.header); extend it in SAP"
            )
        else:
            # The sold-to party is a customer number, which is the partner's own number only where
            # the CVI assigns customers the same numbers (A_SalesOrder.SoldToParty: Customer).
            sold_to = in_area[0].number
    items: list[dict[str, Any]] = []
    lines = sorted(payload.get("OrderItems") or [], key=lambda i: str(i.get("OrderItemNumber") or ""))
    if not lines:
        missing.append("items: the CRM order has no items")
    for position, line in enumerate(lines, start=1):
        product = str(line.get("Product2Id") or "")
        code = line.get("Product2.ProductCode") or product
        if product not in products:
            missing.append(f"product {code}: not synchronised yet (no golden product)")
            continue
        golden, sap_products = products[product]
        if not sap_products:
            missing.append(f"product {code}: golden product {golden} has no SAP product")
            continue
        material = sap_products[0]
        item: dict[str, Any] = {
            "SalesOrderItem": str(position * 10),
            "Material": material,
            "RequestedQuantity": str(line.get("Quantity")),
        }
        if units.get(material):
            item["RequestedQuantityUnit"] = units[material]
        if settings.item_amounts and line.get("TotalPrice") is not None:
            item["NetAmount"] = str(line["TotalPrice"])
            item["TransactionCurrency"] = settings.currency
        items.append(item)
    if missing:
        return _Plan(
            crm_id,
            digest,
            number,
            "waiting",
            reason="; ".join(missing),
            customer=golden_customer,
            recheck=[] if sold_to else recheck,
        )
    fields: dict[str, Any] = {
        **settings.header,
        "SoldToParty": sold_to,
        "PurchaseOrderByCustomer": str(payload.get("PoNumber") or number or crm_id)[:35],
        "CustomerPurchaseOrderDate": payload.get("EffectiveDate"),
        "TransactionCurrency": settings.currency,
        "ExternalDocumentID": crm_id,
        "to_Item": items,
    }
    return _Plan(
        crm_id,
        digest,
        number,
        "created",
        fields={k: v for k, v in fields.items() if v is not None},
        customer=golden_customer,
    )


def _save(session: Session, plans: Sequence[_Plan], run_id: int | None) -> None:
    """Each evaluated order's state; failures into the error queue, successes out of it."""
    now = utcnow()
    for plan in plans:
        state = session.get(OrderSync, plan.crm_id)
        if state is None:
            state = OrderSync(crm_order_id=plan.crm_id, attempts=0, created_at=now)
            session.add(state)
        sent = plan.state == "created" or (plan.state == "failed" and plan.fields is not None)
        state.crm_order_number = plan.order_number
        state.state = plan.state
        state.reason = plan.reason
        state.erp_order = plan.erp_order
        state.customer_golden_id = plan.customer
        state.payload_hash = plan.payload_digest
        state.attempts = (state.attempts or 0) + (1 if sent else 0)
        state.updated_at = now
        state.run_id = run_id
        if plan.state == "failed":
            record_failure(
                session,
                entity=ENTITY,
                system="sap",
                operation="create",
                record_key=plan.crm_id,
                code=plan.error_code,
                message=plan.error_message or "",
                payload=plan.fields,
                run_id=run_id,
            )
        elif plan.state in ("created", "linked"):
            resolve(session, entity=ENTITY, system="sap", operation="create", record_key=plan.crm_id)
