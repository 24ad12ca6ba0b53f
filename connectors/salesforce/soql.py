"""SOQL literals and names, Salesforce stamps, and REST records as the connector hands them on."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from connectors.base import (
    ExtractedRecord,
    SalesforceSource,
)
from connectors.errors import (
    ConfigError,
)
from connectors.salesforce.settings import SYSTEM

_STAMP_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z")


# ---------------------------------------------------------------------------------------------- SOQL
_SOQL_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


_SOQL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")


def soql_literal(value: Any) -> str:
    """A value as a SOQL literal: quoted and escaped strings, UTC datetimes, dates, numbers, booleans, null.

    Every value that goes into a query passes through here, so a value can never change the query.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | decimal.Decimal):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        return format(decimal.Decimal(str(value)), "f")
    if isinstance(value, str):
        return "'" + "".join(_SOQL_ESCAPES.get(ch, ch) for ch in value) + "'"
    raise TypeError(f"no SOQL literal for a {type(value).__name__}")


def soql_name(name: str) -> str:
    """A field or object name from configuration, checked to be a plain (dotted) identifier."""
    if not _SOQL_NAME.match(name):
        raise ConfigError(
            f"not a valid field or object name: {name!r}", system=SYSTEM, operation="build query"
        )
    return name


def deduped(names: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for name in names:
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return out


def parse_stamp(value: Any) -> dt.datetime | None:
    """A Salesforce datetime (``2026-11-23T10:00:00.000+0000`` or ``...Z``; an ISO 8601 string or a
    datetime, naive read as UTC) as an aware UTC datetime; None when it is none of these."""
    if not value:
        return None
    if isinstance(value, dt.datetime):
        stamp = value
    else:
        text = str(value).replace("Z", "+0000")
        for fmt in _STAMP_FORMATS:
            try:
                return dt.datetime.strptime(text, fmt).astimezone(dt.UTC)
            except ValueError:
                continue
        try:
            stamp = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return stamp.replace(tzinfo=dt.UTC) if stamp.tzinfo is None else stamp.astimezone(dt.UTC)


def record_of(source: SalesforceSource, payload: Mapping[str, Any]) -> ExtractedRecord:
    """A REST record (a dict as a query returns it) as the connector hands records on: its key, its stamp
    (the mapping's stamp field, UTC) and its deletion flag (``IsDeleted``)."""
    return ExtractedRecord(
        key=str(field_value(payload, source.key)),
        payload=dict(payload),
        stamp=parse_stamp(field_value(payload, source.stamp)),
        is_deleted=bool(field_value(payload, "IsDeleted")),
    )


def field_value(record: Mapping[str, Any], path: str) -> Any:
    """A (dotted) field of a REST record; names match case-insensitively as SOQL does."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        if part in value:
            value = value[part]
            continue
        lowered = part.lower()
        value = next((v for k, v in value.items() if k.lower() == lowered), None)
    return value
