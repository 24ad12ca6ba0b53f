"""OData V2 values and payloads: SAP's JSON forms to the connector's plain payloads and back, keys, stamps."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from pyodata.v2 import model as odata_model
from pyodata.v2.service import (
    EntityKey,
    EntityProxy,
)

from connectors.base import (
    ExtractedRecord,
    SapSource,
)
from connectors.errors import (
    ConfigError,
    RecordError,
)
from connectors.sap.settings import ETAG_KEY, SYSTEM

_DURATION = re.compile(r"^-?P(?:\d+D)?T?(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d+))?S)?$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?$")
_DATE_JSON = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_NUMERIC = {
    "Edm.Decimal",
    "Edm.Double",
    "Edm.Single",
    "Edm.Float",
    "Edm.Int16",
    "Edm.Int32",
    "Edm.Int64",
    "Edm.Byte",
    "Edm.SByte",
}


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def has_property(entity_type: odata_model.EntityType, name: str) -> bool:
    try:
        entity_type.proprty(name)
    except KeyError:
        return False
    return True


def has_nav(entity_type: odata_model.EntityType, name: str) -> bool:
    try:
        entity_type.nav_proprty(name)
    except KeyError:
        return False
    return True


def to_utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _parse_datetime(value: Any) -> dt.datetime:
    """A datetime from a datetime, a date, an ISO string or SAP's ``/Date(ms[+offset])/``; UTC aware."""
    if isinstance(value, dt.datetime):
        return to_utc(value)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    text = str(value).strip()
    match = _DATE_JSON.match(text)
    if match:
        return _EPOCH + dt.timedelta(milliseconds=int(match.group(1)))
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    text = re.sub(r"\.(\d{7,})", lambda m: "." + m.group(1)[:6], text, count=1)
    return to_utc(dt.datetime.fromisoformat(text))


def _parse_time(value: Any) -> dt.time:
    """A time of day from a ``time``, ``HH:MM[:SS]`` or an ``Edm.Time`` duration ``PT10H05M00S``."""
    if isinstance(value, dt.time):
        return value
    if isinstance(value, dt.timedelta):
        seconds = int(value.total_seconds())
        return dt.time(seconds // 3600 % 24, seconds // 60 % 60, seconds % 60)
    text = str(value).strip()
    match = _DURATION.match(text) if text.upper().startswith(("P", "-P")) else _CLOCK.match(text)
    if not match:
        raise ValueError(f"not a time of day: {text!r}")
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups()[:3])
    return dt.time(hours % 24, minutes, seconds)


def stamp_of(source: SapSource, payload: Mapping[str, Any], timezone: str = "UTC") -> dt.datetime | None:
    """A record's change stamp in UTC: ``LastChangeDateTime`` (``stamp: datetime``), or
    ``LastChangeDate`` + ``LastChangeTime`` read in the system's time zone (``stamp: date+time``; S/4
    keeps them in the system's zone, the connection's ``stamp_timezone``)."""
    if source.stamp == "datetime":
        value = payload.get("LastChangeDateTime")
        return _parse_datetime(value) if value else None
    if source.stamp == "date+time":
        day, at = payload.get("LastChangeDate"), payload.get("LastChangeTime")
        if not day:
            return None
        # An Edm.DateTime date: ISO from the connector, ``/Date(ms)/`` as OData V2 JSON writes it.
        local = dt.datetime.combine(
            _parse_datetime(day).date(),
            _parse_time(at) if at else dt.time(0, 0),
            tzinfo=ZoneInfo(timezone),
        )
        return local.astimezone(dt.UTC)
    return None


def record_of(source: SapSource, payload: Mapping[str, Any], timezone: str = "UTC") -> ExtractedRecord:
    """A payload (the connector's JSON-able form of an entity with its expands) as the connector hands
    records on: its key (the key properties joined by ``|``) and its stamp (``stamp_of``)."""
    key = "|".join(str(payload.get(k)) for k in source.keys)
    return ExtractedRecord(key=key, payload=dict(payload), stamp=stamp_of(source, payload, timezone))


