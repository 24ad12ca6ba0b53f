"""The sandbox org: records, validation, sessions and the daily API budget of one Salesforce org.

Every write goes through the same validation the platform applies (field existence, create/update
permission, types, lengths, restricted picklists, references, unique external ids) and raises
``SalesforceApiError`` with Salesforce's error code and message, so the REST and Bulk API layers only
translate errors into their wire shapes. Records are replaced, never mutated in place, so a query can
read a snapshot without holding the lock.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sandbox.salesforce.schema import (
    API_VERSION,
    KEY_PREFIX,
    ORDER_STATUS_CATEGORY,
    FieldDef,
    ObjectDef,
    load_schema,
    make_id,
    to_18,
)

Record = dict[str, Any]

ORG_ID = make_id("00D", 1)
INTEGRATION_USER_ID = make_id("005", 1)
STANDARD_PRICEBOOK_NAME = "Standard Price Book"

# Parents first, so ``load`` can derive fields from already loaded parents.
LOAD_ORDER = ["Pricebook2", "Account", "Contact", "Product2", "PricebookEntry", "Order", "OrderItem"]
# Children that go to the recycle bin with their parent (master-detail and cascading lookups).
CASCADE_DELETE: dict[str, list[tuple[str, str]]] = {
    "Account": [("Contact", "AccountId")],
    "Product2": [("PricebookEntry", "Product2Id")],
    "Pricebook2": [("PricebookEntry", "Pricebook2Id")],
    "Order": [("OrderItem", "OrderId")],
}
# Parent -> children indexes, so roll-ups, cascades and price book checks stay cheap at bulk volumes.
CHILD_INDEXES = [
    ("Contact", "AccountId"),
    ("PricebookEntry", "Product2Id"),
    ("PricebookEntry", "Pricebook2Id"),
    ("OrderItem", "OrderId"),
]
AUTO_NUMBERS = {"Order": ("OrderNumber", 8), "OrderItem": ("OrderItemNumber", 10)}
ADDRESS_PARTS = {
    "street": "Street",
    "city": "City",
    "state": "State",
    "postalCode": "PostalCode",
    "country": "Country",
    "latitude": "Latitude",
    "longitude": "Longitude",
    "geocodeAccuracy": "GeocodeAccuracy",
}
TEXT_TYPES = {"string", "textarea", "phone", "email", "url", "picklist", "multipicklist", "combobox"}
NUMBER_TYPES = {"double", "currency", "percent"}

_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SalesforceApiError(Exception):
    """An error as Salesforce reports it: HTTP status, error code, message and affected fields."""

    def __init__(self, status: int, error_code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields

    def body(self) -> list[dict[str, Any]]:
        """The REST error body; DML errors carry ``fields``, request errors do not."""
        item: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            item["fields"] = list(self.fields)
        return [item]

    def collection_error(self) -> dict[str, Any]:
        """One entry of a per-record ``errors`` list (sObject Collections say ``statusCode``)."""
        return {"statusCode": self.error_code, "message": self.message, "fields": list(self.fields or [])}


@dataclass(frozen=True)
class QueryResult:
    records: list[dict[str, Any]]
    total_size: int


def format_datetime(value: dt.datetime) -> str:
    """Salesforce's canonical datetime: UTC, whole seconds, ``2026-11-23T15:04:05.000+0000``."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def parse_datetime(text: str) -> dt.datetime | None:
    """Parse the ISO forms Salesforce accepts (``Z``, ``+00:00``, ``+0000``, no zone = UTC, date only)."""
    m = _DATETIME_RE.match(text.strip())
    if m:
        year, month, day, hour, minute, second, fraction, zone = m.groups()
        try:
            value = dt.datetime(
                int(year),
                int(month),
                int(day),
                int(hour),
                int(minute),
                int(second or 0),
                int((fraction or "0")[:6].ljust(6, "0")),
                tzinfo=dt.UTC,
            )
        except ValueError:
            return None
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            value = value.replace(tzinfo=dt.timezone(sign * offset))
        return value.astimezone(dt.UTC)
    m = _DATE_RE.match(text.strip())
    if m:
        try:
            return dt.datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=dt.UTC)
        except ValueError:
            return None
    return None


