"""Matching and the store: read canonical records, the xref, earlier decisions and models; keep new ones.

Decisions live in ``match_decision``, one row per pair (left < right by (system, key)). A steward's
decision (approved, rejected, new) is never overwritten by an automatic one while both records' values
hashes are unchanged; review rows a later full run no longer produces are removed, because the pair has
been settled (linked through the xref or other records, or no longer scores in the review band).

Models live in ``match_model``, one row per version. A match run uses the newest model learnt for the
current settings; it learns a new one when there is none, when the settings changed, or when the live
records grew or shrank by more than the settings' ``training.retrain_change`` since; ``train_entity``
(``synchub match train``) learns one on request. Records SyncHub created itself in a system (copies of
a golden record) are left out of training. Plain SQLAlchemy, no dialect branches: the same code runs on
SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from mdm.config.match import MatchConfig
from mdm.match.engine import (
    Decision,
    MatchRecord,
    MatchResult,
    PairKey,
    PreviousDecision,
    RecordRef,
    explain,
    learn_model,
    match_records,
    pair_key,
)
from mdm.match.model import MatchModel
from mdm.store.models import LIVE, CanonicalRecord, MatchDecision, MatchModelRow, Xref, utcnow

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


# A stored decision's pair, its status and the records' hashes when it was made.
_PAIR_COLUMNS = (
    MatchDecision.left_system,
    MatchDecision.left_key,
    MatchDecision.right_system,
    MatchDecision.right_key,
    MatchDecision.status,
    MatchDecision.left_hash,
    MatchDecision.right_hash,
)


def load_previous_decisions(session: Session, entity: str) -> dict[PairKey, PreviousDecision]:
    """Every stored decision of the entity, by pair."""
    query = select(*_PAIR_COLUMNS, MatchDecision.decided_by).where(MatchDecision.entity == entity)
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
    query = select(MatchDecision.id, *_PAIR_COLUMNS).where(MatchDecision.entity == entity)
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


def synchub_copies(session: Session, entity: str) -> set[RecordRef]:
    """Records SyncHub created in a system itself: copies of golden records, left out of training."""
    query = select(Xref.system, Xref.source_key).where(
        Xref.entity == entity, Xref.created_by_synchub.is_(True)
    )
    return {(system, key) for system, key in session.execute(query)}


def xref_clusters(session: Session, entity: str) -> list[list[RecordRef]]:
    """The records of each golden record (the xref as clusters), deleted records included."""
    groups: dict[str, list[RecordRef]] = {}
    query = select(Xref.golden_id, Xref.system, Xref.source_key).where(Xref.entity == entity)
    for golden, system, key in session.execute(query):
        groups.setdefault(golden, []).append((system, key))
    return list(groups.values())


def explain_pairs(
    session: Session,
    entity: str,
    records: list[MatchRecord],
    config: MatchConfig,
    model: MatchModel | None,
    pairs: list[PairKey],
) -> dict[PairKey, dict[str, Any]]:
    """Per pair, its stored decision (status, score, rule and evidence) or, without one, its evidence
    scored now with ``model``."""
    out: dict[PairKey, dict[str, Any]] = {}
    wanted = {pair_key(*p) for p in pairs}
    for row in session.scalars(select(MatchDecision).where(MatchDecision.entity == entity)):
        pair = ((row.left_system, row.left_key), (row.right_system, row.right_key))
        if pair in wanted:
            out[pair] = dict(row.evidence or {}) | {
                "status": row.status,
                "score": row.score,
                "rule": row.rule,
            }
    missing = [p for p in wanted if p not in out]
    if missing and model is not None:
        out.update(explain(records, config, model, missing))
    return out


# --- models --------------------------------------------------------------------------------------------


def _model_of(row: MatchModelRow) -> MatchModel:
    model = MatchModel.from_dict(row.parameters)
    model.version, model.entity, model.report = row.version, row.entity, dict(row.report or {})
    return model


def load_model(
    session: Session, entity: str, config: MatchConfig | None = None, version: int | None = None
) -> MatchModel | None:
    """The entity's model ``version`` (default: the newest; with ``config``, the newest that fits it)."""
    query = select(MatchModelRow).where(MatchModelRow.entity == entity)
    if version is not None:
        query = query.where(MatchModelRow.version == version)
    if config is not None:
        query = query.where(MatchModelRow.settings_digest == config.digest())
    row = session.scalars(query.order_by(MatchModelRow.version.desc()).limit(1)).first()
    return _model_of(row) if row is not None else None


