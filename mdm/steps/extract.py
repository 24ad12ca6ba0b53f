"""The extract step: pages of changed records from a connector -> staged raw payloads (hash, stamp,
lineage) -> canonical records, committed per page; only then does the watermark move, and never past a
record not yet stored nor past the extraction's start. ``full=True`` also reconciles deletes against
the system's live key set. ``stage_payloads`` is the same staging without the network.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from connectors.base import Connector, EntitySource, ExtractedRecord
from connectors.salesforce import record_of as salesforce_record
from connectors.sap import record_of as sap_record
from mdm.canonical import to_canonical
from mdm.config import Mapping as EntityMapping
from mdm.config import load_entity_mapping
from mdm.golden import normalise_golden_id
from mdm.runtime import SYSTEMS, Sessions, System, chunked, connector_for, open_store, run_step
from mdm.stats import StepStats
from mdm.store.models import (
    CanonicalRecord,
    SourceRecord,
    utcnow,
)
from mdm.store.runlog import advance_watermark, get_watermark
from mdm.store.staging import StagedRecord, StageResult, payload_hash, stage_records

log = logging.getLogger(__name__)

CHUNK = 500  # records per staging transaction
PROBLEM_EXAMPLES = 20


class ExtractError(RuntimeError):
    """A systemic extraction problem that must stop the run (e.g. a key set that would delete too much)."""


# --- plumbing ------------------------------------------------------------------------------------------


def values_hash(values: Mapping[str, Any]) -> str:
    """The hash of canonical values, as matching keeps it (``canonical_record.values_hash``)."""
    return payload_hash(dict(values))


def _payload_record(source: EntitySource, system: str, payload: Mapping[str, Any]) -> ExtractedRecord:
    """A raw payload dict as the system's connector hands records on (key, stamp in UTC, deletion flag):
    the connectors derive them, and SAP's date+time stamps are read as UTC here (no connection)."""
    if system == "salesforce":
        return salesforce_record(source.salesforce, payload)
    return sap_record(source.sap, payload)


def _stamp_field(source: EntitySource, system: str) -> str:
    if system == "salesforce":
        return source.salesforce.stamp
    return "+".join(source.sap.stamp_fields) or "none"


# --- staging -------------------------------------------------------------------------------------------


