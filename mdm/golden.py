"""Golden ids, and the golden records and cross-reference as flat rows (``synchub golden|xref export``).

A golden id is SyncHub's own key of a real-world thing, written to both systems as their external
id (Salesforce ``SyncHub_Id__c``, SAP ``BusinessPartnerIDByExtSystem``). SAP holds 20 characters
there, so an id is "SH-" plus 16 base32 characters: 80 random bits, unique without coordination.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mdm.store.models import GoldenRecord, Xref

GOLDEN_ID_PREFIX = "SH-"
GOLDEN_ID_LENGTH = 19  # "SH-" + 16; BusinessPartnerIDByExtSystem holds 20
_GOLDEN_ID = re.compile(r"^SH-[A-Z2-7]{16}$")
XREF_HEADER = ("golden_id", "system", "entity", "source_key")


def new_golden_id() -> str:
    """A fresh golden id: "SH-" + 16 base32 characters (80 random bits)."""
    return GOLDEN_ID_PREFIX + base64.b32encode(secrets.token_bytes(10)).decode("ascii")


def is_golden_id(value: Any) -> bool:
    """Whether a value a source system holds has the shape of a golden id (case and spaces aside)."""
    return isinstance(value, str) and _GOLDEN_ID.match(value.strip().upper()) is not None


def normalise_golden_id(value: Any) -> str | None:
    """The golden id a source field holds, or None when it holds none (or something else)."""
    return value.strip().upper() if is_golden_id(value) else None


def golden_header(fields: Sequence[str]) -> list[str]:
    """golden_id, version, status, every canonical field, then ``<field>__source`` and ``<field>__rule``."""
    return [
        "golden_id",
        "version",
        "status",
        *fields,
        *(f"{name}__{part}" for name in fields for part in ("source", "rule")),
    ]


def golden_rows(session: Session, entity: str, fields: Sequence[str]) -> Iterator[list[Any]]:
    """The entity's golden records as rows under ``golden_header(fields)``, by golden id.

    ``<field>__source`` says which record gave the value ("sap:1000012"), ``<field>__rule`` why it won.
    """
    query = (
        select(
            GoldenRecord.id,
            GoldenRecord.version,
            GoldenRecord.status,
            GoldenRecord.values,
            GoldenRecord.provenance,
        )
        .where(GoldenRecord.entity == entity)
        .order_by(GoldenRecord.id)
        .execution_options(yield_per=2000)
    )
    for golden_id, version, status, values, provenance in session.execute(query):
        values = values or {}
        provenance = provenance or {}
        row: list[Any] = [golden_id, version, status, *(values.get(name) for name in fields)]
        for name in fields:
            origin = provenance.get(name) or {}
            source = f"{origin['system']}:{origin['source_key']}" if origin.get("system") else None
            row += [source, origin.get("rule")]
        yield row


def xref_rows(session: Session, entity: str) -> Iterator[tuple[str, str, str, str]]:
    """The entity's cross-reference as (golden_id, system, entity, source_key) rows."""
    query = (
        select(Xref.golden_id, Xref.system, Xref.entity, Xref.source_key)
        .where(Xref.entity == entity)
        .order_by(Xref.golden_id, Xref.system, Xref.source_key)
        .execution_options(yield_per=5000)
    )
    for row in session.execute(query):
        yield tuple(row)
