"""The pipeline steps of an entity: extract (and stage), quality, match (and link), merge.

Each step is idempotent (kill it, rerun it: same store), returns a small JSON-able stats dict for
the DAG to log and keep, and takes optional ``sessions`` (default: the store named by
``SYNCHUB_DATABASE_URL``) and ``run_id`` (default: the step records a run of its own). Publishing
lives in ``mdm.publish`` and is re-exported here when present.

- ``extract``: pages of changed records from a connector -> staged raw payloads (hash, stamp,
  lineage) -> canonical records, committed per page; only then does the watermark move, and never
  past a record not yet stored nor past the extraction's start. ``full=True`` also reconciles
  deletes against the system's live key set.
- ``quality``: the Great Expectations gate (``mdm.quality``); failing records are quarantined with
  the failed expectation as the reason (kept out of match and publish) and released once they pass
  again; a batch failing beyond the mapping's threshold stops the run.
- ``match``: records carrying an existing golden id are linked to it, the match engine clusters
  the rest, and every cluster ends in one golden record with an xref row per member.
- ``merge``: survivorship over each changed golden record's live members; a new version only
  when the values change; golden records without a live member are retired.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from connectors.base import Connector, EntitySource, ExtractedRecord
from mdm.canonical import to_canonical
from mdm.config import Mapping as EntityMapping
from mdm.config import load_mapping, mappings_dir
from mdm.golden import new_golden_id, normalise_golden_id
from mdm.match.engine import MatchResult, RecordRef
from mdm.match.store import load_xref, match_entity
from mdm.merge import Candidate
from mdm.merge import merge as survivorship_merge
from mdm.runtime import SYSTEMS, Sessions, System, aware, chunked, connector_for, iso, open_store, run_step
from mdm.stats import Outcome, StepStats
from mdm.store.models import (
    LIVE,
    XREF_RECORD,
    CanonicalRecord,
    GoldenRecord,
    GoldenRecordVersion,
    MatchDecision,
    SourceRecord,
    Xref,
    utcnow,
)
from mdm.store.runlog import advance_watermark, get_watermark
from mdm.store.staging import StagedRecord, StageResult, payload_hash, stage_records

log = logging.getLogger(__name__)

CHUNK = 500  # records per staging transaction
MERGE_CHUNK = 1000  # golden records per merge transaction
PROBLEM_EXAMPLES = 20
_EDM_TIME = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.\d+)?S)?$")


class ExtractError(RuntimeError):
    """A systemic extraction problem that must stop the run (e.g. a key set that would delete too much)."""


# --- plumbing ------------------------------------------------------------------------------------------


def load_entity_mapping(entity: str) -> EntityMapping:
    """``mappings/<entity>.yaml`` (``SYNCHUB_MAPPINGS_DIR`` overrides the folder)."""
    return load_mapping(mappings_dir() / f"{entity}.yaml")


def values_hash(values: Mapping[str, Any]) -> str:
    """The hash of canonical values, as matching keeps it (``canonical_record.values_hash``)."""
    return payload_hash(dict(values))


def _parse_stamp(value: Any) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return aware(value)
    try:
        stamp = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return aware(stamp)


def _payload_record(source: EntitySource, system: str, payload: Mapping[str, Any]) -> ExtractedRecord:
    """A raw payload dict as the connector would hand it on: key, stamp (read as UTC) and deletion flag."""
    if system == "salesforce":
        src = source.salesforce
        key = str(payload[src.key])
        stamp = _parse_stamp(payload.get(src.stamp))
        return ExtractedRecord(key, dict(payload), stamp, bool(payload.get("IsDeleted")))
    sap = source.sap
    key = "|".join(str(payload[k]) for k in sap.keys)
    stamp = None
    if sap.stamp == "datetime":
        stamp = _parse_stamp(payload.get("LastChangeDateTime"))
    elif sap.stamp == "date+time" and payload.get("LastChangeDate"):
        day = str(payload["LastChangeDate"])[:10]
        at = str(payload.get("LastChangeTime") or "00:00:00")
        duration = _EDM_TIME.match(at)  # Edm.Time as OData V2 JSON writes it: PT12H30M00S
        if duration:
            at = ":".join(f"{int(part or 0):02d}" for part in duration.groups())
        stamp = _parse_stamp(f"{day}T{at}")
    return ExtractedRecord(key, dict(payload), stamp, False)


def _golden_id_field(source: EntitySource, system: str) -> str | None:
    """Where the system keeps SyncHub's golden id: the mapping's ``external_id`` of that system."""
    return source.salesforce.external_id if system == "salesforce" else source.sap.external_id


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
        id_field = _golden_id_field(self.mapping.source, self.system)
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
            "api_calls": getattr(getattr(source, "usage", None), "calls", None),
            "seconds": round(time.perf_counter() - clock, 3),
        }
        return StepStats(
            step="extract",
            kind="extract",
            entity=entity,
            system=system,
            outcome=Outcome(read=stager.records, unchanged=stager.staged.unchanged),
            details=stats,
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


# --- quality -------------------------------------------------------------------------------------------


def quality(
    entity: str,
    *,
    sessions: Sessions | None = None,
    run_id: int | None = None,
    mapping: EntityMapping | None = None,
    settings: Any = None,
) -> StepStats:
    """The quality gate: the entity's Great Expectations suites over every live record (``mdm.quality``).

    Records failing an expectation are quarantined with a reason naming it (kept out of match and
    publish) and released once they pass again; reasons other checks set are left to them. Every
    outcome lands in ``dq_result``, the Data Docs index is in the stats (``data_docs``). Raises
    ``mdm.quality.QualityGateError`` when more than the mapping's ``quality.max_failed_share`` of a
    system's batch fails. ``settings`` (``mdm.quality.gate.Settings``) overrides the mapping's section.
    """
    mapping = mapping or load_entity_mapping(entity)
    if mapping.model is None:
        raise ValueError(f"mapping {mapping.path} has no canonical section")

    def body(store: Sessions, run: int | None) -> StepStats:
        from mdm.quality.gate import validate  # Great Expectations and pandas load only here

        stats = validate(store, mapping, run, settings=settings)
        details = {k: v for k, v in stats.items() if k != "entity"}
        outcome = Outcome(read=stats["checked"], quarantined=stats["quarantined"])
        return StepStats(step="quality", kind="quality", entity=entity, outcome=outcome, details=details)

    return run_step(sessions, entity, "quality", run_id, body)


# --- match and link ------------------------------------------------------------------------------------


def match(
    entity: str,
    *,
    sessions: Sessions | None = None,
    run_id: int | None = None,
    mapping: EntityMapping | None = None,
) -> StepStats:
    """Match the live records and link every cluster to one golden record through the xref.

    Order: records carrying the id of an existing golden record (SyncHub wrote it there) are linked
    to it first; the engine then keeps xref-linked records together, adds deterministic and fuzzy
    auto links, and sends the review band to the steward queue (review pairs do not link). A cluster
    gets the golden id its members already have, else a new one; a cluster that ends up holding two
    golden records (a steward approved the pair) keeps the larger and marks the other ``merged``.
    """
    mapping = mapping or load_entity_mapping(entity)
    if mapping.match is None:
        raise ValueError(f"mapping {mapping.path} has no match section")
    config = mapping.match

    def body(store: Sessions, run: int | None) -> StepStats:
        clock = time.perf_counter()
        with store.begin() as session:
            carried = _link_carried_golden_ids(session, entity)
        result = match_entity(store, entity, config, run)
        with store.begin() as session:
            linked = _link_clusters(session, entity, result)
        engine = result.stats
        stats = {
            "records": engine.get("records", 0),
            "candidates": sum(engine.get("candidate_pairs", {}).values()),
            "auto_linked": engine.get("auto_links", 0),
            "review": engine.get("review", 0),
            "clusters": engine.get("clusters", 0),
            "linked_by_golden_id": carried,
            **linked,
            "model_version": engine.get("model_version"),
            "model_learnt": engine.get("model_learnt"),
            "auto_threshold": engine.get("auto_threshold"),
            "kept_apart_by_constraints": engine.get("cannot_link_pairs", 0) + engine.get("chain_breaks", 0),
            "decisions": engine.get("decisions_saved", {}),
            "seconds": round(time.perf_counter() - clock, 3),
        }
        log.info(
            "match %s: %d records, %d auto links, %d for review, %d new golden records (model v%s%s)",
            entity,
            stats["records"],
            stats["auto_linked"],
            stats["review"],
            stats["new_golden"],
            stats["model_version"],
            f", learnt now: {stats['model_learnt']}" if stats["model_learnt"] else "",
        )
        outcome = Outcome(
            read=stats["records"],
            matched=stats["auto_linked"] + stats["linked_by_golden_id"],
            new=stats["new_golden"],
            review=stats["review"],
        )
        return StepStats(step="match", kind="match", entity=entity, outcome=outcome, details=stats)

    return run_step(sessions, entity, "match", run_id, body)


def _golden_status(session: Session, ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
    out: dict[str, tuple[str, str | None]] = {}
    for part in chunked(sorted(set(ids)), CHUNK):
        query = select(GoldenRecord.id, GoldenRecord.status, GoldenRecord.merged_into).where(
            GoldenRecord.id.in_(part)
        )
        out.update({gid: (status, into) for gid, status, into in session.execute(query)})
    return out


def _link_carried_golden_ids(session: Session, entity: str) -> int:
    """Xref rows for live records without one that carry the id of an existing golden record."""
    rows = session.execute(
        select(CanonicalRecord.system, CanonicalRecord.source_key, CanonicalRecord.carried_golden_id)
        .outerjoin(
            Xref,
            XREF_RECORD,
        )
        .where(
            CanonicalRecord.entity == entity,
            CanonicalRecord.carried_golden_id.is_not(None),
            *LIVE,
            Xref.id.is_(None),
        )
    ).all()
    if not rows:
        return 0
    known = _golden_status(session, (g for _, _, g in rows))
    now = utcnow()
    inserts = []
    for system, key, carried in rows:
        golden = carried
        for _ in range(10):  # follow merges: a golden record merged into another lives on there
            status = known.get(golden)
            if status is None or status[0] != "merged" or not status[1]:
                break
            golden = status[1]
            if golden not in known:
                known.update(_golden_status(session, [golden]))
        if golden not in known:
            continue  # not one of ours (another store, or a value typed by hand)
        inserts.append(
            {
                "golden_id": golden,
                "system": system,
                "entity": entity,
                "source_key": key,
                "created_by_synchub": False,
                "link_rule": "golden_id",
                "linked_at": now,
            }
        )
    for part in chunked(inserts, CHUNK):
        session.execute(insert(Xref), list(part))
    return len(inserts)


def _link_rules(session: Session, entity: str, result: MatchResult) -> dict[RecordRef, str]:
    """Per record, the rule that linked it: its first auto link (deterministic first), else a steward."""
    rules: dict[RecordRef, str] = {}
    for decision in result.decisions:
        if decision.status == "auto_linked":
            rules.setdefault(decision.left, decision.rule)
            rules.setdefault(decision.right, decision.rule)
    approved = session.execute(
        select(
            MatchDecision.left_system,
            MatchDecision.left_key,
            MatchDecision.right_system,
            MatchDecision.right_key,
        ).where(MatchDecision.entity == entity, MatchDecision.status == "approved")
    )
    for ls, lk, rs, rk in approved:
        rules.setdefault((ls, lk), "steward")
        rules.setdefault((rs, rk), "steward")
    return rules


def _link_clusters(session: Session, entity: str, result: MatchResult) -> dict[str, int]:
    """Give every cluster one golden id and write the xref rows that say so."""
    xref = load_xref(session, entity)
    rules = _link_rules(session, entity, result)
    now = utcnow()
    new_golden: list[str] = []
    inserts: list[dict[str, Any]] = []
    moves: dict[RecordRef, str] = {}
    merged: dict[str, str] = {}
    statuses = _golden_status(session, (g for c in result.clusters for g in c.golden_ids))
    for cluster in result.clusters:
        if not cluster.golden_ids:
            golden = new_golden_id()
            new_golden.append(golden)
        elif len(cluster.golden_ids) == 1:
            golden = cluster.golden_ids[0]
        else:
            members = Counter(xref[m] for m in cluster.members if m in xref)
            golden = min(
                cluster.golden_ids,
                key=lambda g: (statuses.get(g, ("active",))[0] != "active", -members[g], g),
            )
            merged.update({g: golden for g in cluster.golden_ids if g != golden})
        for member in cluster.members:
            current = xref.get(member)
            if current is None:
                rule = rules.get(member, "new" if len(cluster.members) == 1 else "cluster")
                inserts.append(
                    {
                        "golden_id": golden,
                        "system": member[0],
                        "entity": entity,
                        "source_key": member[1],
                        "created_by_synchub": False,
                        "link_rule": rule,
                        "linked_at": now,
                    }
                )
            elif current != golden and current not in merged:
                moves[member] = golden
    for part in chunked(new_golden, CHUNK):
        session.execute(
            insert(GoldenRecord),
            [
                {
                    "id": golden,
                    "entity": entity,
                    "values": {},
                    "provenance": {},
                    "version": 0,  # merge makes version 1 ("created")
                    "status": "active",
                    "created_at": now,
                    "updated_at": now,
                }
                for golden in part
            ],
        )
    for part in chunked(inserts, CHUNK):
        session.execute(insert(Xref), list(part))
    for loser, survivor in merged.items():
        # Every record of the merged golden record moves, deleted ones (history) included.
        session.execute(
            update(Xref)
            .where(Xref.golden_id == loser)
            .values(golden_id=survivor, link_rule="golden merge", linked_at=now)
        )
        session.execute(
            update(GoldenRecord)
            .where(GoldenRecord.id == loser)
            .values(status="merged", merged_into=survivor, updated_at=now)
        )
    for (system, key), golden in moves.items():
        session.execute(
            update(Xref)
            .where(Xref.system == system, Xref.entity == entity, Xref.source_key == key)
            .values(golden_id=golden, link_rule=rules.get((system, key), "cluster"), linked_at=now)
        )
    return {
        "new_golden": len(new_golden),
        "xref_added": len(inserts),
        "xref_moved": len(moves),
        "golden_merged": len(merged),
    }


# --- merge ---------------------------------------------------------------------------------------------


def _digest(parts: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def _rules_digest(mapping: EntityMapping) -> str:
    section = {
        "fields": list(mapping.model.fields) if mapping.model else [],
        "survivorship": mapping.raw.get("survivorship"),
    }
    return _digest([json.dumps(section, sort_keys=True, default=str)])


def merge(
    entity: str,
    *,
    full: bool = False,
    sessions: Sessions | None = None,
    run_id: int | None = None,
    mapping: EntityMapping | None = None,
) -> StepStats:
    """Survivorship for every golden record whose live members (or their values) changed since its last merge.

    ``full`` recomputes all. A golden record gets a new version only when its values change
    (reason "created", "members changed", "source change" or "reactivated"); its provenance
    always says which system, record and rule gave each value. Golden records without a live
    (neither deleted nor quarantined) member are retired.
    """
    mapping = mapping or load_entity_mapping(entity)
    if mapping.survivorship is None:
        raise ValueError(f"mapping {mapping.path} has no survivorship section")

    def body(store: Sessions, run: int | None) -> StepStats:
        stats = merge_golden_records(store, mapping, run, full=full)
        details = {k: v for k, v in stats.items() if k != "entity"}
        outcome = Outcome(read=stats["golden"], unchanged=stats["unchanged"])
        return StepStats(step="merge", kind="merge", entity=entity, outcome=outcome, details=details)

    return run_step(sessions, entity, "merge", run_id, body)


def merge_golden_records(
    store: Sessions,
    mapping: EntityMapping,
    run: int | None,
    *,
    full: bool = False,
    only: set[str] | None = None,
) -> dict[str, Any]:
    """The merge step's work (see ``merge``), in the caller's step; ``only``: just these golden
    records (none retired), e.g. those whose members a publish just created and read back."""
    entity = mapping.entity
    config = mapping.survivorship
    if config is None:
        raise ValueError(f"mapping {mapping.path} has no survivorship section")
    rules_digest = _rules_digest(mapping)
    clock = time.perf_counter()
    query = select(
        GoldenRecord.id,
        GoldenRecord.status,
        GoldenRecord.member_keys_hash,
        GoldenRecord.merge_input_hash,
        GoldenRecord.version,
    ).where(GoldenRecord.entity == entity, GoldenRecord.status != "merged")
    parts = (
        [query]
        if only is None
        else [query.where(GoldenRecord.id.in_(p)) for p in chunked(sorted(only), CHUNK)]
    )
    with store() as session:
        goldens = {
            gid: (status, keys_hash, input_hash, version)
            for part in parts
            for gid, status, keys_hash, input_hash, version in session.execute(part)
        }
        dirty: dict[str, tuple[str, str]] = {}
        seen: set[str] = set()
        for golden, members in _live_members(session, entity, only):
            seen.add(golden)
            state = goldens.get(golden)
            if state is None:
                continue  # merged away; its records are moved by the match step
            keys_hash = _digest(f"{s}\x01{k}" for s, k, _, _ in members)
            input_hash = _digest(
                [rules_digest, *(f"{s}\x01{k}\x01{h}\x01{iso(t) or '-'}" for s, k, h, t in members)]
            )
            if (
                full
                or state[0] != "active"
                or state[3] == 0
                or (state[1], state[2]) != (keys_hash, input_hash)
            ):
                dirty[golden] = (keys_hash, input_hash)
    counts: Counter[str] = Counter()
    for part in chunked(sorted(dirty), MERGE_CHUNK):
        with store.begin() as session:
            counts.update(_merge_chunk(session, mapping, config, {g: dirty[g] for g in part}, run))
    orphans = [g for g, state in goldens.items() if g not in seen and state[0] == "active" and only is None]
    with store.begin() as session:
        now = utcnow()
        for part in chunked(orphans, CHUNK):
            session.execute(
                update(GoldenRecord)
                .where(GoldenRecord.id.in_(part))
                .values(status="retired", member_keys_hash=None, merge_input_hash=None, updated_at=now)
            )
    live = len(seen & goldens.keys())
    stats = {
        "entity": entity,
        "golden": live,
        "created": counts["created"],
        "changed": counts["changed"],
        "unchanged": live - counts["created"] - counts["changed"],
        "recomputed": len(dirty),
        "reactivated": counts["reactivated"],
        "retired": len(orphans),
        "seconds": round(time.perf_counter() - clock, 3),
    }
    log.info(
        "merge %s: %d golden records, %d created, %d changed, %d retired",
        entity,
        live,
        stats["created"],
        stats["changed"],
        stats["retired"],
    )
    return stats


def _live_members(
    session: Session, entity: str, only: set[str] | None = None
) -> Iterator[tuple[str, list[tuple[str, str, str, dt.datetime | None]]]]:
    """Per golden id (in order), its live members' (system, key, values hash, stamp), streamed;
    ``only``: just these golden records."""
    if only is not None:
        for part in chunked(sorted(only), CHUNK):
            yield from _live_members_where(session, entity, Xref.golden_id.in_(part))
        return
    yield from _live_members_where(session, entity)


def _live_members_where(
    session: Session, entity: str, *where: Any
) -> Iterator[tuple[str, list[tuple[str, str, str, dt.datetime | None]]]]:
    query = (
        select(
            Xref.golden_id,
            CanonicalRecord.system,
            CanonicalRecord.source_key,
            CanonicalRecord.values_hash,
            CanonicalRecord.source_stamp,
        )
        .join(
            CanonicalRecord,
            XREF_RECORD,
        )
        .where(Xref.entity == entity, *LIVE, *where)
        .order_by(Xref.golden_id, CanonicalRecord.system, CanonicalRecord.source_key)
        .execution_options(yield_per=5000)
    )
    current: str | None = None
    members: list[tuple[str, str, str, dt.datetime | None]] = []
    for golden, system, key, digest, stamp in session.execute(query):
        if golden != current:
            if current is not None:
                yield current, members
            current, members = golden, []
        members.append((system, key, digest, stamp))
    if current is not None:
        yield current, members


def _read_with_cluster_country(
    session: Session, mapping: EntityMapping, candidates: dict[str, list[Candidate]]
) -> None:
    """Fill the gaps of members that name no country, reading their payload with their cluster's country.

    A CRM account without a country cannot have its national phone number or region name read on
    its own; its golden record knows the country from the other members. Without this, those values
    would only appear after SyncHub wrote the country back, and the next run would write again.
    Only empty values are filled, for survivorship; the stored canonical record keeps what the
    source says.
    """
    wanted: dict[tuple[str, str], str] = {}  # (system, key) -> the cluster's country
    for members in candidates.values():
        countries = Counter(c.values.get("country") for c in members if c.values.get("country"))
        if not countries:
            continue
        country = sorted(countries.items(), key=lambda item: (-item[1], item[0]))[0][0]
        for member in members:
            if not member.values.get("country"):
                wanted[(member.system, member.source_key)] = country
    if not wanted:
        return
    payloads: dict[tuple[str, str], dict[str, Any]] = {}
    for system in {system for system, _ in wanted}:
        keys = [key for s, key in wanted if s == system]
        for part in chunked(keys, CHUNK):
            rows = session.execute(
                select(SourceRecord.source_key, SourceRecord.payload).where(
                    SourceRecord.system == system,
                    SourceRecord.entity == mapping.entity,
                    SourceRecord.source_key.in_(part),
                )
            )
            payloads.update({(system, key): payload for key, payload in rows})
    for members in candidates.values():
        for i, member in enumerate(members):
            ref = (member.system, member.source_key)
            if ref not in wanted or ref not in payloads:
                continue
            reread = to_canonical(mapping, member.system, payloads[ref], default_country=wanted[ref]).values
            filled = {k: v for k, v in reread.items() if v is not None and member.values.get(k) is None}
            if filled:
                # The member competes with the country it was read with, so an address it completes
                # (e.g. a region only readable with the country) counts as complete now, not only
                # after SyncHub has written the country back.
                values = dict(member.values) | filled | {"country": wanted[ref]}
                members[i] = Candidate(member.system, member.source_key, values, member.stamp)


def _merge_chunk(
    session: Session,
    mapping: EntityMapping,
    config: Any,
    hashes: Mapping[str, tuple[str, str]],
    run_id: int | None,
) -> Counter[str]:
    """Survivorship for a chunk of golden records; writes values, provenance and new versions."""
    entity = mapping.entity
    candidates: dict[str, list[Candidate]] = defaultdict(list)
    query = (
        select(
            Xref.golden_id,
            CanonicalRecord.system,
            CanonicalRecord.source_key,
            CanonicalRecord.values,
            CanonicalRecord.source_stamp,
        )
        .join(
            CanonicalRecord,
            XREF_RECORD,
        )
        .where(
            Xref.entity == entity,
            Xref.golden_id.in_(list(hashes)),
            *LIVE,
        )
    )
    for golden, system, key, values, stamp in session.execute(query):
        candidates[golden].append(Candidate(system, key, values or {}, aware(stamp)))
    _read_with_cluster_country(session, mapping, candidates)
    current = session.execute(
        select(
            GoldenRecord.id,
            GoldenRecord.version,
            GoldenRecord.status,
            GoldenRecord.values,
            GoldenRecord.member_keys_hash,
        ).where(GoldenRecord.id.in_(list(hashes)))
    ).all()
    now = utcnow()
    counts: Counter[str] = Counter()
    updates: list[dict[str, Any]] = []
    versions: list[dict[str, Any]] = []
    for golden, version, status, values, keys_hash in current:
        members = candidates.get(golden)
        if not members:
            continue  # the members changed since the first pass; the next merge sees them
        result = survivorship_merge(members, config)
        provenance = {name: origin.as_dict() for name, origin in result.provenance.items()}
        keys_now, input_now = hashes[golden]
        row: dict[str, Any] = {
            "id": golden,
            "provenance": provenance,
            "status": "active",
            "member_keys_hash": keys_now,
            "merge_input_hash": input_now,
            "merged_at": now,
        }
        if status != "active":
            counts["reactivated"] += 1
        if version == 0 or result.values != (values or {}):
            if version == 0:
                reason = "created"
            elif status != "active":
                reason = "reactivated"
            elif keys_hash != keys_now:
                reason = "members changed"
            else:
                reason = "source change"
            counts["created" if version == 0 else "changed"] += 1
            row |= {"values": result.values, "version": version + 1, "updated_at": now}
            versions.append(
                {
                    "golden_id": golden,
                    "version": version + 1,
                    "values": result.values,
                    "provenance": provenance,
                    "reason": reason,
                    "created_at": now,
                    "run_id": run_id,
                }
            )
            updates.append(row)
        else:
            updates.append(row | {"values": values})
    # One executemany per shape: rows with and without a new version carry different columns.
    for shape in ({"version"}, set()):
        batch = [u for u in updates if ("version" in u) == bool(shape)]
        if batch:
            session.execute(update(GoldenRecord), batch)
    if versions:
        session.execute(insert(GoldenRecordVersion), versions)
    return counts
