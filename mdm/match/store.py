"""Matching and the store: read canonical records, the xref and earlier decisions; keep new decisions.

Decisions live in ``match_decision``, one row per pair (left < right by (system, key)). A steward's
decision (approved, rejected, new) is never overwritten by an automatic one while both records' values
hashes are unchanged; review rows a later full run no longer produces are removed, because the pair has
been settled (linked through the xref or other records, or no longer scores in the review band).
Plain SQLAlchemy, no dialect branches: the same code runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from mdm.match.config import MatchConfig
from mdm.match.engine import (
    Decision,
    MatchRecord,
    MatchResult,
    PairKey,
    PreviousDecision,
    RecordRef,
    match_records,
    pair_key,
)
from mdm.store.models import LIVE, CanonicalRecord, MatchDecision, Xref, utcnow

STEWARD_STATUSES = frozenset({"approved", "rejected", "new"})
StewardStatus = Literal["approved", "rejected", "new"]
_CHUNK = 1000


def load_canonical_records(session: Session, entity: str) -> Iterator[MatchRecord]:
    """The entity's canonical records that take part in matching (neither deleted nor quarantined)."""
    query = (
        select(
            CanonicalRecord.system,
            CanonicalRecord.source_key,
            CanonicalRecord.values,
            CanonicalRecord.values_hash,
        )
        .where(
            CanonicalRecord.entity == entity,
            *LIVE,
        )
        .order_by(CanonicalRecord.system, CanonicalRecord.source_key)
        .execution_options(yield_per=5000)
    )
    for system, key, values, values_hash in session.execute(query):
        yield MatchRecord(system, key, values, values_hash)


def load_xref(session: Session, entity: str) -> dict[RecordRef, str]:
    """(system, key) -> golden id, for every record already linked to a golden record."""
    query = select(Xref.system, Xref.source_key, Xref.golden_id).where(Xref.entity == entity)
    return {(system, key): golden for system, key, golden in session.execute(query)}


def load_previous_decisions(session: Session, entity: str) -> dict[PairKey, PreviousDecision]:
    """Every stored decision of the entity, by pair."""
    query = select(
        MatchDecision.left_system,
        MatchDecision.left_key,
        MatchDecision.right_system,
        MatchDecision.right_key,
        MatchDecision.status,
        MatchDecision.left_hash,
        MatchDecision.right_hash,
        MatchDecision.decided_by,
    ).where(MatchDecision.entity == entity)
    return {
        ((ls, lk), (rs, rk)): PreviousDecision(status, lh, rh, by)
        for ls, lk, rs, rk, status, lh, rh, by in session.execute(query)
    }


def save_decisions(
    session: Session, entity: str, decisions: Iterable[Decision], run_id: int | None = None
) -> dict[str, int]:
    """Store a full match run's decisions; returns counts (inserted, updated, kept, removed).

    Call it with all decisions of one run over all records of the entity: open review rows the run
    did not produce are removed.
    """
    existing: dict[PairKey, tuple[int, str, str, str]] = {}
    query = select(
        MatchDecision.id,
        MatchDecision.left_system,
        MatchDecision.left_key,
        MatchDecision.right_system,
        MatchDecision.right_key,
        MatchDecision.status,
        MatchDecision.left_hash,
        MatchDecision.right_hash,
    ).where(MatchDecision.entity == entity)
    for row_id, ls, lk, rs, rk, status, lh, rh in session.execute(query):
        existing[((ls, lk), (rs, rk))] = (row_id, status, lh, rh)
    now = utcnow()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    produced: set[PairKey] = set()
    kept = 0
    for decision in decisions:
        produced.add(decision.pair)
        values = {
            "score": decision.score,
            "rule": decision.rule,
            "evidence": decision.evidence,
            "status": decision.status,
            "left_hash": decision.left_hash,
            "right_hash": decision.right_hash,
            "decided_by": None,
            "decided_at": now,
            "run_id": run_id,
        }
        before = existing.get(decision.pair)
        if before is None:
            (ls, lk), (rs, rk) = decision.pair
            inserts.append(
                {"entity": entity, "left_system": ls, "left_key": lk, "right_system": rs, "right_key": rk}
                | values
            )
        elif before[1] in STEWARD_STATUSES and before[2:] == (decision.left_hash, decision.right_hash):
            kept += 1
        else:
            updates.append({"id": before[0]} | values)
    stale = [row[0] for pair, row in existing.items() if row[1] == "review" and pair not in produced]
    for start in range(0, len(inserts), _CHUNK):
        session.execute(insert(MatchDecision), inserts[start : start + _CHUNK])
    for start in range(0, len(updates), _CHUNK):
        session.execute(update(MatchDecision), updates[start : start + _CHUNK])
    for start in range(0, len(stale), _CHUNK):
        session.execute(delete(MatchDecision).where(MatchDecision.id.in_(stale[start : start + _CHUNK])))
    return {"inserted": len(inserts), "updated": len(updates), "kept": kept, "removed": len(stale)}


def record_steward_decision(
    session: Session,
    entity: str,
    a: RecordRef,
    b: RecordRef,
    status: StewardStatus,
    decided_by: str,
    hashes: dict[RecordRef, str],
) -> None:
    """A person's decision on a pair (approve, reject, keep as new), with both records' current hashes.

    ``hashes`` maps each of the two records to its values hash now: a rejection holds only as long as
    neither record changes.
    """
    if status not in STEWARD_STATUSES:
        raise ValueError(f"status must be one of {sorted(STEWARD_STATUSES)}, not {status!r}")
    left, right = pair_key(a, b)
    row = session.execute(
        select(MatchDecision).where(
            MatchDecision.entity == entity,
            MatchDecision.left_system == left[0],
            MatchDecision.left_key == left[1],
            MatchDecision.right_system == right[0],
            MatchDecision.right_key == right[1],
        )
    ).scalar_one_or_none()
    if row is None:
        row = MatchDecision(
            entity=entity,
            left_system=left[0],
            left_key=left[1],
            right_system=right[0],
            right_key=right[1],
            score=0.0,
            rule="steward",
            evidence={},
        )
        session.add(row)
    row.status = status
    row.decided_by = decided_by
    row.decided_at = utcnow()
    row.left_hash = hashes[left]
    row.right_hash = hashes[right]


def match_entity(
    sessions: sessionmaker[Session], entity: str, config: MatchConfig, run_id: int | None = None
) -> MatchResult:
    """One match run from the store: canonical records, xref and earlier decisions in, decisions saved."""
    with sessions() as session:
        records = list(load_canonical_records(session, entity))
        xref = load_xref(session, entity)
        previous = load_previous_decisions(session, entity)
    result = match_records(records, config, xref=xref, previous=previous)
    with sessions.begin() as session:
        result.stats["decisions_saved"] = save_decisions(session, entity, result.decisions, run_id)
    return result
