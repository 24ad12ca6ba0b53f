"""Writes: plans per record (deep insert, MERGE of the changes, children), idempotency and ETags."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import quote

from pyodata.v2 import model as odata_model
from pyodata.v2.service import (
    EntityCreateRequest,
    EntityKey,
    ODataHttpRequest,
)

from connectors.base import (
    EntitySource,
    WriteOutcome,
    WriteRecord,
)
from connectors.errors import (
    ConfigError,
    RecordError,
    RetriableError,
    redact,
)
from connectors.sap.session import Gateway
from connectors.sap.settings import ETAG_KEY, IDEMPOTENCY_FIELDS, KEY_CHUNK, LOOKUP_CHUNK, SYSTEM, log
from connectors.sap.values import (
    as_plain,
    check_names,
    children_of,
    equal_as_property,
    expand_tree,
    has_nav,
    has_property,
    key_string,
    key_value,
    keys_filter,
    parsed_property,
    split_key,
    wire_value,
)


@dataclass
class Plan:
    """One record's write: the requests of its changeset and what is needed to judge the answer."""

    index: int
    record: WriteRecord
    kind: Literal["create", "update"]
    entity_set: odata_model.EntitySet
    key: dict[str, Any] = field(default_factory=dict)  # update: the entity's key values
    wire: dict[str, Any] = field(default_factory=dict)  # create: the deep-insert payload
    changed: dict[str, Any] = field(default_factory=dict)  # update: root properties to MERGE
    children: list[tuple[str, ODataHttpRequest]] = field(default_factory=list)  # update: (op, request)
    id_value: str | None = None  # create: idempotency value
    etag: str | None = None
    etag_retried: bool = False


def failed_outcome(record: WriteRecord, code: str, message: str) -> WriteOutcome:
    return WriteOutcome(record.key, "failed", record.remote_key, code, redact(message))


def _nav_paths(service: Gateway, entity_set: odata_model.EntitySet, values: Mapping[str, Any]) -> list[str]:
    """The navigation paths (``to_A/to_B``) that a write's values reach into."""
    paths: list[str] = []
    for name, value in values.items():
        if name.startswith("__") or not has_nav(entity_set.entity_type, name):
            continue
        target, _ = service.nav_target(entity_set, name)
        below = {p for child in children_of(value) for p in _nav_paths(service, target, child)}
        paths += [f"{name}/{p}" for p in sorted(below)] or [name]
    return paths


def _fill_ordinal_keys(
    entity_type: odata_model.EntityType, items: list[dict[str, Any]], taken: Iterable[Any]
) -> None:
    """Give new address communication items (phone, e-mail, fax) the keys the client sends.

    Their entity types key on AddressID, Person and OrdinalNumber, all non-nullable and creatable
    (API_BUSINESS_PARTNER $metadata, A_AddressPhoneNumberType, A_AddressEmailAddressType): the address
    comes from the parent, Person is initial for an organisation's own address, and OrdinalNumber
    numbers the items after those ``taken`` already. Where the live $metadata keys them otherwise or
    marks a key not creatable (the server assigns it), nothing is filled.
    """
    keys = {p.name: p for p in entity_type.key_proprties}
    if "OrdinalNumber" not in keys or not keys["OrdinalNumber"].creatable:
        return
    used = {int(v) for v in taken if str(v or "").isdigit()}
    used |= {int(i["OrdinalNumber"]) for i in items if str(i.get("OrdinalNumber") or "").isdigit()}
    for item in items:
        if "Person" in keys and keys["Person"].creatable and item.get("Person") is None:
            item["Person"] = ""
        if item.get("OrdinalNumber") in (None, ""):
            number = max(used, default=0) + 1
            used.add(number)
            item["OrdinalNumber"] = str(number)


def _wire_entity(
    service: Gateway, entity_set: odata_model.EntitySet, values: Mapping[str, Any]
) -> dict[str, Any]:
    """A deep-insert payload: properties in wire form, navigations as nested payloads."""
    entity_type = entity_set.entity_type
    check_names(entity_type, {k: v for k, v in values.items() if not k.startswith("__")}, entity_set.name)
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name.startswith("__"):
            continue
        if has_property(entity_type, name):
            out[name] = wire_value(entity_type.proprty(name), value)
            continue
        target, many = service.nav_target(entity_set, name)
        items = [dict(child) for child in children_of(value)]
        _fill_ordinal_keys(target.entity_type, items, ())
        children = [_wire_entity(service, target, child) for child in items]
        if many:
            out[name] = children
        elif children:
            out[name] = children[0]
    return out


