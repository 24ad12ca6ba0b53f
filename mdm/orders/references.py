"""What the quality gate checks of a CRM order besides its own values: whether SyncHub knows its account
and its products (the order entity's ``quality_columns``, ``mdm.entities.order``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mdm.config import Mapping as EntityMapping
from mdm.config.sections import DEFAULT_SEND_WHEN
from mdm.store.models import SourceRecord, Xref


def order_references(
    session: Session, mapping: EntityMapping, system: str, rows: list[dict[str, Any]]
) -> None:
    """The columns the order suites check (``customer_in_xref``, ``products_in_xref``) on the CRM orders
    SyncHub sends (None on the others): whether their account and products are known to SyncHub."""
    if system != "salesforce":
        return
    send_when = mapping.orders.send_when_status_category if mapping.orders else DEFAULT_SEND_WHEN

    def known(entity: str) -> set[str]:
        return set(
            session.scalars(select(Xref.source_key).where(Xref.system == "salesforce", Xref.entity == entity))
        )

    customers, products = known("customer"), known("product")
    payloads = dict(
        session.execute(
            select(SourceRecord.source_key, SourceRecord.payload).where(
                SourceRecord.system == "salesforce",
                SourceRecord.entity == "order",
                SourceRecord.is_deleted.is_(False),
            )
        ).all()
    )
    for row in rows:
        payload = payloads.get(row["source_key"]) or {}
        if str(payload.get("StatusCode") or row.get("status_category") or "") != send_when:
            row |= {"customer_in_xref": None, "products_in_xref": None}
            continue
        items = payload.get("OrderItems") or []
        if isinstance(items, dict):  # a REST relationship query keeps the children under "records"
            items = items.get("records") or []
        row["customer_in_xref"] = str(row.get("customer") or "") in customers
        row["products_in_xref"] = all(str(i.get("Product2Id") or "") in products for i in items)
