"""The SAP sandbox's data: an in-memory S/4HANA that assigns numbers, stamps changes and checks references.

``SapSystem`` holds every entity set of the modelled services as native Python values (see
``sandbox.sap.odata``: ``str``, ``bool``, ``Decimal``, ``datetime``, ``time``) and behaves as S/4 does
where a client can see it:

- it numbers business partners (from 1000000), addresses, sales orders, sales order items
  (10, 20, ...), e-mail/phone ordinal numbers and condition records; other keys are the client's;
- it stamps ``LastChangeDate``/``LastChangeTime``/``LastChangeDateTime`` only on the sets whose type
  has them, and only on the entity that changed: a new or changed address leaves its partner's stamp
  alone, the trap incremental extraction must survive;
- deep inserts (partner with addresses, roles, tax numbers and customer; order with items) are atomic,
  and so is every ``transaction()`` (a ``$batch`` changeset);
- it stores ABAP initial values, never null, for strings (``""``), flags (``false``) and numbers
  (``0``/``"0.000"``); only dates, timestamps and times can be null. So ``$filter=X eq ''`` finds
  fields never filled and ``X eq null`` on a string finds nothing, as on S/4;
- API creates must carry what S/4 requires (partner category and name, the sales order's
  organisational data and sold-to party, an item's material and a positive quantity) and get S/4's
  400 with one error detail per property; ``load()`` takes data as a system already holds it.

All methods are thread-safe: one re-entrant lock guards the tables.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import phonenumbers

from sandbox.sap.metadata import capabilities
from sandbox.sap.model import SERVICES, EntitySet, load_model
from sandbox.sap.odata import (
    CODE_BUSINESS,
    CODE_MALFORMED,
    CODE_RESOURCE_NOT_FOUND,
    ODataError,
    decode_value,
    encode_value,
    etag_of,
    initial_value,
)

Key = tuple[Any, ...]
Record = dict[str, Any]

# First number of the customers' own range: eight digits, so a customer number is never also a
# partner number of the seven-digit BP range (the seed numbers its customers from here too).
CUSTOMER_NUMBER_START = 17100001

# child set -> (parent set, {child property: parent property}). Navigations between a parent and a
# child join on these; a child can only be created under an existing parent.
PARENTS: dict[str, tuple[str, dict[str, str]]] = {
    "A_BusinessPartnerAddress": ("A_BusinessPartner", {"BusinessPartner": "BusinessPartner"}),
    "A_BusinessPartnerRole": ("A_BusinessPartner", {"BusinessPartner": "BusinessPartner"}),
    "A_BusinessPartnerTaxNumber": ("A_BusinessPartner", {"BusinessPartner": "BusinessPartner"}),
    # A_BusinessPartner.Customer names the partner's customer: its own number unless the CVI assigns
    # customers the partner's number ("same numbers", see SapSystem's same_customer_numbers).
    "A_Customer": ("A_BusinessPartner", {"Customer": "Customer"}),
    "A_CustomerSalesArea": ("A_Customer", {"Customer": "Customer"}),
    "A_AddressEmailAddress": ("A_BusinessPartnerAddress", {"AddressID": "AddressID"}),
    "A_AddressPhoneNumber": ("A_BusinessPartnerAddress", {"AddressID": "AddressID"}),
    "A_ProductDescription": ("A_Product", {"Product": "Product"}),
    "A_ProductSales": ("A_Product", {"Product": "Product"}),
    "A_ProductSalesDelivery": ("A_Product", {"Product": "Product"}),
    "A_SalesOrderItem": ("A_SalesOrder", {"SalesOrder": "SalesOrder"}),
    "A_SalesOrderHeaderPartner": ("A_SalesOrder", {"SalesOrder": "SalesOrder"}),
    "A_SlsPrcgCndnRecdValidity": ("A_SlsPrcgConditionRecord", {"ConditionRecord": "ConditionRecord"}),
}

# to_PhoneNumber and to_MobilePhoneNumber share A_AddressPhoneNumber; S/4 tells them apart by type.
_PHONE_TYPE = {"to_PhoneNumber": "1", "to_MobilePhoneNumber": "3"}

# Server-assigned keys: set -> (key property, first number, digits). Condition record numbers keep
# their leading zeros on the wire; the others come without them.
_NUMBERED = {
    "A_BusinessPartner": ("BusinessPartner", 1000000, 0),
    "A_BusinessPartnerAddress": ("AddressID", 22000, 0),
    # The customer account group's internal number range (used unless customers take the BP's number).
    "A_Customer": ("Customer", CUSTOMER_NUMBER_START, 0),
    "A_SalesOrder": ("SalesOrder", 1, 0),
    "A_SlsPrcgConditionRecord": ("ConditionRecord", 1, 10),
}

# Properties S/4 maintains itself; a client's values for them are ignored.
_READ_ONLY = {
    "CreationDate",
    "CreationTime",
    "CreatedByUser",
    "LastChangeDate",
    "LastChangeTime",
    "LastChangeDateTime",
    "LastChangedByUser",
    "BusinessPartnerUUID",
    "AddressUUID",
}

_PARTNER_CATEGORIES = ("1", "2", "3")  # person, organisation, group
_ORDER_REQUIRED = (
    "SalesOrderType",
    "SalesOrganization",
    "DistributionChannel",
    "OrganizationDivision",
    "SoldToParty",
)

_FAR_FUTURE = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
_DIGITS = re.compile(r"^\d+$")


@dataclass
class Created:
    """A created entity and the children deep-inserted with it, by navigation property."""

    entity_set: EntitySet
    record: Record
    children: dict[str, list[Created]] = field(default_factory=dict)


def _key_order(key: Key) -> tuple[tuple[int, Any], ...]:
    """Order keys as S/4 does: numeric strings by number (they are zero-padded inside)."""
    parts: list[tuple[int, Any]] = []
    for value in key:
        if isinstance(value, str) and _DIGITS.match(value):
            parts.append((0, int(value)))
        elif value is None:
            parts.append((1, ""))
        else:
            parts.append((2, str(value)))
    return tuple(parts)


def _not_found(entity_set: EntitySet) -> ODataError:
    return ODataError(404, "/IWBEP/CM_MGW_RT/020", f"Resource not found for segment '{entity_set.type_name}'")


def _bad_request(code: str, message: str, target: str = "") -> ODataError:
    details = [
        {"code": code, "message": message, "propertyref": target, "severity": "error", "target": target}
    ]
    return ODataError(400, code, message, details)


class SapSystem:
    """An S/4HANA system's data behind the OData services, with S/4's numbering, stamps and checks."""

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        page_size: int = 0,
        sap_client: str = "100",
        clock: Callable[[], dt.datetime] | None = None,
        batch_stops_at_failure: bool = True,
        same_customer_numbers: bool = False,
        groupings: tuple[str, ...] = ("BP02", "Z001"),
        standard_grouping: str | None = None,
        assigns_ordinal_numbers: bool = False,
        metadata: Mapping[str, bytes] | None = None,
    ) -> None:
        self.users = dict(users) if users is not None else {"SYNCHUB": "sandbox-password"}
        self.page_size = page_size  # server-driven paging (__next) by this many; 0: none
        # A $batch stops at its first failed changeset and answers only the parts it processed, as
        # OData services do without "Prefer: odata.continue-on-error" (OData 4.01 Protocol, 8.2.8.3 and
        # 11.7.7.3) and as gateways that end the batch on a changeset's error do; False: every
        # changeset is answered.
        self.batch_stops_at_failure = batch_stops_at_failure
        # The customer-vendor integration (CVI) creates a partner's customer when it gets a customer
        # role. Its number is the partner's only when "Same Numbers" is set for the partner's grouping
        # (Customizing: Master Data Synchronization > Customer/Vendor Integration > Business Partner
        # Settings > Settings for Customer Integration > Field Assignment for Customer Integration >
        # Assign Keys > Define Number Assignment for Direction BP to Customer); otherwise the customer
        # account group's own number range numbers it, and A_BusinessPartner.Customer tells which
        # customer a partner is. False (the default): own numbers, as on many migrated systems.
        self.same_customer_numbers = same_customer_numbers
        # A partner's grouping decides its number range (Customizing: Business Partner > Basic Settings >
        # Number Ranges and Groupings > Define Groupings and Assign Number Ranges). A create without
        # one takes the grouping flagged as standard there; where none is flagged (None, the default
        # here) the create is refused, so a client must name the grouping.
        self.groupings = groupings
        self.standard_grouping = standard_grouping
        # Phone numbers and e-mail addresses are keyed by AddressID, Person and OrdinalNumber, all
        # non-nullable and creatable in API_BUSINESS_PARTNER's $metadata: a client sends them. False
        # (the default): a create without them is refused; True: they are assigned, as some releases do.
        self.assigns_ordinal_numbers = assigns_ordinal_numbers
        # $metadata to answer instead of the generated one, by service: e.g. SAP's published models of
        # a release (SAP Business Accelerator Hub), so clients build their requests from SAP's own.
        self.metadata = dict(metadata or {})
        self.sap_client = sap_client
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.model = load_model()
        self._lock = threading.RLock()
        self._tables: dict[str, dict[Key, Record]] = {
            name: {} for service in SERVICES for name in self.model[service]
        }
        self._sets: dict[str, EntitySet] = {
            name: es for service in SERVICES for name, es in self.model[service].items()
        }
        self._next_number = {name: first for name, (_, first, _) in _NUMBERED.items()}
        self._journal: list[tuple[str, Key, Record | None]] | None = None
        # (set, property) -> value -> {key: record}, for every property a navigation joins on.
        self._index: dict[tuple[str, str], dict[Any, dict[Key, Record]]] = {}
        for child, (parent, mapping) in PARENTS.items():
            for child_prop, parent_prop in mapping.items():
                self._index[(child, child_prop)] = {}
                self._index[(parent, parent_prop)] = {}
        self._fresh: set[tuple[str, Key]] = set()  # entities made by the create() call in progress

    # ------------------------------------------------------------------ lookup

    def entity_set(self, service: str, name: str) -> EntitySet:
        """The entity set ``name`` of ``service``; 404 in SAP's shape when the service has no such set."""
        try:
            return self.model[service][name]
        except KeyError:
            raise ODataError(
                404, CODE_RESOURCE_NOT_FOUND, f"Resource not found for segment '{name}'"
            ) from None

    def key_of(self, entity_set: EntitySet, record: Mapping[str, Any]) -> Key:
        return tuple(record.get(k) for k in entity_set.keys)

    def get(self, entity_set: EntitySet, key: Mapping[str, Any]) -> Record:
        """A copy of one entity; 404 when it does not exist."""
        with self._lock:
            record = self._tables[entity_set.name].get(self.key_of(entity_set, key))
            if record is None:
                raise _not_found(entity_set)
            return dict(record)

    def records(self, entity_set: EntitySet) -> list[Record]:
        """Copies of all entities of a set, in key order."""
        with self._lock:
            rows = list(self._tables[entity_set.name].items())
        rows.sort(key=lambda item: _key_order(item[0]))
        return [dict(r) for _, r in rows]

    def related(self, entity_set: EntitySet, records: list[Record], nav_name: str) -> list[list[Record]]:
        """For each record, the entities reached over navigation ``nav_name`` (a list, even for to-one)."""
        nav = entity_set.navigations[nav_name]
        target = self._sets[nav.target_set]
        ((target_prop, source_prop),) = self._join(entity_set.name, target.name)
        phone_type = _PHONE_TYPE.get(nav_name)
        result: list[list[Record]] = []
        with self._lock:
            for record in records:
                found = [dict(r) for r in self._where(target.name, target_prop, record.get(source_prop))]
                if phone_type is not None:
                    found = [r for r in found if self._is_phone_type(r, phone_type)]
                result.append(sorted(found, key=lambda r: _key_order(self.key_of(target, r))))
        return result

    def _where(self, set_name: str, prop: str, value: Any) -> list[Record]:
        """The stored records of a set whose (indexed) property has ``value``; none for an initial value
        (an empty reference such as a partner's Customer points nowhere)."""
        if value is None or value == "":
            return []
        return list(self._index[(set_name, prop)].get(value, {}).values())

    def etag(self, entity_set: EntitySet, record: Record) -> str | None:
        return etag_of(entity_set, record) if entity_set.has_etag else None

    @staticmethod
    def _is_phone_type(record: Record, phone_type: str) -> bool:
        kind = record.get("PhoneNumberType") or "1"
        return kind == "3" if phone_type == "3" else kind != "3"

    @staticmethod
    def _join(source: str, target: str) -> list[tuple[str, str]]:
        """(target property, source property) pairs that link ``source`` entities to ``target`` ones."""
        if target in PARENTS and PARENTS[target][0] == source:
            return list(PARENTS[target][1].items())
        if source in PARENTS and PARENTS[source][0] == target:
            return [(parent, child) for child, parent in PARENTS[source][1].items()]
        raise KeyError(f"no join from {source} to {target}")

    # ------------------------------------------------------------- transactions

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All changes inside happen together or not at all (a changeset; a deep insert)."""
        with self._lock:
            outer = self._journal is None
            if outer:
                self._journal = []
            assert self._journal is not None
            mark = len(self._journal)
            try:
                yield
            except BaseException:
                self._rollback(mark)
                raise
            finally:
                if outer:
                    self._journal = None

    def _rollback(self, mark: int) -> None:
        assert self._journal is not None
        while len(self._journal) > mark:
            table, key, old = self._journal.pop()
            self._store(table, key, old)

    def _store(self, set_name: str, key: Key, record: Record | None) -> None:
        """Write (or with None remove) one record, keeping the join indexes in step."""
        table = self._tables[set_name]
        old = table.get(key)
        for (indexed_set, prop), index in self._index.items():
            if indexed_set != set_name:
                continue
            if old is not None:
                bucket = index.get(old.get(prop))
                if bucket is not None:
                    bucket.pop(key, None)
                    if not bucket:
                        del index[old.get(prop)]
            if record is not None and record.get(prop) not in (None, ""):
                index.setdefault(record.get(prop), {})[key] = record
        if record is None:
            table.pop(key, None)
        else:
            table[key] = record

    def _put(self, entity_set: EntitySet, record: Record) -> None:
        """Store a record; null non-key values become ABAP initial values first (S/4 has no null
        string, flag or number), so reads, $filter, $orderby and dump() all see the same value."""
        for name, prop in entity_set.properties.items():
            if record.get(name) is None and not prop.is_key:
                record[name] = initial_value(prop)
        key = self.key_of(entity_set, record)
        if self._journal is not None:
            self._journal.append((entity_set.name, key, self._tables[entity_set.name].get(key)))
        self._store(entity_set.name, key, record)

    def _remove(self, entity_set: EntitySet, key: Key) -> None:
        if key in self._tables[entity_set.name]:
            if self._journal is not None:
                self._journal.append((entity_set.name, key, self._tables[entity_set.name][key]))
            self._store(entity_set.name, key, None)

    # ------------------------------------------------------------------ writes

    def create(
        self,
        entity_set: EntitySet,
        payload: Mapping[str, Any],
        *,
        user: str,
        parent: tuple[EntitySet, Record, str] | None = None,
    ) -> Created:
        """Create an entity (and any deep-inserted children) from a JSON payload; atomic.

        ``parent`` is (parent set, parent record, navigation) for a POST to ``Parent(key)/to_Child``.
        """
        if parent is None and not capabilities(entity_set)["creatable"]:
            # e.g. a customer comes with its business partner's customer role, never on its own
            raise ODataError(
                501,
                "/IWBEP/CM_MGW_RT/021",
                f"Method '{entity_set.name.upper()}_CREATE_ENTITY' not implemented in data provider class",
            )
        with self.transaction():
            now = self._now()
            self._fresh = set()
            try:
                return self._create(entity_set, payload, user, now, parent)
            finally:
                self._fresh = set()

    def update(
        self,
        entity_set: EntitySet,
        key: Mapping[str, Any],
        payload: Mapping[str, Any],
        *,
        user: str,
        replace: bool = False,
        if_match: str | None = None,
    ) -> Record:
        """MERGE/PATCH (``replace=False``) or PUT (unsent properties reset) one entity; returns it."""
        with self.transaction():
            current = self.get(entity_set, key)
            self._check_etag(entity_set, current, if_match)
            values = self._decode(entity_set, payload, allow_navigation=False)
            for name in entity_set.keys:
                if name in values and values[name] != current[name]:
                    raise _bad_request(CODE_BUSINESS, f"Key property '{name}' cannot be changed", name)
            if replace:
                updated = {
                    name: (current.get(name) if name in entity_set.keys or name in _READ_ONLY else None)
                    for name in entity_set.properties
                }
            else:
                updated = dict(current)
            updated.update({k: v for k, v in values.items() if k not in _READ_ONLY})
            self._check_references(entity_set, updated)
            _derive(entity_set, updated)
            now = self._now()
            self._stamp(entity_set, updated, user, now, previous=current)
            self._put(entity_set, updated)
            if entity_set.name == "A_SalesOrderItem":
                self._order_changed(updated["SalesOrder"], user, now)
            return dict(self._tables[entity_set.name][self.key_of(entity_set, updated)])

    def delete(
        self, entity_set: EntitySet, key: Mapping[str, Any], *, user: str, if_match: str | None = None
    ) -> None:
        """Delete one entity and, as S/4 does, its dependent children."""
        if not capabilities(entity_set)["deletable"]:
            raise ODataError(
                501,
                "/IWBEP/CM_MGW_RT/021",
                f"Method '{entity_set.name.upper()}_DELETE_ENTITY' not implemented in data provider class",
            )
        with self.transaction():
            current = self.get(entity_set, key)
            self._check_etag(entity_set, current, if_match)
            self._delete_tree(entity_set, current)
            if entity_set.name == "A_SalesOrderItem":
                self._order_changed(current["SalesOrder"], user, self._now())

    def _delete_tree(self, entity_set: EntitySet, record: Record) -> None:
        for child_name, (parent_name, _) in PARENTS.items():
            if parent_name == entity_set.name:
                child_set = self._sets[child_name]
                ((child_prop, parent_prop),) = self._join(entity_set.name, child_name)
                for child in self._where(child_name, child_prop, record.get(parent_prop)):
                    self._delete_tree(child_set, child)
        self._remove(entity_set, self.key_of(entity_set, record))

    def _check_etag(self, entity_set: EntitySet, current: Record, if_match: str | None) -> None:
        if not entity_set.has_etag:
            return
        if if_match is None or not if_match.strip():
            raise ODataError(428, "/IWBEP/CM_MGW_RT/194", "Precondition required")
        if if_match.strip() == "*":
            return
        tags = [t.strip() for t in if_match.split(",")]
        if etag_of(entity_set, current) not in tags:
            raise ODataError(
                412, "/IWBEP/CM_MGW_RT/190", "State of the resource (entity) was already changed (If-Match)"
            )

    # --------------------------------------------------------------- internals

    def _now(self) -> dt.datetime:
        now = self.clock()
        if now.tzinfo is None:
            now = now.replace(tzinfo=dt.UTC)
        return now.astimezone(dt.UTC)

    def _decode(self, entity_set: EntitySet, payload: Mapping[str, Any], *, allow_navigation: bool) -> Record:
        """Payload properties as native values; 400 for unknown properties, bad types or lengths."""
        if not isinstance(payload, Mapping):
            raise _bad_request(CODE_MALFORMED, "The request body is not a JSON object")
        values: Record = {}
        for name, raw in payload.items():
            if name == "__metadata":
                continue
            prop = entity_set.properties.get(name)
            if prop is None:
                if name in entity_set.navigations:
                    if allow_navigation:
                        continue
                    raise _bad_request(
                        CODE_MALFORMED,
                        f"Deep update of navigation property '{name}' is not supported",
                        name,
                    )
                raise _bad_request(CODE_MALFORMED, f"Property '{name}' is invalid", name)
            values[name] = None if raw is None else decode_value(prop, raw)
        return values

    def _create(
        self,
        entity_set: EntitySet,
        payload: Mapping[str, Any],
        user: str,
        now: dt.datetime,
        parent: tuple[EntitySet, Record, str] | None,
    ) -> Created:
        values = self._decode(entity_set, payload, allow_navigation=True)
        record: Record = {name: None for name in entity_set.properties}
        record.update({k: v for k, v in values.items() if k not in _READ_ONLY})
        if parent is not None:
            self._inherit(entity_set, record, parent)
        self._assign_key(entity_set, record)
        for name in entity_set.keys:
            if record.get(name) is None:
                raise _bad_request(
                    CODE_BUSINESS, f"Key property '{name}' of '{entity_set.type_name}' is missing", name
                )
        if self.key_of(entity_set, record) in self._tables[entity_set.name]:
            key_text = ",".join(str(v) for v in self.key_of(entity_set, record))
            raise _bad_request(
                CODE_BUSINESS,
                f"Entity '{entity_set.type_name}' with key ({key_text}) already exists",
            )
        self._check_parent(entity_set, record)
        self._check_required(entity_set, record)
        self._check_references(entity_set, record)
        self._fill_defaults(entity_set, record, user, now)
        _derive(entity_set, record)
        self._stamp(entity_set, record, user, now, previous=None)
        self._put(entity_set, record)
        self._fresh.add((entity_set.name, self.key_of(entity_set, record)))
        created = Created(entity_set, record)
        self._after_create(entity_set, record, user, now)

        for nav_name, nested in payload.items():
            if nav_name not in entity_set.navigations:
                continue
            nav = entity_set.navigations[nav_name]
            items = nested.get("results", nested) if isinstance(nested, dict) and nav.many else nested
            if nav.many and not isinstance(items, list):
                raise _bad_request(CODE_MALFORMED, f"Navigation property '{nav_name}' needs a list")
            if not nav.many:
                items = [] if nested is None else [nested]
            target = self._sets[nav.target_set]
            children = created.children.setdefault(nav_name, [])
            for item in items:
                # The stored partner: a customer role deep-inserted before may have named its customer.
                record = self._tables[entity_set.name][self.key_of(entity_set, record)]
                existing = self._linked_customer(record) if target.name == "A_Customer" else None
                if existing is not None:
                    # The customer role already created the customer: the payload completes it.
                    merged = dict(existing)
                    merged.update(
                        {
                            k: v
                            for k, v in self._decode(target, item, allow_navigation=True).items()
                            if k not in _READ_ONLY and k not in target.keys
                        }
                    )
                    self._put(target, merged)
                    child = Created(target, merged)
                    self._create_children(target, merged, item, child, user, now)
                else:
                    child = self._create(target, item, user, now, (entity_set, record, nav_name))
                children.append(child)
            created.record = self._tables[entity_set.name][self.key_of(entity_set, record)]
        return created

    def _create_children(
        self,
        entity_set: EntitySet,
        record: Record,
        payload: Mapping[str, Any],
        created: Created,
        user: str,
        now: dt.datetime,
    ) -> None:
        for nav_name, nested in payload.items():
            if nav_name not in entity_set.navigations:
                continue
            nav = entity_set.navigations[nav_name]
            items = nested.get("results", nested) if isinstance(nested, dict) and nav.many else nested
            items = items if nav.many else ([] if nested is None else [nested])
            target = self._sets[nav.target_set]
            created.children[nav_name] = [
                self._create(target, item, user, now, (entity_set, record, nav_name)) for item in items
            ]

    def _inherit(self, entity_set: EntitySet, record: Record, parent: tuple[EntitySet, Record, str]) -> None:
        """Fill the keys a child takes from its parent (deep insert, POST to a navigation)."""
        parent_set, parent_record, nav_name = parent
        if entity_set.name == "A_Customer":
            record["Customer"] = parent_record.get("Customer") or self._new_customer_number(parent_record)
            return
        for target_prop, source_prop in self._join(parent_set.name, entity_set.name):
            given = record.get(target_prop)
            value = parent_record.get(source_prop)
            if given is not None and given != value:
                raise _bad_request(
                    CODE_BUSINESS,
                    f"Property '{target_prop}' ({given}) does not match its parent ({value})",
                    target_prop,
                )
            record[target_prop] = value
        if (
            entity_set.name in ("A_AddressEmailAddress", "A_AddressPhoneNumber")
            and record.get("Person") is None
        ):
            record["Person"] = parent_record.get("Person") or ""
        if nav_name in _PHONE_TYPE and record.get("PhoneNumberType") is None:
            record["PhoneNumberType"] = _PHONE_TYPE[nav_name]

    def _assign_key(self, entity_set: EntitySet, record: Record) -> None:
        name = entity_set.name
        if name in _NUMBERED:
            prop, _, digits = _NUMBERED[name]
            if record.get(prop) is None:
                number = self._next_number[name]
                while self._exists_number(entity_set, prop, str(number).zfill(digits)):
                    number += 1
                record[prop] = str(number).zfill(digits)
                self._next_number[name] = number + 1
        elif name == "A_SalesOrderItem" and record.get("SalesOrderItem") is None:
            items = [
                int(r["SalesOrderItem"])
                for r in self._where(name, "SalesOrder", record.get("SalesOrder"))
                if _DIGITS.match(r["SalesOrderItem"] or "")
            ]
            record["SalesOrderItem"] = str((max(items) // 10 + 1) * 10 if items else 10)
        elif name in ("A_AddressEmailAddress", "A_AddressPhoneNumber"):
            missing = [k for k in ("Person", "OrdinalNumber") if record.get(k) is None]
            if missing and not self.assigns_ordinal_numbers:
                raise ODataError(
                    400,
                    CODE_MALFORMED,
                    f"Key property {', '.join(missing)} of {entity_set.type_name} is missing",
                    [
                        {"code": CODE_MALFORMED, "message": f"Enter {k}", "propertyref": k, "target": k}
                        for k in missing
                    ],
                )
            if record.get("Person") is None:
                record["Person"] = ""
            if record.get("OrdinalNumber") is None:
                used = [
                    int(r["OrdinalNumber"])
                    for r in self._where(name, "AddressID", record.get("AddressID"))
                    if r.get("Person") == record.get("Person") and _DIGITS.match(r["OrdinalNumber"] or "")
                ]
                record["OrdinalNumber"] = str(max(used) + 1 if used else 1)

    def _exists_number(self, entity_set: EntitySet, prop: str, value: str) -> bool:
        if len(entity_set.keys) == 1:
            return (value,) in self._tables[entity_set.name]
        if (entity_set.name, prop) in self._index:
            return bool(self._where(entity_set.name, prop, value))
        return any(r.get(prop) == value for r in self._tables[entity_set.name].values())

    def _check_parent(self, entity_set: EntitySet, record: Record) -> None:
        if entity_set.name not in PARENTS or entity_set.name == "A_Customer":
            return
        parent_name, mapping = PARENTS[entity_set.name]
        ((child_prop, parent_prop),) = mapping.items()
        if not self._where(parent_name, parent_prop, record.get(child_prop)):
            raise _bad_request(
                CODE_BUSINESS, f"{parent_name.removeprefix('A_')} {record.get(child_prop)} does not exist"
            )

    def _check_required(self, entity_set: EntitySet, record: Record) -> None:
        """The business fields S/4 requires when an entity is created through the API; one error detail
        per offending property, as S/4 collects its messages before rejecting the request.

        Only API creates are checked: data files (``load``) hold what a system already contains."""
        problems: list[tuple[str, str, str]] = []  # (message code, message, property)

        def require(*names: str) -> None:
            for name in names:
                if not record.get(name):
                    problems.append(("00/055", f"Fill in all required entry fields: {name}", name))

        name = entity_set.name
        if name == "A_BusinessPartner":
            category = record.get("BusinessPartnerCategory")
            if not category:
                require("BusinessPartnerCategory")
            elif category not in _PARTNER_CATEGORIES:
                problems.append(
                    (
                        "00/058",
                        f"Entry {category} for BusinessPartnerCategory does not exist (1 person, "
                        "2 organization, 3 group)",
                        "BusinessPartnerCategory",
                    )
                )
            elif category == "1":
                require("LastName")
            else:
                require("OrganizationBPName1")
            grouping = record.get("BusinessPartnerGrouping") or self.standard_grouping
            if not grouping:
                problems.append(
                    (
                        "00/055",
                        "Fill in all required entry fields: BusinessPartnerGrouping (no standard grouping "
                        "is defined for internal number assignment)",
                        "BusinessPartnerGrouping",
                    )
                )
            elif grouping not in self.groupings:
                problems.append(
                    (
                        "00/058",
                        f"Entry {grouping} for BusinessPartnerGrouping does not exist",
                        "BusinessPartnerGrouping",
                    )
                )
            else:
                record["BusinessPartnerGrouping"] = grouping
        elif name == "A_SalesOrder":
            require(*_ORDER_REQUIRED)
        elif name == "A_SalesOrderItem":
            require("Material")
            quantity = record.get("RequestedQuantity")
            if quantity is None or quantity <= 0:
                problems.append(
                    ("00/055", "Enter a RequestedQuantity greater than zero", "RequestedQuantity")
                )
        if problems:
            details = [
                {"code": code, "message": message, "propertyref": prop, "target": prop}
                for code, message, prop in problems
            ]
            code, message, _ = problems[0]
            if len(problems) > 1 and code == "00/055":
                message = "Fill in all required entry fields: " + ", ".join(p for _, _, p in problems)
            raise ODataError(400, code, message, details)

    def _check_references(self, entity_set: EntitySet, record: Record) -> None:
        """The references S/4 checks on an order: the sold-to party is a customer, materials exist."""
        if entity_set.name == "A_SalesOrder":
            sold_to = record.get("SoldToParty")
            if not sold_to:
                raise _bad_request("V1/302", "Enter a sold-to party", "SoldToParty")
            if (sold_to,) not in self._tables["A_Customer"]:
                raise _bad_request("V1/302", f"Sold-to party {sold_to} does not exist", "SoldToParty")
            # SD takes a sold-to party only in a sales area the customer is extended to (its sales
            # area data, A_CustomerSalesArea: currency, terms, partner functions): a customer known
            # to financial accounting alone, or to other sales organisations, is refused.
            area = (
                sold_to,
                record.get("SalesOrganization"),
                record.get("DistributionChannel"),
                record.get("OrganizationDivision"),
            )
            if area not in self._tables["A_CustomerSalesArea"]:
                raise _bad_request(
                    "VP/199",
                    f"Sold-to party {sold_to} not maintained for sales area {' '.join(map(str, area[1:]))}",
                    "SoldToParty",
                )
        elif entity_set.name == "A_SalesOrderItem":
            material = record.get("Material")
            if material and (material,) not in self._tables["A_Product"]:
                raise _bad_request(
                    "M3/305", f"Material {material} does not exist or is not activated", "Material"
                )

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
            record["ValidityEndDate"] = record.get("ValidityEndDate") or _FAR_FUTURE
        elif name == "A_BusinessPartnerRole":
            record["ValidFrom"] = record.get("ValidFrom") or now.replace(microsecond=0)
            record["ValidTo"] = record.get("ValidTo") or _FAR_FUTURE
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
        if entity_set.name in _NUMBERED:
            prop, _, _ = _NUMBERED[entity_set.name]
            value = record.get(prop)
            if isinstance(value, str) and _DIGITS.match(value):
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


def _derive(entity_set: EntitySet, record: Record) -> None:
    """Values S/4 computes itself on every write through the API (seeded data is kept as loaded).

    A_AddressPhoneNumber.InternationalPhoneNumber is derived from PhoneNumber and
    DestinationLocationCountry, whatever the client sent for it.
    """
    if entity_set.name != "A_AddressPhoneNumber":
        return
    number, country = record.get("PhoneNumber") or "", record.get("DestinationLocationCountry") or None
    try:
        parsed = phonenumbers.parse(number, country)
    except phonenumbers.NumberParseException:
        record["InternationalPhoneNumber"] = ""
        return
    record["InternationalPhoneNumber"] = phonenumbers.format_number(
        parsed, phonenumbers.PhoneNumberFormat.E164
    )
