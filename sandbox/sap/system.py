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
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from sandbox.sap.metadata import capabilities
from sandbox.sap.model import SERVICES, EntitySet, load_model
from sandbox.sap.odata import (
    CODE_BUSINESS,
    CODE_MALFORMED,
    CODE_RESOURCE_NOT_FOUND,
    ODataError,
    etag_of,
    initial_value,
)
from sandbox.sap.system_behaviour import SystemBehaviour
from sandbox.sap.system_checks import SystemChecks, derive_computed
from sandbox.sap.system_model import (
    NUMBERED,
    PARENTS,
    PHONE_TYPE,
    READ_ONLY,
    Created,
    Key,
    Record,
    bad_request,
    key_order,
    not_found,
)


class SapSystem(SystemChecks, SystemBehaviour):
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
        self._next_number = {name: first for name, (_, first, _) in NUMBERED.items()}
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
                raise not_found(entity_set)
            return dict(record)

    def records(self, entity_set: EntitySet) -> list[Record]:
        """Copies of all entities of a set, in key order."""
        with self._lock:
            rows = list(self._tables[entity_set.name].items())
        rows.sort(key=lambda item: key_order(item[0]))
        return [dict(r) for _, r in rows]

    def related(self, entity_set: EntitySet, records: list[Record], nav_name: str) -> list[list[Record]]:
        """For each record, the entities reached over navigation ``nav_name`` (a list, even for to-one)."""
        nav = entity_set.navigations[nav_name]
        target = self._sets[nav.target_set]
        ((target_prop, source_prop),) = self._join(entity_set.name, target.name)
        phone_type = PHONE_TYPE.get(nav_name)
        result: list[list[Record]] = []
        with self._lock:
            for record in records:
                found = [dict(r) for r in self._where(target.name, target_prop, record.get(source_prop))]
                if phone_type is not None:
                    found = [r for r in found if self._is_phone_type(r, phone_type)]
                result.append(sorted(found, key=lambda r: key_order(self.key_of(target, r))))
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
                    raise bad_request(CODE_BUSINESS, f"Key property '{name}' cannot be changed", name)
            if replace:
                updated = {
                    name: (current.get(name) if name in entity_set.keys or name in READ_ONLY else None)
                    for name in entity_set.properties
                }
            else:
                updated = dict(current)
            updated.update({k: v for k, v in values.items() if k not in READ_ONLY})
            self._check_references(entity_set, updated)
            derive_computed(entity_set, updated)
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
        record.update({k: v for k, v in values.items() if k not in READ_ONLY})
        if parent is not None:
            self._inherit(entity_set, record, parent)
        self._assign_key(entity_set, record)
        for name in entity_set.keys:
            if record.get(name) is None:
                raise bad_request(
                    CODE_BUSINESS, f"Key property '{name}' of '{entity_set.type_name}' is missing", name
                )
        if self.key_of(entity_set, record) in self._tables[entity_set.name]:
            key_text = ",".join(str(v) for v in self.key_of(entity_set, record))
            raise bad_request(
                CODE_BUSINESS,
                f"Entity '{entity_set.type_name}' with key ({key_text}) already exists",
            )
        self._check_parent(entity_set, record)
        self._check_required(entity_set, record)
        self._check_references(entity_set, record)
        self._fill_defaults(entity_set, record, user, now)
        derive_computed(entity_set, record)
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
                raise bad_request(CODE_MALFORMED, f"Navigation property '{nav_name}' needs a list")
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
                            if k not in READ_ONLY and k not in target.keys
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
                raise bad_request(
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
        if nav_name in PHONE_TYPE and record.get("PhoneNumberType") is None:
            record["PhoneNumberType"] = PHONE_TYPE[nav_name]
