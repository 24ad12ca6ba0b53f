"""The sandboxes' data directory: JSON-lines files the sandboxes start from and dump to.

Layout (one record per line, real API field names)::

    DIR/salesforce/<Object>.jsonl                 e.g. salesforce/Account.jsonl
    DIR/sap/<SERVICE>/<EntitySet>.jsonl            e.g. sap/API_BUSINESS_PARTNER/A_BusinessPartner.jsonl

Reading validates every name against the sandbox schemas and fails fast, naming the file, the
line and the field, so a hand-edited or foreign data set breaks under its own name rather than
deep inside a server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.salesforce.schema import ObjectDef, load_schema
from sandbox.sap.model import EntitySet, load_model

SALESFORCE_DIR = "salesforce"
SAP_DIR = "sap"
SUFFIX = ".jsonl"

# Envelope keys the real APIs put on records; harmless in a data file and dropped on read.
_SALESFORCE_ENVELOPE = "attributes"
_SAP_ENVELOPE = "__metadata"


@dataclass
class SandboxData:
    """What both sandboxes hold: Salesforce records per object, SAP records per service and entity set."""

    salesforce: dict[str, list[dict]] = field(default_factory=dict)  # object -> records
    sap: dict[str, dict[str, list[dict]]] = field(default_factory=dict)  # service -> entity set -> records


class DataDirError(ValueError):
    """A data file that does not fit the schemas; says where (file, line) and what (field)."""

    def __init__(self, path: Path, message: str, line: int | None = None, field_name: str | None = None):
        self.path = path
        self.line = line
        self.field = field_name
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


def _read_file(path: Path, envelope: str, resolve: Callable[[str], str]) -> list[dict]:
    """Parse one JSON-lines file; ``resolve`` maps a field name to its canonical name or raises KeyError
    with the reason. Names seen once are remembered, so big files cost one set check per record."""
    valid: set[str] = set()  # names that resolve to themselves
    rows: list[dict] = []
    with path.open(encoding="utf-8") as fh:
        for number, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DataDirError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", number) from None
            if not isinstance(record, dict):
                raise DataDirError(path, f"expected a JSON object, got {type(record).__name__}", number)
            record.pop(envelope, None)
            if not valid.issuperset(record):
                record = _canonical_names(path, number, record, resolve, valid)
            if text.count("{") > 1 or "[" in text:  # cheap pre-check; strings may hold brackets too
                for name, value in record.items():
                    if isinstance(value, (dict, list)):
                        raise DataDirError(
                            path,
                            f"field '{name}' holds a nested value; only scalars are "
                            f"allowed (one record per line, related records in their "
                            f"own file)",
                            number,
                            name,
                        )
            rows.append(record)
    return rows


def _canonical_names(
    path: Path, number: int, record: dict[str, Any], resolve: Callable[[str], str], valid: set[str]
) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for name, value in record.items():
        try:
            canonical = resolve(name)
        except KeyError as exc:
            raise DataDirError(path, exc.args[0], number, name) from None
        if canonical in clean:
            raise DataDirError(path, f"field '{name}' given twice", number, name)
        if canonical == name:
            valid.add(name)
        clean[canonical] = value
    return clean


def _read_salesforce(folder: Path) -> dict[str, list[dict]]:
    schema = load_schema()
    out: dict[str, list[dict]] = {}
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        obj = schema.get(path.stem)
        if obj is None:
            raise DataDirError(path, f"unknown Salesforce object '{path.stem}' (known: {', '.join(schema)})")

        def resolve(name: str, obj: ObjectDef = obj) -> str:
            fdef = obj.field(name)  # case-insensitive, as the REST API; stored under the API name
            if fdef is None:
                raise KeyError(f"No such column '{name}' on sobject of type {obj.name}")
            return fdef.name

        out[obj.name] = _read_file(path, _SALESFORCE_ENVELOPE, resolve)
    return out


def _read_sap(folder: Path) -> dict[str, dict[str, list[dict]]]:
    model = load_model()
    out: dict[str, dict[str, list[dict]]] = {}
    for service_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(service_dir.glob(f"*{SUFFIX}"))
        if not files:
            continue
        sets = model.get(service_dir.name)
        if sets is None:
            raise DataDirError(
                service_dir, f"unknown SAP service '{service_dir.name}' (known: {', '.join(model)})"
            )
        by_set: dict[str, list[dict]] = {}
        for path in files:
            entity_set = sets.get(path.stem)
            if entity_set is None:
                raise DataDirError(path, f"unknown entity set '{path.stem}' in service {service_dir.name}")

            def resolve(name: str, entity_set: EntitySet = entity_set) -> str:
                if name in entity_set.navigations:
                    raise KeyError(
                        f"navigation property '{name}' is not allowed in a data file; put the "
                        f"related records in their own file"
                    )
                if name not in entity_set.properties:  # OData names are case-sensitive
                    raise KeyError(f"Property '{name}' is invalid for {entity_set.type_name}")
                return name

            by_set[entity_set.name] = _read_file(path, _SAP_ENVELOPE, resolve)
        out[service_dir.name] = by_set
    return out


def read_data_dir(path: Path) -> SandboxData:
    """Load a data directory, validating object, service, entity set and field names."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"data directory not found: {path}")
    sf_dir, sap_dir = path / SALESFORCE_DIR, path / SAP_DIR
    return SandboxData(
        salesforce=_read_salesforce(sf_dir) if sf_dir.is_dir() else {},
        sap=_read_sap(sap_dir) if sap_dir.is_dir() else {},
    )


# Compact, key order as given, UTF-8 as is: the same data always gives the same bytes. One encoder
# for all lines: json.dumps with options builds a new encoder per call, which dominates big writes.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _write_jsonl(path: Path, records: list[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    encode = _ENCODER.encode
    with tmp.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write("".join(f"{encode(r)}\n" for r in records))
    os.replace(tmp, path)


def write_data_dir(path: Path, data: SandboxData) -> None:
    """Write one file per non-empty object / entity set; stale ``.jsonl`` files of the layout are removed."""
    path = Path(path)
    sf_dir = path / SALESFORCE_DIR
    sf_dir.mkdir(parents=True, exist_ok=True)
    wanted = {f"{obj}{SUFFIX}" for obj, rows in data.salesforce.items() if rows}
    for stale in sf_dir.glob(f"*{SUFFIX}"):
        if stale.name not in wanted:
            stale.unlink()
    for obj in sorted(data.salesforce):
        if data.salesforce[obj]:
            _write_jsonl(sf_dir / f"{obj}{SUFFIX}", data.salesforce[obj])

    sap_dir = path / SAP_DIR
    sap_dir.mkdir(parents=True, exist_ok=True)
    for service_dir in sap_dir.iterdir():
        if not service_dir.is_dir():
            continue
        keep = {f"{s}{SUFFIX}" for s, rows in data.sap.get(service_dir.name, {}).items() if rows}
        for stale in service_dir.glob(f"*{SUFFIX}"):
            if stale.name not in keep:
                stale.unlink()
    for service in sorted(data.sap):
        sets = {name: rows for name, rows in data.sap[service].items() if rows}
        if not sets:
            continue
        service_dir = sap_dir / service
        service_dir.mkdir(parents=True, exist_ok=True)
        for name in sorted(sets):
            _write_jsonl(service_dir / f"{name}{SUFFIX}", sets[name])