def normalize_id(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character Id, or None when it is not an Id."""
    if not _ID_RE.match(value):
        return None
    if len(value) == 15:
        return to_18(value)
    return value if to_18(value[:15]) == value else None


class _Transaction:
    def __init__(self, org: SalesforceOrg, start: int) -> None:
        self._org = org
        self._start = start

    def rollback(self) -> None:
        """Undo every write made since this transaction (or savepoint) began."""
        self._org._rollback_to(self._start)


class SalesforceOrg:
    """One org's data and platform state; every public method is thread-safe."""

    def __init__(
        self,
        *,
        daily_api_limit: int = 100_000,
        session_ttl_seconds: int = 7200,
        username: str = "synchub@sandbox.example",
        password: str = "sandbox-password",
        consumer_key: str = "synchub-sandbox",
        consumer_secret: str = "sandbox-secret",
        clock: Callable[[], dt.datetime] | None = None,
        synchub_fields: bool = True,
        edit_activated_orders: bool = True,
    ) -> None:
        # Without SyncHub's custom fields: an org before the setup kit's metadata package is deployed
        # (seed values of those fields are then left out on load).
        self.synchub_fields = synchub_fields
        # The integration user's "Edit Activated Orders" permission (the setup kit's permission set
        # grants it): editing an activated order needs it ("Editing and Deletion Limitations for Orders":
        # "To edit an activated order or reduction order: Edit Activated Orders").
        self.edit_activated_orders = edit_activated_orders
        self.schema: dict[str, ObjectDef] = load_schema(synchub_fields)
        self.daily_api_limit = daily_api_limit
        self.session_ttl = dt.timedelta(seconds=session_ttl_seconds)
        self.username = username
        self.password = password
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.org_id = ORG_ID
        self.user_id = INTEGRATION_USER_ID
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._lock = threading.RLock()
        self._records: dict[str, dict[str, Record]] = {name: {} for name in self.schema}
        self._prefix_to_object = {o.key_prefix: name for name, o in self.schema.items()}
        # (object, external id field) -> lower-cased value -> ids (values are case-insensitive).
        self._ext_index: dict[tuple[str, str], dict[str, set[str]]] = {
            (name, f): {} for name, o in self.schema.items() for f in o.external_id_fields
        }
        self._children: dict[tuple[str, str], dict[str, set[str]]] = {key: {} for key in CHILD_INDEXES}
        self._id_counters: dict[str, int] = {}
        self._auto_numbers = {name: 100 for name in AUTO_NUMBERS}
        self._undo: list[tuple[str, str, Record | None]] | None = None
        self._last_stamp: dt.datetime | None = None
        self._sessions: dict[str, dt.datetime] = {}
        self._api_used = 0
        self._ensure_standard_pricebook()

    # ------------------------------------------------------------------ sessions and limits
    def issue_session(self) -> str:
        """A new valid session id (access token) for the integration user."""
        token = f"{self.org_id[:15]}!{secrets.token_urlsafe(72)}"
        with self._lock:
            self._sessions[token] = self._clock()
        return token

    def check_session(self, token: str) -> None:
        """Accept a live session (and extend it, as activity does) or raise 401 INVALID_SESSION_ID."""
        now = self._clock()
        with self._lock:
            last = self._sessions.get(token)
            if last is None or now - last > self.session_ttl:
                self._sessions.pop(token, None)
                raise SalesforceApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
            self._sessions[token] = now

    def expire_sessions(self) -> None:
        """Every session becomes invalid (as after a password reset or a session timeout)."""
        with self._lock:
            self._sessions.clear()

    def expire_session(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(token, None)

    def spend_api_call(self) -> tuple[int, int]:
        """Count one API request; 403 REQUEST_LIMIT_EXCEEDED once the daily budget is spent."""
        with self._lock:
            if self._api_used >= self.daily_api_limit:
                raise SalesforceApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            self._api_used += 1
            return self._api_used, self.daily_api_limit

    def api_usage(self) -> tuple[int, int]:
        with self._lock:
            return self._api_used, self.daily_api_limit

    def reset_api_usage(self) -> None:
        """Start a new 24-hour window of the daily budget."""
        with self._lock:
            self._api_used = 0

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def atomic(self) -> Iterator[_Transaction]:
        """Hold the org for a unit of work; an exception (or ``rollback()``) undoes its writes.

        Nested use acts as a savepoint: a failing inner block only undoes its own writes.
        """
        with self._lock:
            outermost = self._undo is None
            if outermost:
                self._undo = []
            assert self._undo is not None
            tx = _Transaction(self, len(self._undo))
            try:
                yield tx
            except BaseException:
                tx.rollback()
                raise
            finally:
                if outermost:
                    self._undo = None

    def _rollback_to(self, start: int) -> None:
        with self._lock:
            undo = self._undo
            if undo is None:
                return
            while len(undo) > start:
                obj, record_id, previous = undo.pop()
                current = self._records[obj].get(record_id)
                self._store(obj, record_id, previous, current, log=False)

    def _store(
        self, obj: str, record_id: str, new: Record | None, old: Record | None, *, log: bool = True
    ) -> None:
        """Replace one record and keep the external id index in step; the single place that writes."""
        if log and self._undo is not None:
            self._undo.append((obj, record_id, old))
        table = self._records[obj]
        for f in self.schema[obj].external_id_fields:
            index = self._ext_index[(obj, f)]
            if old is not None and old.get(f) is not None:
                ids = index.get(str(old[f]).lower())
                if ids is not None:
                    ids.discard(record_id)
                    if not ids:
                        del index[str(old[f]).lower()]
            if new is not None and new.get(f) is not None:
                index.setdefault(str(new[f]).lower(), set()).add(record_id)
        for child, parent_field in CHILD_INDEXES:
            if child != obj:
                continue
            index = self._children[(child, parent_field)]
            if old is not None and old.get(parent_field) is not None:
                index.get(old[parent_field], set()).discard(record_id)
            if new is not None and new.get(parent_field) is not None:
                index.setdefault(new[parent_field], set()).add(record_id)
        if new is None:
            table.pop(record_id, None)
        else:
            table[record_id] = new

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
            f = od.field(key)
            if f is None and not self.synchub_fields and key.endswith("__c"):
                continue  # a SyncHub field this org does not have yet
            if f is None:
                raise SalesforceApiError(
                    400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj}"
                )
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

    # ------------------------------------------------------------------ reads
    def object_def(self, obj: str) -> ObjectDef:
        """The object's schema, looked up case-insensitively; 404 NOT_FOUND for an unknown object."""
        od = self.schema.get(obj)
        if od is None:
            od = next((o for name, o in self.schema.items() if name.lower() == obj.lower()), None)
        if od is None:
            raise SalesforceApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return od

    def object_for_id(self, record_id: str) -> str | None:
        """The object an Id belongs to, from its key prefix."""
        return self._prefix_to_object.get(record_id[:3])

    def retrieve(
        self,
        obj: str,
        record_id: str,
        fields: list[str] | None = None,
        *,
        base_url: str = f"/services/data/v{API_VERSION}",
    ) -> dict[str, Any]:
        """One live record in REST shape (``attributes`` first), optionally only some fields."""
        od = self.object_def(obj)
        names = self._field_names_for_read(od, fields)
        with self._lock:
            rec = self._live_record(od.name, record_id)
        return self.rest_shape(od.name, rec, names, base_url=base_url)

    def rest_shape(
        self,
        obj: str,
        rec: Record,
        names: list[str] | None = None,
        *,
        base_url: str = f"/services/data/v{API_VERSION}",
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": {"type": obj, "url": f"{base_url}/sobjects/{obj}/{rec['Id']}"}}
        for name in names if names is not None else list(self.schema[obj].fields):
            out[name] = rec.get(name)
        return out

    def _field_names_for_read(self, od: ObjectDef, fields: list[str] | None) -> list[str] | None:
        if fields is None:
            return None
        names = []
        for name in fields:
            f = od.field(name.strip())
            if f is None:
                raise SalesforceApiError(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{name.strip()}' on entity '{od.name}'. If you are attempting to use a "
                    "custom field, be sure to append the '__c' after the custom field name. Please reference "
                    "your WSDL or the describe call for the appropriate names.",
                )
            names.append(f.name)
        return names

    def find_by_external_id(
        self, obj: str, ext_field: str, value: str, *, include_deleted: bool = False
    ) -> list[str]:
        """Ids of the records whose external id field holds ``value`` (case-insensitively)."""
        od = self.object_def(obj)
        f = self._external_id_field(od, ext_field)
        with self._lock:
            if f.name == "Id":
                rid = normalize_id(value)
                rec = self._records[od.name].get(rid) if rid else None
                return [rid] if rec and (include_deleted or not rec["IsDeleted"]) and rid else []
            ids = self._ext_index[(od.name, f.name)].get(str(value).lower(), set())
            table = self._records[od.name]
            return sorted(i for i in ids if include_deleted or not table[i]["IsDeleted"])

    def _external_id_field(self, od: ObjectDef, ext_field: str) -> FieldDef:
        f = od.field(ext_field)
        if f is None or not (f.external_id or f.name == "Id"):
            raise SalesforceApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return f

    def _live_record(self, obj: str, record_id: str) -> Record:
        rid = normalize_id(record_id)
        rec = self._records[obj].get(rid) if rid else None
        if rec is None:
            raise SalesforceApiError(404, "NOT_FOUND", "The requested resource does not exist")
        if rec["IsDeleted"]:
            raise SalesforceApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        return rec

    def query(self, soql: str, *, include_deleted: bool) -> list[dict[str, Any]]:
        """Run a SOQL query; ``include_deleted`` is queryAll (recycle-bin rows too)."""
        return self.run_query(soql, include_deleted=include_deleted).records

    def run_query(
        self, soql: str, *, include_deleted: bool, base_url: str = f"/services/data/v{API_VERSION}"
    ) -> QueryResult:
        """Run a SOQL query and report the total size (which differs from the rows for COUNT())."""
        from sandbox.salesforce import soql as soql_engine

        try:
            parsed = soql_engine.parse(soql, self.schema)
        except soql_engine.SoqlError as exc:
            raise SalesforceApiError(400, exc.code, exc.message) from exc
        with self._lock:
            table = self._records[parsed.object_name]
            rows = [r for r in table.values() if include_deleted or not r["IsDeleted"]]

        def resolve(obj: str, record_id: str) -> dict[str, Any] | None:
            return self._records.get(obj, {}).get(record_id)

        try:
            # Relative date literals (TODAY, LAST_N_DAYS:n) count days on the org's clock, like the stamps.
            records = soql_engine.execute(parsed, rows, resolve, base_url=base_url, now=self._clock())
        except soql_engine.SoqlError as exc:
            raise SalesforceApiError(400, exc.code, exc.message) from exc
        if getattr(parsed, "count_only", False):
            total = getattr(records, "total_size", None)
            if total is None:
                total = len(records)
            return QueryResult([], int(total))
        return QueryResult(list(records), len(records))

    # ------------------------------------------------------------------ writes
    def insert(self, obj: str, fields: dict[str, Any]) -> str:
        """Create a record after the platform's validation; returns its new Id."""
        od = self.object_def(obj)
        with self.atomic():
            values = self._prepare(od, fields, existing=None)
            now = self._now()
            record_id = self._new_id(od.name)
            rec = self._blank(od.name, record_id, now)
            rec.update(values)
            self._before_insert(od.name, rec)
            self._derive(od.name, rec)
            self._check_unique(od, rec)
            self._store(od.name, record_id, rec, None)
            self._after_write(od.name, rec, None)
            return record_id

    def update(self, obj: str, record_id: str, fields: dict[str, Any]) -> None:
        """Change a live record's fields; stamps move even when nothing else changes (as in a real org)."""
        od = self.object_def(obj)
        with self.atomic():
            old = self._live_record(od.name, record_id)
            body_id = next((v for k, v in fields.items() if k.lower() == "id"), None)
            if body_id is not None and normalize_id(str(body_id)) != old["Id"]:
                raise SalesforceApiError(
                    400, "INVALID_FIELD", "The Id field should not be specified in the sobject data."
                )
            values = self._prepare(od, {k: v for k, v in fields.items() if k.lower() != "id"}, existing=old)
            rec = dict(old)
            rec.update(values)
            rec["LastModifiedDate"] = rec["SystemModstamp"] = self._now()
            if "LastModifiedById" in rec:
                rec["LastModifiedById"] = self.user_id
            self._before_update(od.name, rec, old)
            self._derive(od.name, rec)
            self._check_unique(od, rec)
            self._store(od.name, old["Id"], rec, old)
            self._after_write(od.name, rec, old)

    def upsert(self, obj: str, ext_field: str, ext_value: str, fields: dict[str, Any]) -> tuple[str, bool]:
        """Update the record whose external id matches, or create one; returns (Id, created).

        More than one match raises 300 MULTIPLE_CHOICES whose ``fields`` lists the matching Ids.
        """
        od = self.object_def(obj)
        f = self._external_id_field(od, ext_field)
        body = dict(fields)
        for key in list(body):
            if key.lower() == f.name.lower():
                if body[key] is not None and str(body[key]) != str(ext_value):
                    raise SalesforceApiError(
                        400,
                        "INVALID_FIELD",
                        f"The value of the external ID field {f.name} in the request body doesn't match "
                        "the value in the URL.",
                    )
                del body[key]
        with self.atomic():
            matches = self.find_by_external_id(od.name, f.name, ext_value)
            if len(matches) > 1:
                raise SalesforceApiError(
                    300,
                    "MULTIPLE_CHOICES",
                    f"{f.name}: more than one record found for external id field: {matches}",
                    matches,
                )
            if matches:
                self.update(od.name, matches[0], body)
                return matches[0], False
            if f.name == "Id":
                raise SalesforceApiError(404, "NOT_FOUND", "The requested resource does not exist")
            return self.insert(od.name, {**body, f.name: ext_value}), True

    def delete(self, obj: str, record_id: str) -> None:
        """Soft delete: the record (and its cascading children) go to the recycle bin, stamps move."""
        od = self.object_def(obj)
        with self.atomic():
            old = self._live_record(od.name, record_id)
            self._soft_delete(od.name, old)
            self._after_write(od.name, None, old)

    def _soft_delete(self, obj: str, old: Record) -> None:
        now = self._now()
        rec = dict(old)
        rec["IsDeleted"] = True
        rec["LastModifiedDate"] = rec["SystemModstamp"] = now
        self._store(obj, old["Id"], rec, old)
        for child, field in CASCADE_DELETE.get(obj, []):
            for child_rec in self._children_of(child, field, old["Id"]):
                if not child_rec["IsDeleted"]:
                    self._soft_delete(child, child_rec)

    # ------------------------------------------------------------------ validation
    def check_json_types(self, obj: str, fields: dict[str, Any]) -> None:
        """Reject values the REST JSON deserializer cannot turn into the field's type (JSON_PARSER_ERROR)."""
        od = self.object_def(obj)
        for key, value in fields.items():
            f = od.field(key) if key != "attributes" else None
            if f is None or value is None:
                continue  # relationship references and unknown fields are judged by the write itself
            if isinstance(value, dict | list):
                raise _json_error(f, value)
            try:
                self._coerce(od, f, value, check_content=False)
            except SalesforceApiError as exc:
                if exc.error_code == "INVALID_TYPE_ON_FIELD_IN_RECORD":
                    raise _json_error(f, value) from exc

    def _prepare(self, od: ObjectDef, fields: dict[str, Any], *, existing: Record | None) -> dict[str, Any]:
        """Validate a write's fields and return them keyed by canonical name with canonical values."""
        creating = existing is None
        values: dict[str, Any] = {}
        not_writable: list[str] = []
        for key, value in fields.items():
            if key == "attributes":
                continue
            if "." in key or isinstance(value, dict):
                ref_field, ref_id = self._resolve_foreign_key(od, key, value)
                if not (ref_field.createable if creating else ref_field.updateable):
                    not_writable.append(ref_field.name)
                values[ref_field.name] = ref_id
                continue
            f = od.field(key)
            if f is None and not self.synchub_fields and key.endswith("__c"):
                continue  # a SyncHub field this org does not have yet
            if f is None:
                raise SalesforceApiError(
                    400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {od.name}"
                )
            if f.name == "Id" and creating:
                raise SalesforceApiError(400, "INVALID_FIELD", "cannot specify Id in an insert call", [])
            if not (f.createable if creating else f.updateable):
                not_writable.append(f.name)
                continue
            values[f.name] = value
        if not_writable:
            raise SalesforceApiError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(not_writable)}. "
                "Please check the security settings "
                "of this field and verify that it is read/write for your profile or permission set.",
                not_writable,
            )
        for name, value in list(values.items()):
            f = od.fields[name]
            if value is None or (isinstance(value, str) and value == "" and f.type != "boolean"):
                values[name] = False if f.type == "boolean" else None
                continue
            values[name] = self._coerce(od, f, value)
        missing = []
        for f in od.fields.values():
            if not f.required_on_create:
                continue
            if (
                creating
                and values.get(f.name) is None
                or not creating
                and f.name in values
                and values[f.name] is None
            ):
                missing.append(f.name)
        if od.name == "OrderItem" and creating and values.get("UnitPrice") is None:
            missing.append("UnitPrice")
        if missing:
            raise SalesforceApiError(
                400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
            )
        for name, value in values.items():
            f = od.fields[name]
            if f.type == "reference" and value is not None:
                self._check_reference(f, value)
        return values

    def _coerce(self, od: ObjectDef, f: FieldDef, value: Any, *, check_content: bool = True) -> Any:
        """Turn a JSON or CSV value into the stored form of the field's type, or raise as the org does."""
        kind = f.type
        if kind in TEXT_TYPES or kind == "textarea":
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise _type_error(f, value)
            text = value if isinstance(value, str) else _number_text(value)
            if not check_content:
                return text
            if f.length and len(text) > f.length:
                raise SalesforceApiError(
                    400,
                    "STRING_TOO_LONG",
                    f"{f.name}: data value too large: {text} (max length={f.length})",
                    [f.name],
                )
            if kind == "email" and not _EMAIL_RE.match(text):
                raise SalesforceApiError(
                    400, "INVALID_EMAIL_ADDRESS", f"{f.name}: invalid email address: {text}", [f.name]
                )
            if f.restricted_picklist and text not in f.picklist_values:
                raise SalesforceApiError(
                    400,
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{f.name}: bad value for restricted picklist field: {text}",
                    [f.name],
                )
            return text
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
                return value.strip().lower() in ("true", "1")
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise _type_error(f, value)
        if kind == "int":
            if isinstance(value, bool):
                raise _type_error(f, value)
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str):
                try:
                    number = float(value.strip())
                except ValueError:
                    raise _type_error(f, value) from None
                if number.is_integer():
                    return int(number)
            raise _type_error(f, value)
        if kind in NUMBER_TYPES:
            if isinstance(value, bool):
                raise _type_error(f, value)
            if isinstance(value, int | float):
                return float(value)
            if isinstance(value, str):
                try:
                    return float(value.strip())
                except ValueError:
                    raise _type_error(f, value) from None
            raise _type_error(f, value)
        if kind == "date":
            if not isinstance(value, str):
                raise _type_error(f, value)
            m = _DATE_RE.match(value.strip())
            parsed = parse_datetime(value) if m else None
            if parsed is None:
                raise _type_error(f, value)
            return parsed.strftime("%Y-%m-%d")
        if kind == "datetime":
            if not isinstance(value, str):
                raise _type_error(f, value)
            parsed = parse_datetime(value)
            if parsed is None:
                raise _type_error(f, value)
            return format_datetime(parsed)
        if kind in ("reference", "id"):
            if not isinstance(value, str):
                raise _type_error(f, value)
            rid = normalize_id(value.strip())
            if rid is None:
                raise SalesforceApiError(
                    400, "MALFORMED_ID", f"{f.name}: id value of incorrect type: {value}", [f.name]
                )
            return rid
        return value

    def _check_reference(self, f: FieldDef, record_id: str) -> None:
        target = self.object_for_id(record_id)
        known_prefixes = {KEY_PREFIX[t] for t in f.reference_to if t in KEY_PREFIX}
        if known_prefixes and record_id[:3] not in known_prefixes:
            raise SalesforceApiError(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                f"{f.name}: id value of incorrect type: {record_id}",
                [f.name],
            )
        if target is None or target not in f.reference_to:
            return  # Users, groups, contracts...: not stored in the sandbox, any well-formed Id will do.
        rec = self._records[target].get(record_id)
        if rec is None:
            raise SalesforceApiError(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                f"field integrity exception: {f.name} "
                f"(id value of incorrect type or record not found: {record_id})",
                [f.name],
            )
        if rec["IsDeleted"]:
            raise SalesforceApiError(400, "ENTITY_IS_DELETED", "entity is deleted", [f.name])

    def _resolve_foreign_key(self, od: ObjectDef, key: str, value: Any) -> tuple[FieldDef, str | None]:
        """``{"Account": {"SyncHub_Id__c": "X"}}`` (REST) or ``Account.SyncHub_Id__c`` (CSV) -> AccountId."""
        if isinstance(value, dict):
            rel_name = key
            pairs = [(k, v) for k, v in value.items() if k != "attributes"]
            if len(pairs) != 1:
                raise SalesforceApiError(400, "INVALID_FIELD", f"Invalid foreign key relationship: {key}")
            ext_name, ext_value = pairs[0]
        else:
            rel_name, _, ext_name = key.partition(".")
            ext_value = value
        ref = od.relationship(rel_name)
        if ref is None or len(ref.reference_to) != 1 or ref.reference_to[0] not in self.schema:
            raise SalesforceApiError(
                400, "INVALID_FIELD", f"No such column '{rel_name}' on sobject of type {od.name}"
            )
        target = self.schema[ref.reference_to[0]]
        ext = target.field(ext_name)
        if ext is None or not (ext.external_id or ext.name == "Id"):
            raise SalesforceApiError(
                400,
                "INVALID_FIELD",
                f"Field name provided, {ext_name} is not an External ID or indexed field for {target.name}",
            )
        if ext_value is None or ext_value == "":
            return ref, None
        matches = self.find_by_external_id(target.name, ext.name, str(ext_value))
        if not matches:
            raise SalesforceApiError(
                400,
                "INVALID_FIELD",
                f"Foreign key external ID: {ext_value} not found for field {ext.name} "
                f"in entity {target.name}",
                [],
            )
        if len(matches) > 1:
            raise SalesforceApiError(
                400,
                "INVALID_FIELD",
                f"More than 1 record found for External ID field {ext.name} in entity {target.name}",
                [],
            )
        return ref, matches[0]

    def _check_unique(self, od: ObjectDef, rec: Record) -> None:
        for f in od.fields.values():
            if not f.unique or rec.get(f.name) is None:
                continue
            ids = self._ext_index[(od.name, f.name)].get(str(rec[f.name]).lower(), set())
            table = self._records[od.name]
            others = sorted(i for i in ids if i != rec["Id"] and not table[i]["IsDeleted"])
            if others:
                raise SalesforceApiError(
                    400,
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {f.name} duplicates value on record with id: {others[0]}",
                    [],
                )

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

    # ------------------------------------------------------------------ small pieces
    def _children_of(self, child: str, parent_field: str, parent_id: str) -> list[Record]:
        table = self._records[child]
        return [table[i] for i in sorted(self._children[(child, parent_field)].get(parent_id, ()))]

    def _blank(self, obj: str, record_id: str, now: str) -> Record:
        od = self.schema[obj]
        rec: Record = {}
        for name, f in od.fields.items():
            rec[name] = False if f.type == "boolean" else None
        rec["Id"] = record_id
        for stamp in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
            if stamp in od.fields:
                rec[stamp] = now
        for user_field in ("OwnerId", "CreatedById", "LastModifiedById"):
            if user_field in od.fields:
                rec[user_field] = self.user_id
        return rec

    def _new_id(self, obj: str) -> str:
        prefix = self.schema[obj].key_prefix
        table = self._records[obj]
        while True:
            n = self._id_counters.get(prefix, 0) + 1
            self._id_counters[prefix] = n
            record_id = make_id(prefix, n)
            if record_id not in table:
                return record_id

    def _next_auto_number(self, obj: str, width: int) -> str:
        n = self._auto_numbers[obj]
        self._auto_numbers[obj] = n + 1
        return str(n).zfill(width)

    def _now(self) -> str:
        """The write stamp: whole seconds, never earlier than the previous stamp."""
        with self._lock:
            now = self._clock().astimezone(dt.UTC).replace(microsecond=0)
            if self._last_stamp is not None and now < self._last_stamp:
                now = self._last_stamp
            self._last_stamp = now
            return format_datetime(now)

    def live_records(self, obj: str, *, include_deleted: bool = False) -> list[Record]:
        """A snapshot of one object's records (copies), for exports such as Bulk API query jobs."""
        od = self.object_def(obj)
        with self._lock:
            return [dict(r) for r in self._records[od.name].values() if include_deleted or not r["IsDeleted"]]


def _number_text(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _type_error(f: FieldDef, value: Any) -> SalesforceApiError:
    return SalesforceApiError(
        400, "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{f.name}: value not of required type: {value}", [f.name]
    )


_JAVA_TYPES = {
    "boolean": "boolean",
    "int": "int",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "date": "date",
    "datetime": "datetime",
    "reference": "Id",
    "id": "Id",
}


def _json_error(f: FieldDef, value: Any) -> SalesforceApiError:
    token = {
        bool: "VALUE_TRUE" if value is True else "VALUE_FALSE",
        str: "VALUE_STRING",
        dict: "START_OBJECT",
        list: "START_ARRAY",
        int: "VALUE_NUMBER_INT",
        float: "VALUE_NUMBER_FLOAT",
    }.get(type(value), "VALUE")
    shown = "" if isinstance(value, dict | list) else f" value {value}"
    return SalesforceApiError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {_JAVA_TYPES.get(f.type, 'string')} from {token}{shown} or request "
        "may be missing a required field",
    )