def _subset_equal(
    service: Gateway,
    entity_set: odata_model.EntitySet,
    values: Mapping[str, Any],
    expected: Mapping[str, Any],
) -> bool:
    """Whether every value given (children included) already holds in ``expected``."""
    entity_type = entity_set.entity_type
    for name, value in values.items():
        if name.startswith("__"):
            continue
        if has_property(entity_type, name):
            if not equal_as_property(entity_type.proprty(name), value, expected.get(name)):
                return False
            continue
        target, many = service.nav_target(entity_set, name)
        if not many and value is None:
            if expected.get(name):
                return False
            continue
        unused = children_of(expected.get(name))
        for child in children_of(value):
            match = next((e for e in unused if _subset_equal(service, target, child, e)), None)
            if match is None:
                return False
            unused.remove(match)
    return True


def _match_child(
    service: Gateway,
    entity_set: odata_model.EntitySet,
    child: Mapping[str, Any],
    candidates: list[dict[str, Any]],
    own_keys: list[str],
    *,
    single: bool,
) -> dict[str, Any] | None:
    entity_type = entity_set.entity_type
    carried = [k for k in own_keys if child.get(k) not in (None, "")]
    if carried:
        return next(
            (
                c
                for c in candidates
                if all(equal_as_property(entity_type.proprty(k), child[k], c.get(k)) for k in carried)
            ),
            None,
        )
    match = next((c for c in candidates if _subset_equal(service, entity_set, child, c)), None)
    if match is None and single and len(candidates) == 1:
        return candidates[0]
    return match


def resolve_path(
    service: Gateway, entity_set: odata_model.EntitySet, path: list[str], *, last_is_property: bool
) -> Any:
    """Follow a ``to_A/to_B[/Prop]`` path through the metadata; KeyError names the broken step."""
    current = entity_set
    steps = path[:-1] if last_is_property else path
    for step in steps:
        if not has_nav(current.entity_type, step):
            raise KeyError(f"{current.name} has no navigation {step}")
        current, _ = service.nav_target(current, step)
    if last_is_property:
        if not has_property(current.entity_type, path[-1]):
            raise KeyError(f"{current.name} has no property {path[-1]}")
        return current.entity_type.proprty(path[-1])
    return current