@dataclass
class _Stager:
    """Stages chunks of records and keeps their canonical records current; accumulates the stats."""

    sessions: Sessions
    mapping: EntityMapping
    system: str
    run_id: int | None
    remap: bool = False  # recompute canonical values of unchanged payloads too (mapping changes)
    records: int = 0
    staged: StageResult = field(default_factory=StageResult)
    canonical: Counter[str] = field(default_factory=Counter)
    problems: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    max_stamp: dt.datetime | None = None
    deleted: int = 0  # records newly seen deleted

    def stage(self, records: Iterable[ExtractedRecord | Mapping[str, Any]], chunk_size: int = CHUNK) -> None:
        """Stage the records in committed chunks."""
        chunk: list[ExtractedRecord] = []
        for item in records:
            chunk.append(
                item
                if isinstance(item, ExtractedRecord)
                else _payload_record(self.mapping.source, self.system, item)
            )
            if len(chunk) >= chunk_size:
                self._stage_chunk(chunk)
                chunk = []
        if chunk:
            self._stage_chunk(chunk)

    def _stage_chunk(self, chunk: list[ExtractedRecord]) -> None:
        entity = self.mapping.entity
        latest = {r.key: r for r in chunk}  # the last one of a key wins, as in staging
        self.records += len(chunk)
        for record in latest.values():
            if record.stamp is not None and (self.max_stamp is None or record.stamp > self.max_stamp):
                self.max_stamp = record.stamp
        with self.sessions.begin() as session:
            known = dict(
                session.execute(
                    select(SourceRecord.source_key, SourceRecord.payload_hash).where(
                        SourceRecord.system == self.system,
                        SourceRecord.entity == entity,
                        SourceRecord.source_key.in_(list(latest)),
                    )
                ).all()
            )
            changed = [r for k, r in latest.items() if known.get(k) != payload_hash(r.payload, r.is_deleted)]
            result = stage_records(
                session,
                self.system,
                entity,
                (StagedRecord(r.key, r.payload, r.stamp, r.is_deleted) for r in changed),
                run_id=self.run_id,
            )
            result.unchanged += len(chunk) - len(changed)
            self.staged += result
            self._upsert_canonical(session, list(latest.values()) if self.remap else changed)

    def _upsert_canonical(self, session: Session, records: list[ExtractedRecord]) -> None:
        if not records:
            return
        entity = self.mapping.entity
        id_field = self.mapping.source.external_id(self.system)
        existing = {
            key: (row_id, digest, deleted, carried)
            for row_id, key, digest, deleted, carried in session.execute(
                select(
                    CanonicalRecord.id,
                    CanonicalRecord.source_key,
                    CanonicalRecord.values_hash,
                    CanonicalRecord.is_deleted,
                    CanonicalRecord.carried_golden_id,
                ).where(
                    CanonicalRecord.system == self.system,
                    CanonicalRecord.entity == entity,
                    CanonicalRecord.source_key.in_([r.key for r in records]),
                )
            )
        }
        now = utcnow()
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for record in records:
            result = to_canonical(self.mapping, self.system, record.payload)  # type: ignore[arg-type]
            if result.problems:
                for problem in result.problems:
                    self.problems[problem.split(":", 1)[0]] += 1
                    if len(self.examples) < PROBLEM_EXAMPLES:
                        self.examples.append(f"{self.system} {record.key}: {problem}")
                log.debug("%s %s %s: %s", self.system, entity, record.key, "; ".join(result.problems))
            digest = values_hash(result.values)
            carried = normalise_golden_id(record.payload.get(id_field)) if id_field else None
            before = existing.get(record.key)
            if record.is_deleted and (before is None or not before[2]):
                self.deleted += 1
            row = {
                "values": result.values,
                "values_hash": digest,
                "source_stamp": record.stamp,
                "is_deleted": record.is_deleted,
                "carried_golden_id": carried,
                "updated_at": now,
                "run_id": self.run_id,
            }
            if before is None:
                inserts.append(
                    {
                        "system": self.system,
                        "entity": entity,
                        "source_key": record.key,
                        "quarantine_reason": None,
                    }
                    | row
                )
                self.canonical["inserted"] += 1
            elif before[1:] != (digest, record.is_deleted, carried):
                # The stamp moves only with the values: SyncHub's own writes that change nothing
                # canonical do not make a record "most recent" in survivorship.
                updates.append({"id": before[0]} | row)
                self.canonical["changed"] += 1
            else:
                self.canonical["unchanged"] += 1
        for part in chunked(inserts, CHUNK):
            session.execute(insert(CanonicalRecord), list(part))
        for part in chunked(updates, CHUNK):
            session.execute(update(CanonicalRecord), list(part))

    def stats(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "staged": {
                "inserted": self.staged.inserted,
                "changed": self.staged.changed,
                "unchanged": self.staged.unchanged,
            },
            "canonical": {k: self.canonical[k] for k in ("inserted", "changed", "unchanged")},
            "problems": dict(self.problems.most_common()),
            "problem_examples": list(self.examples),
        }


def stage_payloads(
    entity: str,
    system: System,
    payloads: Iterable[ExtractedRecord | Mapping[str, Any]],
    *,
    sessions: Sessions | None = None,
    run_id: int | None = None,
    mapping: EntityMapping | None = None,
    remap: bool = False,
    chunk_size: int = CHUNK,
) -> dict[str, Any]:
    """Stage raw payloads (as the connector gives them) and map them to canonical records, no network.

    Payload dicts get their key from the mapping's key field(s), their stamp from the stamp field(s)
    (read as UTC) and their deletion flag from ``IsDeleted``; ``ExtractedRecord`` items keep their own.
    Unchanged payloads cost one indexed read per chunk (``remap`` maps them again, after a mapping
    change). Each chunk commits on its own. This is what ``extract`` and the benchmark call.
    """
    if system not in SYSTEMS:
        raise ValueError(f"system must be one of {', '.join(SYSTEMS)}, not {system!r}")
    mapping = mapping or load_entity_mapping(entity)
    with open_store(sessions) as store:
        stager = _Stager(store, mapping, system, run_id, remap=remap)
        stager.stage(payloads, chunk_size)
    stats = stager.stats()
    stats["system"] = system
    stats["max_stamp"] = stager.max_stamp.isoformat() if stager.max_stamp else None
    return stats


# --- extract -------------------------------------------------------------------------------------------


