"""The sandbox org: records, validation, sessions and the daily API budget of one Salesforce org.

Every write goes through the same validation the platform applies (field existence, create/update
permission, types, lengths, restricted picklists, references, unique external ids) and raises
``SalesforceApiError`` with Salesforce's error code and message, so the REST and Bulk API layers only
translate errors into their wire shapes. Records are replaced, never mutated in place, so a query can
read a snapshot without holding the lock.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sandbox.salesforce.org_behaviour import OrgBehaviour
from sandbox.salesforce.org_model import (
    AUTO_NUMBERS,
    CASCADE_DELETE,
    CHILD_INDEXES,
    INTEGRATION_USER_ID,
    ORG_ID,
    QueryResult,
    Record,
    SalesforceApiError,
    format_datetime,
    normalize_id,
)
from sandbox.salesforce.org_validation import OrgValidation
from sandbox.salesforce.schema import (
    API_VERSION,
    FieldDef,
    ObjectDef,
    load_schema,
    make_id,
)


class _Transaction:
    def __init__(self, org: SalesforceOrg, start: int) -> None:
        self._org = org
        self._start = start

    def rollback(self) -> None:
        """Undo every write made since this transaction (or savepoint) began."""
        self._org._rollback_to(self._start)


class SalesforceOrg(OrgValidation, OrgBehaviour):
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
        from sandbox.salesforce.soql_eval import execute

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
            records = execute(parsed, rows, resolve, base_url=base_url, now=self._clock())
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
