"""What the platform does around a record: loading and dumping seed data, the standard price book,
derived fields, order roll-ups and the recycle bin cascade."""

from __future__ import annotations

from typing import Any

from sandbox.salesforce.org_model import (
    ADDRESS_PARTS,
    AUTO_NUMBERS,
    LOAD_ORDER,
    STANDARD_PRICEBOOK_NAME,
    Record,
    SalesforceApiError,
)
from sandbox.salesforce.schema import (
    ORDER_STATUS_CATEGORY,
)


class OrgBehaviour:
    """Object behaviour and seed loading; mixed into ``SalesforceOrg``."""

    # ------------------------------------------------------------------ loading and dumping
    def load(self, records: dict[str, list[dict[str, Any]]]) -> None:
        """Load seed records, keeping their Ids and stamps and filling what the platform would."""
        unknown = sorted(set(records) - set(self.schema))
        if unknown:
            raise SalesforceApiError(404, "NOT_FOUND", f"The requested resource does not exist: {unknown[0]}")
        with self.atomic():
            now = self._now()
            if any(r.get("IsStandard") for r in records.get("Pricebook2", [])):
                self._drop_unused_standard_pricebooks()
            for obj in LOAD_ORDER + [o for o in self.schema if o not in LOAD_ORDER]:
                for raw in records.get(obj, []):
                    self._load_one(obj, raw, now)
            for order_id in list(self._records["Order"]):
                self._recompute_order_total(order_id, touch=False)
            self._ensure_standard_pricebook()

    def _load_one(self, obj: str, raw: dict[str, Any], now: str) -> None:
        od = self.schema[obj]
        rec: Record = {name: None for name, f in od.fields.items() if f.type != "address"}
        for f in od.fields.values():
            if f.type == "boolean":
                rec[f.name] = False
        for key, value in raw.items():
            if key == "attributes":
                continue
            f = self._field_of(od, key)
            if f is None:
                continue  # a SyncHub field this org does not have yet
            if f.type == "address":
                continue  # derived from its parts by _derive
            rec[f.name] = self._coerce(od, f, value) if value is not None else None
        record_id = rec.get("Id") or self._new_id(obj)
        rec["Id"] = record_id
        for stamp in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
            if stamp in od.fields and rec.get(stamp) is None:
                rec[stamp] = rec.get("LastModifiedDate") or rec.get("CreatedDate") or now
        for user_field in ("OwnerId", "CreatedById", "LastModifiedById"):
            if user_field in od.fields and rec.get(user_field) is None:
                rec[user_field] = self.user_id
        rec["IsDeleted"] = bool(rec.get("IsDeleted"))
        if obj in AUTO_NUMBERS:
            field, width = AUTO_NUMBERS[obj]
            if rec.get(field) is None:
                rec[field] = self._next_auto_number(obj, width)
            elif str(rec[field]).isdigit():
                self._auto_numbers[obj] = max(self._auto_numbers[obj], int(rec[field]) + 1)
        if obj == "Pricebook2" and rec.get("IsStandard"):
            rec["IsActive"] = True
        self._derive(obj, rec)
        self._store(obj, record_id, rec, self._records[obj].get(record_id))

    def _drop_unused_standard_pricebooks(self) -> None:
        """Make room for a seed's own standard price book: drop the generated one while nothing uses it."""
        for pricebook in list(self._records["Pricebook2"].values()):
            used = any(
                r.get("Pricebook2Id") == pricebook["Id"]
                for obj in ("PricebookEntry", "Order")
                for r in self._records[obj].values()
            )
            if pricebook.get("IsStandard") and not used:
                self._store("Pricebook2", pricebook["Id"], None, pricebook)

    def _ensure_standard_pricebook(self) -> None:
        with self._lock:
            if any(r.get("IsStandard") for r in self._records["Pricebook2"].values()):
                return
            now = self._now()
            record_id = self._new_id("Pricebook2")
            rec = self._blank("Pricebook2", record_id, now)
            rec.update(Name=STANDARD_PRICEBOOK_NAME, IsActive=True, IsStandard=True)
            self._store("Pricebook2", record_id, rec, None)

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every record of every object, deleted ones included (``IsDeleted`` true).

        Compound address fields are left out: they are derived from their parts and ``load`` rebuilds them.
        """
        with self._lock:
            out = {}
            for obj, table in self._records.items():
                compound = {n for n, f in self.schema[obj].fields.items() if f.type == "address"}
                out[obj] = [{k: v for k, v in r.items() if k not in compound} for r in table.values()]
            return out

    @property
    def standard_pricebook_id(self) -> str:
        with self._lock:
            return next(i for i, r in self._records["Pricebook2"].items() if r.get("IsStandard"))

    # ------------------------------------------------------------------ object behaviour
    def _before_insert(self, obj: str, rec: Record) -> None:
        if obj in AUTO_NUMBERS:
            field, width = AUTO_NUMBERS[obj]
            rec[field] = self._next_auto_number(obj, width)
        if obj == "Order":
            rec["TotalAmount"] = 0.0
            if ORDER_STATUS_CATEGORY.get(rec.get("Status") or "") == "Activated":
                rec["ActivatedDate"] = rec["CreatedDate"]
                rec["ActivatedById"] = self.user_id
        if obj == "PricebookEntry":
            pricebook = self._records["Pricebook2"][rec["Pricebook2Id"]]
            product_id = rec["Product2Id"]
            live = [
                r for r in self._children_of("PricebookEntry", "Product2Id", product_id) if not r["IsDeleted"]
            ]
            if any(r["Pricebook2Id"] == rec["Pricebook2Id"] for r in live):
                raise SalesforceApiError(
                    400, "DUPLICATE_VALUE", "This price definition already exists in this price book", []
                )
            if not pricebook.get("IsStandard"):
                standard = self.standard_pricebook_id
                if not any(r["Pricebook2Id"] == standard for r in live):
                    raise SalesforceApiError(
                        400, "STANDARD_PRICE_NOT_DEFINED", "No standard price defined for this product", []
                    )
        if obj == "OrderItem":
            order = self._records["Order"][rec["OrderId"]]
            entry = self._records["PricebookEntry"][rec["PricebookEntryId"]]
            if order.get("Pricebook2Id") != entry["Pricebook2Id"]:
                raise SalesforceApiError(
                    400,
                    "FIELD_INTEGRITY_EXCEPTION",
                    "field integrity exception: PricebookEntryId "
                    "(pricebook entry is in a different pricebook "
                    "than the one assigned to the order, or order has no pricebook assigned)",
                    ["PricebookEntryId"],
                )
            if rec.get("Product2Id") not in (None, entry["Product2Id"]):
                raise SalesforceApiError(
                    400,
                    "FIELD_INTEGRITY_EXCEPTION",
                    "field integrity exception: PricebookEntryId, Product2Id "
                    "(pricebook entry has a different "
                    "product than the one specified)",
                    ["Product2Id"],
                )
            rec["Product2Id"] = entry["Product2Id"]
            rec["ListPrice"] = entry["UnitPrice"]

    def _before_update(self, obj: str, rec: Record, old: Record) -> None:
        category = ORDER_STATUS_CATEGORY.get
        if (
            obj == "Order"
            and category(old.get("Status") or "") == "Activated"
            and not self.edit_activated_orders
        ):
            raise SalesforceApiError(
                400,
                "INSUFFICIENT_ACCESS_OR_READONLY",
                "insufficient access rights: editing an activated order needs the Edit Activated Orders "
                "permission",
                [],
            )
        if (
            obj == "Order"
            and category(rec.get("Status") or "") == "Activated"
            and category(old.get("Status") or "") != "Activated"
        ):
            rec["ActivatedDate"] = rec["LastModifiedDate"]
            rec["ActivatedById"] = self.user_id

    def _derive(self, obj: str, rec: Record) -> None:
        """Fields the platform computes from others (formula-like, auto-number, compound address)."""
        od = self.schema[obj]
        for f in od.fields.values():
            if f.type == "address":
                prefix = f.name.removesuffix("Address")
                parts = {k: rec.get(prefix + suffix) for k, suffix in ADDRESS_PARTS.items()}
                rec[f.name] = parts if any(v is not None for v in parts.values()) else None
        if obj == "Contact":
            rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)
        elif obj == "PricebookEntry":
            product = self._records["Product2"].get(rec.get("Product2Id") or "")
            if product is not None:
                rec["Name"] = product.get("Name")
                rec["ProductCode"] = product.get("ProductCode")
        elif obj == "Order":
            rec["StatusCode"] = ORDER_STATUS_CATEGORY.get(rec.get("Status") or "", "Draft")
            if rec.get("TotalAmount") is None:
                rec["TotalAmount"] = 0.0
        elif obj == "OrderItem":
            quantity, price = rec.get("Quantity"), rec.get("UnitPrice")
            rec["TotalPrice"] = (
                round(quantity * price, 2) if quantity is not None and price is not None else None
            )
            if rec.get("ListPrice") is None and rec.get("PricebookEntryId"):
                entry = self._records["PricebookEntry"].get(rec["PricebookEntryId"])
                if entry is not None:
                    rec["ListPrice"] = entry.get("UnitPrice")

    def _after_write(self, obj: str, rec: Record | None, old: Record | None) -> None:
        """Roll changes up to parents (order totals) and across (price book entry names)."""
        if obj == "OrderItem":
            order_ids = {r["OrderId"] for r in (rec, old) if r is not None}
            for order_id in order_ids:
                self._recompute_order_total(order_id, touch=True)
        if (
            obj == "Product2"
            and rec is not None
            and old is not None
            and (rec.get("Name") != old.get("Name") or rec.get("ProductCode") != old.get("ProductCode"))
        ):
            for entry in self._children_of("PricebookEntry", "Product2Id", rec["Id"]):
                self._store(
                    "PricebookEntry",
                    entry["Id"],
                    {**entry, "Name": rec.get("Name"), "ProductCode": rec.get("ProductCode")},
                    entry,
                )

    def _recompute_order_total(self, order_id: str, *, touch: bool) -> None:
        order = self._records["Order"].get(order_id)
        if order is None:
            return
        total = round(
            sum(
                r.get("TotalPrice") or 0.0
                for r in self._children_of("OrderItem", "OrderId", order_id)
                if not r["IsDeleted"]
            ),
            2,
        )
        if order.get("TotalAmount") == total and not touch:
            return
        updated = {**order, "TotalAmount": total}
        if touch:
            # A roll-up summary change is a change of the parent: its stamps move too.
            updated["LastModifiedDate"] = updated["SystemModstamp"] = self._now()
        self._store("Order", order_id, updated, order)
