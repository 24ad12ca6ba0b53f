"""Field values against describe: types checked before a write, JSON and Bulk API CSV forms both ways."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.base import (
    WriteOutcome,
    WriteRecord,
)
from connectors.salesforce.settings import BULK_NULL


# ---------------------------------------------------------------------------------------------- describe
@dataclass
class ObjectInfo:
    name: str
    fields: dict[str, dict[str, Any]]  # lower-cased name -> describe entry
    relationships: dict[str, dict[str, Any]] = field(default_factory=dict)  # lower-cased relationship name

    @classmethod
    def from_describe(cls, body: Mapping[str, Any]) -> ObjectInfo:
        fields_ = {str(f["name"]).lower(): dict(f) for f in body.get("fields", [])}
        relationships = {
            str(f["relationshipName"]).lower(): dict(f)
            for f in body.get("fields", [])
            if f.get("relationshipName")
        }
        return cls(str(body.get("name")), fields_, relationships)


# ---------------------------------------------------------------------------------------------- values
@dataclass
class Pending:
    """A record on its way to the org: where it sits in the batch, its external id, the fields to send."""

    index: int
    record: WriteRecord
    ext_value: str
    fields: dict[str, Any]
    key_field: str  # what the upsert matches on: the external id, or Id for a known record


def failed_outcome(rec: WriteRecord, code: str, message: str) -> WriteOutcome:
    return WriteOutcome(rec.key, "failed", remote_key=rec.remote_key, error_code=code, error_message=message)


_TEXT_KINDS = {
    "string",
    "textarea",
    "picklist",
    "multipicklist",
    "combobox",
    "phone",
    "url",
    "email",
    "encryptedstring",
    "id",
    "reference",
}


_NUMBER_KINDS = {"double", "currency", "percent"}


def type_problem(info: ObjectInfo, fields_: Mapping[str, Any]) -> str | None:
    """Why a value cannot be sent as its field's type, or None.

    Salesforce rejects a whole collections call when one value does not deserialize
    (JSON_PARSER_ERROR); checking against describe first keeps that record's failure its own.
    """
    for key, value in fields_.items():
        entry = info.fields.get(key.lower())
        if entry is None or value is None or isinstance(value, Mapping):
            continue  # unknown fields and parent references are judged by the org, per record
        kind = str(entry.get("type"))
        if kind == "boolean":
            ok = isinstance(value, bool)
        elif kind == "int":
            ok = not isinstance(value, bool) and (
                isinstance(value, int) or (isinstance(value, float | decimal.Decimal) and value == int(value))
            )
        elif kind in _NUMBER_KINDS:
            ok = not isinstance(value, bool) and isinstance(value, int | float | decimal.Decimal)
        elif kind in ("date", "datetime"):
            ok = isinstance(value, str | dt.date)
        elif kind in _TEXT_KINDS:
            ok = not isinstance(value, bool) and isinstance(value, str | int | float | decimal.Decimal)
        else:
            ok = True
        if not ok:
            name = f"{info.name}.{entry['name']}"
            return f"{name} is a {kind} field; a {type(value).__name__} cannot be written to it"
    return None


def fields_to_send(info: ObjectInfo, rec: WriteRecord) -> tuple[dict[str, Any], str | None]:
    """The fields for an upsert; create-only fields are left out for records that already exist.

    A create-only field (e.g. PricebookEntry.Product2Id) sent in an update fails the record, so a
    known record (``remote_key`` set) leaves it out - unless the caller wants it changed.
    """
    if rec.remote_key is None:
        return dict(rec.fields), None
    expected = {k.lower(): v for k, v in (rec.expected or {}).items()}
    send: dict[str, Any] = {}
    for key, value in rec.fields.items():
        entry = info.fields.get(key.lower())
        if entry is not None and entry.get("createable") and not entry.get("updateable"):
            if key.lower() in expected and json_value(expected[key.lower()]) != json_value(value):
                return {}, f"{info.name}.{entry['name']} can only be set when the record is created"
            continue
        send[key] = value
    return send, None


def json_value(value: Any) -> Any:
    """A Python value as Salesforce REST JSON takes it."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {k: json_value(v) for k, v in value.items()}
    return value


def _csv_cell(value: Any) -> str:
    value = json_value(value)
    if value is None:
        return BULK_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def csv_row(fields_: Mapping[str, Any]) -> dict[str, str]:
    """One Bulk CSV row: nulls as ``#N/A``; a parent reference by external id as ``Rel.ExtField``."""
    row: dict[str, str] = {}
    for key, value in fields_.items():
        if isinstance(value, Mapping):
            pairs = [(k, v) for k, v in value.items() if k != "attributes"]
            if len(pairs) == 1:
                row[f"{key}.{pairs[0][0]}"] = _csv_cell(pairs[0][1])
                continue
        row[key] = _csv_cell(value)
    return row


def same_fields(fields_: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
    """True when every field to write already has that value (``expected`` as last read)."""
    lowered = {k.lower(): v for k, v in expected.items()}
    for key, value in fields_.items():
        if key.lower() not in lowered:
            return False
        a, b = json_value(value), json_value(lowered[key.lower()])
        if a != b and not (a in (None, "") and b in (None, "")):
            return False
    return True


def _typed(cell: str, kind: str) -> Any:
    """A Bulk API 2.0 CSV cell as the REST API would return the value."""
    if cell == "":
        return None
    if kind == "boolean":
        return cell.lower() == "true"
    if kind == "int":
        return int(float(cell))
    if kind in ("double", "currency", "percent"):
        return float(cell)
    if kind == "datetime" and cell.endswith("Z"):
        return cell[:-1] + "+0000"
    return cell


def typed_rows(text: str, select: list[str], types: Mapping[str, str]) -> list[dict[str, Any]]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        return []
    index = {name.lower(): i for i, name in enumerate(header)}
    columns = [(name, index.get(name.lower()), types.get(name, "string")) for name in select]
    rows = []
    for cells in reader:
        if not cells:
            continue
        row: dict[str, Any] = {}
        for name, i, kind in columns:
            value = _typed(cells[i], kind) if i is not None and i < len(cells) else None
            # The nested REST shape (Account.Name -> {"Account": {"Name": ...}}): both paths share
            # field_value.
            target = row
            parts = name.split(".")
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = value
        rows.append(row)
    return rows


def csv_dicts(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text or "")))


def cell_of(row: Mapping[str, str], name: str) -> str:
    if name in row:
        return row[name] or ""
    return next((v or "" for k, v in row.items() if k.lower() == name.lower()), "")


def bulk_error(cell: str) -> tuple[str, str]:
    """``CODE:message:Field1,Field2 --`` -> (CODE, message)."""
    text = cell.strip()
    if text.endswith("--"):
        text = text[:-2].rstrip()
    code, _, rest = text.partition(":")
    message = rest
    if ":" in rest:
        head, _, tail = rest.rpartition(":")
        if not tail or re.fullmatch(r"[A-Za-z0-9_.,]+", tail.strip()):
            message = head
    return (code.strip() or "UNKNOWN"), message.strip()