def extract(
    entity: str,
    system: System,
    *,
    full: bool = False,
    sessions: Sessions | None = None,
    run_id: int | None = None,
    connector: Connector | None = None,
    mapping: EntityMapping | None = None,
    max_delete_share: float = 0.5,
) -> StepStats:
    """Extract what changed since the watermark (everything when ``full`` or none), stage it, map it.

    Each page is staged and committed before the watermark moves, so a killed extraction loses
    nothing. ``full`` re-reads everything, re-maps unchanged payloads and marks records missing from
    the system's live key set as deleted - unless that would delete more than ``max_delete_share``
    of them, which points at a broken filter or connection rather than real deletes.
    """
    if system not in SYSTEMS:
        raise ValueError(f"system must be one of {', '.join(SYSTEMS)}, not {system!r}")
    mapping = mapping or load_entity_mapping(entity)

    def body(store: Sessions, run: int | None) -> StepStats:
        source = connector or connector_for(system)
        started = utcnow()
        clock = time.perf_counter()
        stamp_field = _stamp_field(mapping.source, system)
        with store() as session:
            since = None if full else get_watermark(session, system, entity)
        stager = _Stager(store, mapping, system, run, remap=full)
        pages = 0
        watermark = since
        page_max: dt.datetime | None = None
        unordered = False  # a page in no stamp order: the watermark waits for the last page
        for page in source.extract_changed(mapping.source, since):
            pages += 1
            stager.stage(page.records)
            if page.max_stamp is not None:
                page_max = max(page_max, page.max_stamp) if page_max else page.max_stamp
                unordered |= not page.ordered
                if not unordered:
                    # Pages ordered by stamp: later records are at or after this page's highest stamp.
                    watermark = _advance(
                        store, system, entity, stamp_field, min(page.max_stamp, started), run
                    )
            log.info(
                "extract %s %s: page %d, %d records (%d so far); staged %d new, %d changed; watermark %s",
                system,
                entity,
                pages,
                len(page.records),
                stager.records,
                stager.staged.inserted,
                stager.staged.changed,
                watermark.isoformat() if watermark else "-",
            )
        if page_max is not None and unordered:
            watermark = _advance(store, system, entity, stamp_field, min(page_max, started), run)
        deleted = _reconcile_deletes(store, source, mapping, system, run, max_delete_share) if full else None
        stats = stager.stats()
        if stats["problems"]:
            log.warning(
                "extract %s %s: values that could not be read, by field: %s",
                system,
                entity,
                ", ".join(f"{k} {v}" for k, v in stats["problems"].items()),
            )
        stats |= {
            "full": full,
            "since": since.isoformat() if since else None,
            "watermark": watermark.isoformat() if watermark else None,
            "pages": pages,
            "deleted": stager.deleted + (deleted or 0),
            "reconciled_deletes": deleted,
            "api_calls": source.usage.calls,
            "seconds": round(time.perf_counter() - clock, 3),
        }
        return StepStats.of(
            "extract",
            "extract",
            entity,
            stats,
            system=system,
            read=stager.records,
            unchanged=stager.staged.unchanged,
        )

    return run_step(sessions, entity, f"extract_{system}", run_id, body)


def _advance(
    store: Sessions, system: str, entity: str, stamp_field: str, value: dt.datetime, run_id: int | None
) -> dt.datetime:
    with store.begin() as session:
        return advance_watermark(session, system, entity, stamp_field, value, run_id)


def _reconcile_deletes(
    store: Sessions,
    connector: Connector,
    mapping: EntityMapping,
    system: str,
    run_id: int | None,
    max_share: float,
) -> int:
    """Mark staged records missing from the system's live key set as deleted; returns how many."""
    entity = mapping.entity
    live: set[str] = set()
    for keys in connector.extract_all_keys(mapping.source):
        live.update(keys)
    with store.begin() as session:
        stored = session.execute(
            select(SourceRecord.id, SourceRecord.source_key).where(
                SourceRecord.system == system,
                SourceRecord.entity == entity,
                SourceRecord.is_deleted.is_(False),
            )
        ).all()
        missing = [(row_id, key) for row_id, key in stored if key not in live]
        if not missing:
            return 0
        if len(missing) > max_share * len(stored) and len(missing) > 1:
            raise ExtractError(
                f"{system} {entity}: {len(missing)} of {len(stored)} staged records are missing from the "
                f"live key set; refusing to mark them deleted (more than {max_share:.0%}: check the "
                "connection and the mapping's filter)"
            )
        now = utcnow()
        for part in chunked(missing, CHUNK):
            ids = [row_id for row_id, _ in part]
            payloads = session.execute(
                select(SourceRecord.id, SourceRecord.payload).where(SourceRecord.id.in_(ids))
            ).all()
            # The deleted flag is part of the hash, so a record that comes back is staged again.
            session.execute(
                update(SourceRecord),
                [
                    {
                        "id": row_id,
                        "is_deleted": True,
                        "payload_hash": payload_hash(payload, True),
                        "last_changed_at": now,
                        "run_id": run_id,
                    }
                    for row_id, payload in payloads
                ],
            )
            session.execute(
                update(CanonicalRecord)
                .where(
                    CanonicalRecord.system == system,
                    CanonicalRecord.entity == entity,
                    CanonicalRecord.source_key.in_([key for _, key in part]),
                )
                .values(is_deleted=True, updated_at=now, run_id=run_id)
            )
        log.info(
            "extract %s %s: %d records gone from the system, marked deleted", system, entity, len(missing)
        )
        return len(missing)