class Writes:
    """Records to changesets: what each record's write is, and what its answer means."""

    def write_batch(self, entity: EntitySource, records: Sequence[WriteRecord]) -> list[WriteOutcome]:
        """Create or update the records; one outcome per record, in order. See the module docstring."""
        source = entity.sap
        outcomes: list[WriteOutcome | None] = [None] * len(records)
        if not records:
            return []
        service = self._service(source.service, entity.entity)
        entity_set = service.entity_set(source.entity_set, entity.entity)
        current = self._current_state(service, entity_set, records, outcomes)
        plans: list[Plan] = []
        for index, record in enumerate(records):
            if outcomes[index] is not None:
                continue
            if index in current:
                record = replace(record, expected=current[index])
            try:
                plan = self._plan(service, entity_set, index, record)
            except RecordError as exc:
                outcomes[index] = failed_outcome(record, exc.remote_code or "INVALID_RECORD", exc.message)
                continue
            if plan is None:
                outcomes[index] = WriteOutcome(record.key, "unchanged", record.remote_key)
            else:
                plans.append(plan)
        if plans:
            self._ensure_csrf(service)
        size = self.settings.batch_size
        for start in range(0, len(plans), size):
            chunk = plans[start : start + size]
            try:
                self._write_chunk(service, entity, entity_set, chunk, outcomes)
            except RetriableError as exc:
                # SAP stayed unavailable through every retry: nothing later can succeed now. The rest
                # fail with the reason; the caller retries them in a later run.
                for plan in plans[start:]:
                    if outcomes[plan.index] is None:
                        outcomes[plan.index] = failed_outcome(
                            plan.record, exc.remote_code or f"HTTP {exc.status}", exc.message
                        )
                log.error("sap write %s: giving up after retries: %s", entity.entity, exc)
                break
            done = min(start + size, len(plans))
            log.info(
                "sap write %s: %d/%d records sent (%d calls)",
                entity.entity,
                done,
                len(plans),
                self.usage.calls,
            )
        result = [o for o in outcomes if o is not None]
        assert len(result) == len(records)
        return result

    def _current_state(
        self,
        service: Gateway,
        entity_set: odata_model.EntitySet,
        records: Sequence[WriteRecord],
        outcomes: list[WriteOutcome | None],
    ) -> dict[int, dict[str, Any]]:
        """SAP's current state of updates that come without ``expected`` (or without a navigation they
        write), read in chunks with those navigations expanded: only against it can a child be told new
        from existing, so an update never adds a second copy of a child."""
        entity_type = entity_set.entity_type
        wanted: dict[str, list[int]] = {}
        paths: set[str] = set()
        for index, record in enumerate(records):
            if record.remote_key is None:
                continue
            values = {k: v for k, v in record.fields.items() if not k.startswith("__")}
            check_names(entity_type, values, entity_set.name)
            navs = _nav_paths(service, entity_set, values)
            if record.expected is not None and all(p.split("/")[0] in record.expected for p in navs):
                continue
            try:
                split_key(entity_type, record.remote_key)
            except RecordError as exc:
                outcomes[index] = failed_outcome(record, "INVALID_RECORD", exc.message)
                continue
            paths.update(navs)
            wanted.setdefault(record.remote_key, []).append(index)
        if not wanted:
            return {}
        keys = [p.name for p in entity_type.key_proprties]
        tree = expand_tree(sorted(paths))
        found: dict[str, dict[str, Any]] = {}
        remote_keys = list(wanted)
        for start in range(0, len(remote_keys), KEY_CHUNK):
            expr = keys_filter(entity_type, remote_keys[start : start + KEY_CHUNK])
            for hit in self._query_all(service, entity_set, expr, expand=",".join(sorted(paths)) or None):
                payload = as_plain(entity_type, hit, tree)
                found["|".join(str(payload.get(k)) for k in keys)] = payload
        current: dict[int, dict[str, Any]] = {}
        for remote_key, indexes in wanted.items():
            for index in indexes:
                record = records[index]
                if remote_key not in found:
                    outcomes[index] = failed_outcome(
                        record, "NOT_FOUND", f"{entity_set.name} {remote_key} does not exist in SAP"
                    )
                    continue
                current[index] = {**found[remote_key], **(record.expected or {})}
        return current

    def _plan(
        self, service: Gateway, entity_set: odata_model.EntitySet, index: int, record: WriteRecord
    ) -> Plan | None:
        """What to send for one record; None when it equals ``expected`` (no call)."""
        entity_type = entity_set.entity_type
        fields_ = {k: v for k, v in record.fields.items() if not k.startswith("__")}
        check_names(entity_type, fields_, entity_set.name)
        if record.expected is not None and _subset_equal(service, entity_set, fields_, record.expected):
            return None
        if record.remote_key is None:
            wire = _wire_entity(service, entity_set, fields_)
            id_field = IDEMPOTENCY_FIELDS.get(entity_set.name)
            id_value = None
            if id_field and has_property(entity_type, id_field):
                id_value = wire.get(id_field)
                limit = entity_type.proprty(id_field).max_length
                if id_value is None and (not limit or limit < 0 or len(record.key) <= limit):
                    id_value = wire[id_field] = record.key
            return Plan(index, record, "create", entity_set, wire=wire, id_value=id_value)

        key = split_key(entity_type, record.remote_key)
        expected = record.expected or {}
        changed = {
            name: value
            for name, value in fields_.items()
            if has_property(entity_type, name)
            and name not in key
            and (
                record.expected is None
                or not equal_as_property(entity_type.proprty(name), value, expected.get(name))
            )
        }
        parent_values = {
            **{k: v for k, v in expected.items() if not isinstance(v, list | dict)},
            **{k: v for k, v in fields_.items() if not isinstance(v, list | dict)},
            **key,
        }
        children = self._child_requests(
            service,
            entity_set,
            key,
            parent_values,
            fields_,
            record.expected,
            fresh=record.expected is not None,
        )
        if not changed and not children:
            return None
        plan = Plan(index, record, "update", entity_set, key=key, changed=changed, children=children)
        if service.has_etag(entity_set) and changed:
            plan.etag = expected.get(ETAG_KEY)
        return plan

    def _child_requests(
        self,
        service: Gateway,
        entity_set: odata_model.EntitySet,
        key: dict[str, Any],
        parent_values: dict[str, Any],
        fields_: Mapping[str, Any],
        expected: Mapping[str, Any] | None,
        *,
        fresh: bool,
    ) -> list[tuple[str, ODataHttpRequest]]:
        """MERGEs of changed children that exist and POSTs of new ones, below one entity.

        A child is the existing one when it matches an expected child on the keys it carries, or on all
        its values; a lone keyless child facing a lone expected child is taken to be that child (the
        partner's one address). Children that exist in SAP but not in ``fields`` are left alone.
        """
        requests_: list[tuple[str, ODataHttpRequest]] = []
        entity_type = entity_set.entity_type
        for nav_name, value in fields_.items():
            if not has_nav(entity_type, nav_name):
                continue
            target, many = service.nav_target(entity_set, nav_name)
            target_type = target.entity_type
            wanted = children_of(value)
            existing = children_of((expected or {}).get(nav_name))
            unused = list(existing)
            key_names = [p.name for p in target_type.key_proprties]
            own_keys = [k for k in key_names if parent_values.get(k) is None]
            for child in wanted:
                child = {k: v for k, v in child.items() if not k.startswith("__")}
                check_names(target_type, child, target.name)
                match = _match_child(service, target, child, unused, own_keys, single=len(wanted) == 1)
                if match is not None:
                    unused.remove(match)
                full_key: dict[str, Any] = {}
                for name in key_names:
                    for source in (child, match or {}, parent_values):
                        if source.get(name) not in (None, ""):
                            full_key[name] = source[name]
                            break
                    else:
                        if match is not None and name in match:
                            full_key[name] = match[name]
                complete = all(name in full_key for name in key_names)
                if match is None and (fresh or not complete):
                    child = dict(child)
                    _fill_ordinal_keys(target_type, [child], [e.get("OrdinalNumber") for e in existing])
                    path = f"{entity_set.name}{key_string(entity_type, key)}/{nav_name}"
                    request = EntityCreateRequest(
                        service.url, self.session, None, target, last_segment=quote(path, safe="/")
                    )
                    request.set(**_wire_entity(service, target, child))
                    requests_.append(("create", request))
                    continue
                if not complete:
                    missing = ", ".join(k for k in key_names if k not in full_key)
                    raise RecordError(
                        f"child {nav_name} lacks its key {missing}",
                        system=SYSTEM,
                        operation="write",
                    )
                changed = {
                    name: wire_value(target_type.proprty(name), v)
                    for name, v in child.items()
                    if has_property(target_type, name)
                    and name not in key_names
                    and (
                        match is None or not equal_as_property(target_type.proprty(name), v, match.get(name))
                    )
                }
                if changed:
                    child_key = {k: key_value(target_type.proprty(k), v) for k, v in full_key.items()}
                    request = getattr(service.client.entity_sets, target.name).update_entity(
                        key=EntityKey(target_type, **child_key), method="MERGE"
                    )
                    request.set(**changed)
                    if service.has_etag(target):
                        # A child's own ETag when it was read; otherwise the parent's If-Match guards it.
                        request.add_headers({"If-Match": (match or {}).get(ETAG_KEY) or "*"})
                    requests_.append(("merge", request))
                child_values = {**(match or {}), **child}
                requests_ += self._child_requests(
                    service,
                    target,
                    full_key,
                    {**{k: v for k, v in child_values.items() if not isinstance(v, list | dict)}, **full_key},
                    child,
                    match,
                    fresh=fresh,
                )
        return requests_

    def _requests_of(self, service: Gateway, plan: Plan) -> list[ODataHttpRequest]:
        proxy = getattr(service.client.entity_sets, plan.entity_set.name)
        if plan.kind == "create":
            return [proxy.create_entity().set(**plan.wire)]
        out: list[ODataHttpRequest] = []
        if plan.changed:
            entity_type = plan.entity_set.entity_type
            request = proxy.update_entity(
                key=EntityKey(
                    entity_type, **{k: key_value(entity_type.proprty(k), v) for k, v in plan.key.items()}
                ),
                method="MERGE",
            )
            request.set(**{k: wire_value(entity_type.proprty(k), v) for k, v in plan.changed.items()})
            if service.has_etag(plan.entity_set):
                request.add_headers({"If-Match": plan.etag or "*"})
            out.append(request)
        return out + [r for _, r in plan.children]

    def keys_for_external_ids(self, entity: EntitySource, external_ids: Sequence[str]) -> dict[str, str]:
        """Keys of the entities whose idempotency property (``BusinessPartnerIDByExtSystem``, ...) holds
        one of the values, by value: finds what an earlier, interrupted run already created."""
        source = entity.sap
        if source.entity_set not in IDEMPOTENCY_FIELDS:
            raise ConfigError(
                f"{source.entity_set} has no external id property",
                system=SYSTEM,
                operation="lookup",
                entity=source.entity_set,
            )
        values = sorted({str(v) for v in external_ids if v})
        if not values:
            return {}
        service = self._service(source.service, entity.entity)
        return self._lookup_values(service, service.entity_set(source.entity_set, entity.entity), values)

    def _lookup_values(
        self, service: Gateway, entity_set: odata_model.EntitySet, values: list[str]
    ) -> dict[str, str]:
        id_field = IDEMPOTENCY_FIELDS[entity_set.name]
        prop = entity_set.entity_type.proprty(id_field)
        keys = [p.name for p in entity_set.entity_type.key_proprties]
        found: dict[str, str] = {}
        for start in range(0, len(values), LOOKUP_CHUNK):
            expr = " or ".join(
                f"{id_field} eq {prop.to_literal(v)}" for v in values[start : start + LOOKUP_CHUNK]
            )
            for hit in self._query_all(service, entity_set, expr, select=",".join([*keys, id_field])):
                value = parsed_property(hit, id_field)
                found.setdefault(value, "|".join(str(parsed_property(hit, k)) for k in keys))
        return found