def list_models(session: Session, entity: str) -> list[dict[str, Any]]:
    """Every stored model of the entity, newest first: version, when, why, by whom, records, prior."""
    rows = session.scalars(
        select(MatchModelRow).where(MatchModelRow.entity == entity).order_by(MatchModelRow.version.desc())
    )
    return [
        {
            "version": r.version,
            "created_at": r.created_at,
            "reason": r.reason,
            "trained_by": r.trained_by,
            "records": r.records,
            "prior": r.prior,
            "settings_digest": r.settings_digest,
        }
        for r in rows
    ]


def save_model(session: Session, entity: str, model: MatchModel, reason: str, trained_by: str) -> int:
    """Store ``model`` as the entity's next version; sets and returns ``model.version``."""
    latest = session.scalar(select(func.max(MatchModelRow.version)).where(MatchModelRow.entity == entity))
    model.version, model.entity = (latest or 0) + 1, entity
    session.add(
        MatchModelRow(
            entity=entity,
            version=model.version,
            settings_digest=model.settings_digest,
            records=model.records,
            prior=model.prior,
            parameters=model.to_dict() | {"report": {}},
            report=model.report,
            reason=reason,
            trained_by=trained_by,
            created_at=utcnow(),
        )
    )
    session.flush()
    return model.version


def retrain_reason(model: MatchModel | None, config: MatchConfig, records: int) -> str | None:
    """Why the match step should learn a new model (None: the stored one still fits the data)."""
    if config.fully_pinned:
        return None if model is not None else "the settings pin every value"
    if model is None:
        return "no model learnt for these settings yet"
    if model.records and abs(records - model.records) > config.training.retrain_change * model.records:
        return f"the data has moved: {records} live records, learnt on {model.records}"
    return None


# --- runs ----------------------------------------------------------------------------------------------


def _inputs(sessions: sessionmaker[Session], entity: str):  # noqa: ANN202 - a tuple of the run's inputs
    with sessions() as session:
        records = list(load_canonical_records(session, entity))
        xref = load_xref(session, entity)
        previous = load_previous_decisions(session, entity)
        copies = synchub_copies(session, entity)
    return records, xref, previous, copies


def train_entity(
    sessions: sessionmaker[Session],
    entity: str,
    config: MatchConfig,
    trained_by: str,
    reason: str = "asked for",
) -> MatchModel:
    """Learn a new model from the entity's live records and store it as the next version."""
    records, xref, _previous, copies = _inputs(sessions, entity)
    model = learn_model(records, config, xref=xref, exclude_from_training=copies)
    with sessions.begin() as session:
        save_model(session, entity, model, reason, trained_by)
    return model


def match_entity(
    sessions: sessionmaker[Session],
    entity: str,
    config: MatchConfig,
    run_id: int | None = None,
    trained_by: str = "match step",
) -> MatchResult:
    """One match run from the store: records, xref, decisions and model in; decisions (and a newly
    learnt model) saved."""
    records, xref, previous, copies = _inputs(sessions, entity)
    with sessions() as session:
        model = load_model(session, entity, config)
    reason = retrain_reason(model, config, len(records) - len(copies))
    if reason is not None:
        model = None

    def keep(new: MatchModel) -> None:
        with sessions.begin() as session:
            save_model(session, entity, new, reason or "the settings changed", trained_by)

    result = match_records(
        records,
        config,
        xref=xref,
        previous=previous,
        model=model,
        exclude_from_training=copies,
        keep_model=keep,
    )
    if reason is not None:
        result.stats["model_learnt"] = reason
    with sessions.begin() as session:
        result.stats["decisions_saved"] = save_decisions(session, entity, result.decisions, run_id)
    return result
