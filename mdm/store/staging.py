"""Staging: the latest raw payload per (system, entity, key), with its hash and source stamp.

Unchanged payloads are recognised by their hash and skipped without a write, so re-extracting
an overlap window (watermark look-back) costs one indexed read per chunk.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from more_itertools import chunked
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mdm.store.models import SourceRecord, utcnow

CHUNK = 500


@dataclass(frozen=True)
class StagedRecord:
    source_key: str
    payload: dict[str, Any]
    source_stamp: dt.datetime | None = None
    is_deleted: bool = False


@dataclass
class StageResult:
    inserted: int = 0
    changed: int = 0
    unchanged: int = 0

    def __iadd__(self, other: StageResult) -> StageResult:
        self.inserted += other.inserted
        self.changed += other.changed
        self.unchanged += other.unchanged
        return self


def payload_hash(payload: dict[str, Any], is_deleted: bool = False) -> str:
    """SHA-256 of the canonical JSON of the payload (key order and whitespace do not matter)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode())
    if is_deleted:
        digest.update(b"\x00deleted")
    return digest.hexdigest()


_UPDATED_ON_CONFLICT = (
    "payload",
    "payload_hash",
    "source_stamp",
    "is_deleted",
    "last_changed_at",
    "last_seen_at",
    "run_id",
)


def _upsert(session: Session):  # noqa: ANN202 - a dialect-specific Insert construct
    """INSERT ... ON CONFLICT (system, entity, source_key) DO UPDATE, built once and run per chunk."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt = postgresql.insert(SourceRecord)
    elif dialect == "sqlite":
        stmt = sqlite.insert(SourceRecord)
    else:
        raise NotImplementedError(f"the store supports SQLite and PostgreSQL, not {dialect}")
    return stmt.on_conflict_do_update(
        index_elements=["system", "entity", "source_key"],
        set_={name: stmt.excluded[name] for name in _UPDATED_ON_CONFLICT},
    )


def stage_records(
    session: Session, system: str, entity: str, records: Iterable[StagedRecord], run_id: int | None = None
) -> StageResult:
    """Upsert records whose payload changed; count the unchanged ones. The caller commits."""
    result = StageResult()
    upsert = _upsert(session)
    for chunk in chunked(records, CHUNK):
        latest: dict[str, StagedRecord] = {r.source_key: r for r in chunk}  # last one of a key wins
        known = dict(
            session.execute(
                select(SourceRecord.source_key, SourceRecord.payload_hash).where(
                    SourceRecord.system == system,
                    SourceRecord.entity == entity,
                    SourceRecord.source_key.in_(latest),
                )
            ).all()
        )
        now = utcnow()
        rows = []
        for key, record in latest.items():
            digest = payload_hash(record.payload, record.is_deleted)
            if known.get(key) == digest:
                result.unchanged += 1
                continue
            if key in known:
                result.changed += 1
            else:
                result.inserted += 1
            rows.append(
                {
                    "system": system,
                    "entity": entity,
                    "source_key": key,
                    "payload": record.payload,
                    "payload_hash": digest,
                    "source_stamp": record.source_stamp,
                    "is_deleted": record.is_deleted,
                    "first_seen_at": now,
                    "last_changed_at": now,
                    "last_seen_at": now,
                    "run_id": run_id,
                }
            )
        result.unchanged += len(chunk) - len(latest)
        if rows:
            # Executemany with one compiled statement (SQLAlchemy batches it as multi-row VALUES).
            session.execute(upsert, rows)
    return result
