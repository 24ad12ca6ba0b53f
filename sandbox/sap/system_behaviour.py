"""What S/4 does around a write: defaults, partner names, the customer the CVI creates for a partner, order
stamps, change stamps, and loading and dumping seed data."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sandbox.sap.model import SERVICES, EntitySet
from sandbox.sap.odata import (
    ODataError,
    decode_value,
    encode_value,
)
from sandbox.sap.system_model import DIGITS, FAR_FUTURE, NUMBERED, Record


class SystemBehaviour:
    """Side effects of writes and seed loading; mixed into ``SapSystem``."""

    def _fill_defaults(self, entity_set: EntitySet, record: Record, user: str, now: dt.datetime) -> None:
        props = entity_set.properties
        today = dt.datetime(now.year, now.month, now.day)
        if "CreationDate" in props:
            record["CreationDate"] = today
        if "CreationTime" in props:
            record["CreationTime"] = dt.time(now.hour, now.minute, now.second)
        if "CreatedByUser" in props:
            record["CreatedByUser"] = user
        if "BusinessPartnerUUID" in props:
            record["BusinessPartnerUUID"] = str(uuid.uuid4())
        if "AddressUUID" in props:
            record["AddressUUID"] = str(uuid.uuid4())
        name = entity_set.name
        if name == "A_BusinessPartner":
            self._fill_partner_names(record)
        elif name in ("A_BusinessPartnerAddress",):
            record["ValidityStartDate"] = record.get("ValidityStartDate") or now.replace(microsecond=0)
            record["ValidityEndDate"] = record.get("ValidityEndDate") or FAR_FUTURE
        elif name == "A_BusinessPartnerRole":
            record["ValidFrom"] = record.get("ValidFrom") or now.replace(microsecond=0)
            record["ValidTo"] = record.get("ValidTo") or FAR_FUTURE
        elif name == "A_SalesOrder":
            record["SalesOrderDate"] = record.get("SalesOrderDate") or today
            for status in ("OverallSDProcessStatus", "OverallTotalDeliveryStatus", "OverallDeliveryStatus"):
                record[status] = record.get(status) or "A"
            record["TotalNetAmount"] = record.get("TotalNetAmount") or Decimal("0.00")
        elif name == "A_SalesOrderItem":
            record["SDProcessStatus"] = record.get("SDProcessStatus") or "A"
            record["DeliveryStatus"] = record.get("DeliveryStatus") or "A"

    @staticmethod
    def _fill_partner_names(record: Record) -> None:
        """S/4 derives the partner's full name and name from the person's or organisation's names."""
        if not record.get("BusinessPartnerFullName"):
            category = record.get("BusinessPartnerCategory")
            if category == "1" or (category not in ("2", "3") and record.get("LastName")):
                parts = [record.get("FirstName"), record.get("LastName")]
            else:
                parts = [record.get("OrganizationBPName1"), record.get("OrganizationBPName2")]
            full = " ".join(p for p in parts if p)
            record["BusinessPartnerFullName"] = full[:81]
        if not record.get("BusinessPartnerName"):
            record["BusinessPartnerName"] = record.get("BusinessPartnerFullName")

    def _after_create(self, entity_set: EntitySet, record: Record, user: str, now: dt.datetime) -> None:
        """Follow-on effects S/4 applies itself: a customer role creates the customer; order totals."""
        name = entity_set.name
        if name == "A_BusinessPartnerRole" and str(record.get("BusinessPartnerRole") or "").startswith(
            "FLCU"
        ):
            partner = self._tables["A_BusinessPartner"].get((record["BusinessPartner"],))
            if partner is not None and self._linked_customer(partner) is None:
                self._create_customer_for(partner, user, now)
        elif name == "A_Customer":
            number = record["Customer"]
            linked = self._where("A_BusinessPartner", "Customer", number)
            partner = linked[0] if linked else self._tables["A_BusinessPartner"].get((number,))
            if partner is not None and partner.get("Customer") != record["Customer"]:
                self._put(self._sets["A_BusinessPartner"], {**partner, "Customer": record["Customer"]})
        elif name == "A_SalesOrderItem":
            self._order_changed(record["SalesOrder"], user, now)

    def _create_customer_for(self, partner: Record, user: str, now: dt.datetime) -> None:
        customer_set = self._sets["A_Customer"]
        customer: Record = {n: None for n in customer_set.properties}
        name = partner.get("BusinessPartnerFullName") or partner.get("OrganizationBPName1")
        customer.update(
            {
                "Customer": self._new_customer_number(partner),
                "CustomerName": (name or "")[:80] or None,
                "CustomerFullName": name,
                "DeletionIndicator": False,
                "PostingIsBlocked": False,
            }
        )
        self._fill_defaults(customer_set, customer, user, now)
        self._put(customer_set, customer)
        self._put(self._sets["A_BusinessPartner"], {**partner, "Customer": customer["Customer"]})

    def _new_customer_number(self, partner: Record) -> str:
        """The number the CVI gives the customer of ``partner``: the partner's own ("same numbers"),
        else the next free one of the customers' range."""
        if self.same_customer_numbers:
            return partner["BusinessPartner"]
        customer_set = self._sets["A_Customer"]
        record: Record = {"Customer": None}
        self._assign_key(customer_set, record)
        return record["Customer"]

    def _linked_customer(self, partner: Record) -> Record | None:
        number = partner.get("Customer")
        if not number and self.same_customer_numbers:
            number = partner.get("BusinessPartner")
        return self._tables["A_Customer"].get((number,)) if number else None

    def _order_changed(self, sales_order: str, user: str, now: dt.datetime) -> None:
        """An item changed: the order's total follows and, unless the order is being created, its stamps."""
        order_set = self._sets["A_SalesOrder"]
        order = self._tables["A_SalesOrder"].get((sales_order,))
        if order is None:
            return
        amounts = [
            r["NetAmount"]
            for r in self._where("A_SalesOrderItem", "SalesOrder", sales_order)
            if r.get("NetAmount") is not None
        ]
        updated = {**order, "TotalNetAmount": sum(amounts, Decimal("0.00"))}
        if ("A_SalesOrder", (sales_order,)) not in self._fresh:
            # Items are part of the sales document: changing one changes the document.
            self._stamp(order_set, updated, user, now, previous=order)
        self._put(order_set, updated)

    def _stamp(
        self, entity_set: EntitySet, record: Record, user: str, now: dt.datetime, previous: Record | None
    ) -> None:
        """Set the change stamps the set has (and only those), moving strictly forward per entity."""
        stamps = entity_set.stamps
        if "LastChangeDateTime" in stamps:
            before = previous.get("LastChangeDateTime") if previous else None
            moment = now
            if before is not None and moment <= before:
                # Two changes within one clock tick must still give the entity a new ETag.
                moment = before + dt.timedelta(milliseconds=1)
            record["LastChangeDateTime"] = moment
        if "LastChangeDate" in stamps:
            record["LastChangeDate"] = dt.datetime(now.year, now.month, now.day)
        if "LastChangeTime" in stamps:
            record["LastChangeTime"] = dt.time(now.hour, now.minute, now.second)
        if "LastChangedByUser" in entity_set.properties:
            record["LastChangedByUser"] = user

    # ------------------------------------------------------------- load / dump

    def load(self, records: dict[str, dict[str, list[dict]]]) -> None:
        """Add entities (service -> set -> records) whose values are wire forms or ISO strings.

        Keys they carry are kept; what S/4 fills itself (stamps, UUIDs, creation data) is filled
        where missing. Parents need not be loaded first; references are not checked.
        """
        now = self._now()
        with self.transaction():
            for service, sets in records.items():
                if service not in self.model:
                    raise ValueError(f"unknown SAP service {service!r}; known: {', '.join(SERVICES)}")
                for set_name, rows in sets.items():
                    if set_name not in self.model[service]:
                        raise ValueError(f"{service} has no entity set {set_name!r}")
                    entity_set = self.model[service][set_name]
                    for raw in rows:
                        self._load_one(entity_set, raw, now)
            self._link_customers()

    def _load_one(self, entity_set: EntitySet, raw: Mapping[str, Any], now: dt.datetime) -> None:
        record: Record = {name: None for name in entity_set.properties}
        for name, value in raw.items():
            if name == "__metadata" or name in entity_set.navigations:
                continue
            prop = entity_set.properties.get(name)
            if prop is None:
                raise ValueError(f"{entity_set.name} has no property {name!r}")
            try:
                record[name] = None if value is None else decode_value(prop, value)
            except ODataError as exc:
                raise ValueError(f"{entity_set.name}.{name}: {exc.message}") from exc
        self._assign_key(entity_set, record)
        missing = [k for k in entity_set.keys if record.get(k) is None]
        if missing:
            raise ValueError(f"{entity_set.name} record without key {', '.join(missing)}: {dict(raw)!r}")
        props = entity_set.properties
        today = dt.datetime(now.year, now.month, now.day)
        for name, value in (
            ("CreationDate", today),
            ("CreationTime", dt.time(now.hour, now.minute, now.second)),
            ("BusinessPartnerUUID", None),
            ("AddressUUID", None),
        ):
            if name in props and record.get(name) is None:
                record[name] = value if value is not None else str(uuid.uuid4())
        if entity_set.name == "A_BusinessPartner":
            self._fill_partner_names(record)
        if any(record.get(s) is None for s in entity_set.stamps):
            moment = now
            if record.get("LastChangeDate") is not None:
                day = record["LastChangeDate"]
                clock = record.get("LastChangeTime") or dt.time(0, 0)
                moment = dt.datetime.combine(day.date(), clock, tzinfo=dt.UTC)
            elif record.get("LastChangeDateTime") is not None:
                moment = record["LastChangeDateTime"]
            for stamp, value in (
                ("LastChangeDate", dt.datetime(moment.year, moment.month, moment.day)),
                ("LastChangeTime", dt.time(moment.hour, moment.minute, moment.second)),
                ("LastChangeDateTime", moment),
            ):
                if stamp in props and record.get(stamp) is None:
                    record[stamp] = value
        self._put(entity_set, record)
        self._bump_number(entity_set, record)

    def _bump_number(self, entity_set: EntitySet, record: Record) -> None:
        if entity_set.name in NUMBERED:
            prop, _, _ = NUMBERED[entity_set.name]
            value = record.get(prop)
            if isinstance(value, str) and DIGITS.match(value):
                self._next_number[entity_set.name] = max(self._next_number[entity_set.name], int(value) + 1)

    def _link_customers(self) -> None:
        partners = self._sets["A_BusinessPartner"]
        for number, partner in list(self._tables["A_BusinessPartner"].items()):
            if not partner.get("Customer") and (number[0],) in self._tables["A_Customer"]:
                self._put(partners, {**partner, "Customer": number[0]})

    def dump(self) -> dict[str, dict[str, list[dict]]]:
        """Every entity (service -> set -> records) as OData V2 wire values, without ``__metadata``."""
        with self._lock:
            return self._dump()

    def _dump(self) -> dict[str, dict[str, list[dict]]]:
        out: dict[str, dict[str, list[dict]]] = {}
        for service in SERVICES:
            sets_out: dict[str, list[dict]] = {}
            for name, entity_set in self.model[service].items():
                rows = []
                for record in self.records(entity_set):
                    rows.append(
                        {
                            prop_name: encode_value(entity_set.properties[prop_name], value)
                            for prop_name, value in record.items()
                            if value is not None and prop_name in entity_set.properties
                        }
                    )
                sets_out[name] = rows
            out[service] = sets_out
        return out

    def count(self, entity_set: EntitySet) -> int:
        with self._lock:
            return len(self._tables[entity_set.name])