def _payload_value(prop: odata_model.StructTypeProperty, value: Any) -> Any:
    """A value as pyodata parsed it, in the connector's JSON-able payload form."""
    if value is None:
        return None
    edm = prop.typ.name
    if edm == "Edm.DateTime":
        moment = _parse_datetime(value)
        return moment.date().isoformat() if prop.date else moment.isoformat()
    if edm == "Edm.DateTimeOffset":
        return _parse_datetime(value).isoformat()
    if edm == "Edm.Time":
        return _parse_time(value).strftime("%H:%M:%S")
    if edm == "Edm.Decimal":
        return value if isinstance(value, str) else format(Decimal(str(value)), "f")
    if edm == "Edm.Int64":
        return int(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def equal_as_property(prop: odata_model.StructTypeProperty, left: Any, right: Any) -> bool:
    """Whether two values of a property are equal, whatever form each is in (native, payload, wire)."""
    if left is None or right is None:
        return left is None and right is None
    try:
        a, b = _payload_value(prop, left), _payload_value(prop, right)
        if prop.typ.name in _NUMERIC:
            return Decimal(str(a)) == Decimal(str(b))
    except (ValueError, InvalidOperation, TypeError):
        return left == right
    return bool(a == b)


def wire_value(prop: odata_model.StructTypeProperty, value: Any) -> Any:
    """A caller's value as pyodata's ``set()`` takes it (pyodata then renders the OData JSON)."""
    if value is None:
        return None
    edm = prop.typ.name
    try:
        if edm == "Edm.DateTime":
            return _parse_datetime(value)
        if edm == "Edm.DateTimeOffset":
            return _parse_datetime(value)
        if edm == "Edm.Time":
            t = _parse_time(value)
            return f"PT{t.hour:02d}H{t.minute:02d}M{t.second:02d}S"
        if edm == "Edm.Decimal":
            return format(Decimal(str(value)), "f")
        if edm == "Edm.Int64":
            return str(int(value))
        if edm in ("Edm.Int16", "Edm.Int32", "Edm.Byte", "Edm.SByte"):
            return int(value)
        if edm in ("Edm.Double", "Edm.Single", "Edm.Float"):
            return float(value)
        if edm == "Edm.Boolean":
            return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "x")
    except (ValueError, InvalidOperation, TypeError) as exc:
        raise RecordError(
            f"value for {prop.name} is not a valid {edm}: {exc}", system=SYSTEM, operation="write"
        ) from None
    return str(value)


def key_value(prop: odata_model.StructTypeProperty, value: Any) -> Any:
    """A key value as pyodata's literal rendering wants it."""
    if prop.typ.name in ("Edm.DateTime", "Edm.DateTimeOffset"):
        return _parse_datetime(value)
    return str(value)


def literal_of(prop: odata_model.StructTypeProperty, value: Any) -> str:
    """A value as an OData URI literal (``'x'``, ``datetime'...'``), quotes escaped by pyodata."""
    return prop.to_literal(key_value(prop, value))


def children_of(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        results = value.get("results")
        return list(results) if isinstance(results, list) else [dict(value)]
    return [dict(v) for v in value]


def parsed_property(proxy: EntityProxy, name: str) -> Any:
    """A property pyodata already parsed from the answer.

    ``getattr`` on an EntityProxy fetches a missing property lazily over HTTP; the connector never
    wants that, so it reads pyodata's parsed values only.
    """
    return proxy._cache.get(name)  # noqa: SLF001 - see the docstring


def expand_tree(paths: Sequence[str]) -> dict[str, dict]:
    """``to_A/to_B`` paths as a tree of navigation names."""
    tree: dict[str, dict] = {}
    for path in paths:
        node = tree
        for step in path.split("/"):
            node = node.setdefault(step, {})
    return tree


def as_plain(entity_type: odata_model.EntityType, proxy: EntityProxy | None, tree: Mapping[str, Any]) -> dict:
    """An entity and its expanded navigations (``tree``) as plain JSON values, no pyodata proxies.

    Only expanded navigations are taken: pyodata turns a deferred to-many navigation into an empty
    list, which would claim "no children" for children that were never read.
    """
    if proxy is None:
        return {}
    cache = proxy._cache  # noqa: SLF001 - parsed values only; see getattr_cached
    payload: dict[str, Any] = {}
    for prop in entity_type.proprties():
        if prop.name in cache:
            payload[prop.name] = _payload_value(prop, cache[prop.name])
    for nav_name, subtree in tree.items():
        if nav_name not in cache:
            continue
        value = cache[nav_name]
        target = entity_type.nav_proprty(nav_name).typ
        if isinstance(value, list):
            payload[nav_name] = [as_plain(target, child, subtree) for child in value]
        else:
            payload[nav_name] = as_plain(target, value, subtree) if value is not None else None
    if proxy.etag:
        payload[ETAG_KEY] = proxy.etag
    return payload


def check_names(entity_type: odata_model.EntityType, values: Mapping[str, Any], set_name: str) -> None:
    unknown = [n for n in values if not has_property(entity_type, n) and not has_nav(entity_type, n)]
    if unknown:
        raise ConfigError(
            f"{set_name} has no property or navigation {', '.join(sorted(unknown))}",
            system=SYSTEM,
            operation="write",
            entity=set_name,
        )


def split_key(entity_type: odata_model.EntityType, remote_key: str) -> dict[str, Any]:
    names = [p.name for p in entity_type.key_proprties]
    values = remote_key.split("|") if len(names) > 1 else [remote_key]
    if len(values) != len(names):
        raise RecordError(
            f"remote key {remote_key!r} does not have the parts {'|'.join(names)}",
            system=SYSTEM,
            operation="write",
        )
    return dict(zip(names, values, strict=True))


def keys_filter(entity_type: odata_model.EntityType, remote_keys: Sequence[str]) -> str:
    """A ``$filter`` matching exactly these entities: ``(K1 eq 'a' and K2 eq 'b') or (...)``."""
    return " or ".join(
        "("
        + " and ".join(
            f"{name} eq {literal_of(entity_type.proprty(name), value)}"
            for name, value in split_key(entity_type, remote_key).items()
        )
        + ")"
        for remote_key in remote_keys
    )


def key_string(entity_type: odata_model.EntityType, key: Mapping[str, Any]) -> str:
    return EntityKey(
        entity_type,
        **{k: key_value(entity_type.proprty(k), v) for k, v in key.items() if has_property(entity_type, k)},
    ).to_key_string()
