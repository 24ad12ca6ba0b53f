"""The merge step: survivorship over each changed golden record's live members; a new version only when
the values change; golden records without a live member are retired.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from mdm.canonical import to_canonical
from mdm.config import Mapping as EntityMapping
from mdm.config import mapping_with
from mdm.merge import Candidate
from mdm.merge import merge as survivorship_merge
from mdm.runtime import Sessions, aware, chunked, iso, run_step
from mdm.stats import StepStats
from mdm.store.models import (
    LIVE,
    XREF_RECORD,
    CanonicalRecord,
    GoldenRecord,
    GoldenRecordVersion,
    SourceRecord,
    Xref,
    utcnow,
)

log = logging.getLogger(__name__)

CHUNK = 500  # golden ids per IN list
MERGE_CHUNK = 1000  # golden records per merge transaction


def _digest(parts: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def _rules_digest(mapping: EntityMapping) -> str:
    section = {
        "fields": list(mapping.model.fields) if mapping.model else [],
        "survivorship": mapping.section("survivorship"),
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
    mapping = mapping_with(entity, mapping, "survivorship")

    def body(store: Sessions, run: int | None) -> StepStats:
        stats = merge_golden_records(store, mapping, run, full=full)
        return StepStats.of(
            "merge", "merge", entity, stats, read=stats["golden"], unchanged=stats["unchanged"]
        )

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
