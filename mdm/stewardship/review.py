"""The review queue: candidate matches in the review band, decided by a steward.

A decision is stored on the pair's ``match_decision`` row with both records' current values hashes
(``mdm.match.store.record_steward_decision``) and applies on the next match run: an approved pair is
linked into one golden record, a rejected pair (or one kept as new) stays apart for as long as neither
record's values change. Every decision is written to the audit log.

The functions work in the caller's session and flush, never commit: run an action inside
``sessions.begin()`` (or commit afterwards) so the decision and its audit entry land together.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from mdm.match.store import record_steward_decision
from mdm.runtime import iso
from mdm.stewardship import audit
from mdm.store.models import CanonicalRecord, GoldenRecord, MatchDecision, Xref

Action = Literal["approve", "reject", "new"]
ACTIONS: dict[str, Literal["approved", "rejected", "new"]] = {
    "approve": "approved",
    "reject": "rejected",
    "new": "new",
}
STATUSES = ("review", "auto_linked", "approved", "rejected", "new")


@dataclass
class ReviewItem:
    """One candidate pair: who it joins, how sure SyncHub was, and where it stands."""

    id: int
    entity: str
    status: str  # review, auto_linked, approved, rejected, new
    score: float
    rule: str
    left_system: str
    left_key: str
    right_system: str
    right_key: str
    left_golden_id: str | None  # the golden record each record belongs to now (None: none yet)
    right_golden_id: str | None
    decided_by: str | None  # None: SyncHub's automatic decision
    decided_at: str | None  # ISO 8601, UTC
    run_id: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReviewDetail:
    """A pair with both records' canonical values side by side, the evidence and their golden records."""

    item: ReviewItem
    left_values: dict[str, Any] | None  # None: the record is no longer staged
    right_values: dict[str, Any] | None
    evidence: dict[str, Any]
    fields: list[str] = field(default_factory=list)  # every canonical field either record has, sorted
    differing: list[str] = field(default_factory=list)  # the fields whose values differ
    left_golden: dict[str, Any] | None = None  # {"id", "status", "values"} of the golden record
    right_golden: dict[str, Any] | None = None
    model: dict[str, Any] | None = None  # the match model that scored the pair: version, prior, when, why

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_reviews(
    session: Session, entity: str | None = None, status: str = "review", limit: int = 100
) -> list[ReviewItem]:
    """Pairs with ``status`` (default: waiting for a steward), highest score first."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    query = select(MatchDecision).where(MatchDecision.status == status)
    if entity is not None:
        query = query.where(MatchDecision.entity == entity)
    rows = list(session.scalars(query.order_by(MatchDecision.score.desc(), MatchDecision.id).limit(limit)))
    goldens = _golden_ids(session, rows)
    return [_item(row, goldens) for row in rows]


def get_review(session: Session, decision_id: int) -> ReviewDetail:
    """The pair ``decision_id`` with everything a steward needs to decide it; LookupError if unknown."""
    row = _decision(session, decision_id)
    goldens = _golden_ids(session, [row])
    item = _item(row, goldens)
    left = _canonical(session, row.entity, row.left_system, row.left_key)
    right = _canonical(session, row.entity, row.right_system, row.right_key)
    left_values = left.values if left is not None else None
    right_values = right.values if right is not None else None
    names = sorted(set(left_values or {}) | set(right_values or {}))
    differing = [n for n in names if (left_values or {}).get(n) != (right_values or {}).get(n)]
    evidence, model = _described(session, row, left_values, right_values)
    return ReviewDetail(
        item=item,
        left_values=left_values,
        right_values=right_values,
        evidence=evidence,
        model=model,
        fields=names,
        differing=differing,
        left_golden=_golden(session, item.left_golden_id),
        right_golden=_golden(session, item.right_golden_id),
    )


def decide(session: Session, decision_id: int, action: Action, actor: str) -> ReviewItem:
    """Approve (link), reject (keep apart) or keep as new the pair ``decision_id``, as ``actor``.

    Stored with both records' current values hashes, so it holds until one of them changes; applied
    by the next match run. LookupError: no such pair, or one of its records is gone from the store;
    ValueError: an unknown action, or the pair is no longer in review.
    """
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    row = _decision(session, decision_id)
    if row.status != "review":
        by = f" by {row.decided_by}" if row.decided_by else ""
        raise ValueError(f"match decision {decision_id} is not in review (it is {row.status}{by})")
    left_ref = (row.left_system, row.left_key)
    right_ref = (row.right_system, row.right_key)
    hashes: dict[tuple[str, str], str] = {}
    for ref in (left_ref, right_ref):
        record = _canonical(session, row.entity, *ref)
        if record is None:
            raise LookupError(f"record {ref[0]}:{ref[1]} of match decision {decision_id} is no longer staged")
        hashes[ref] = record.values_hash
    before = {"status": row.status, "score": row.score, "rule": row.rule}
    status = ACTIONS[action]
    record_steward_decision(session, row.entity, left_ref, right_ref, status, actor, hashes)
    session.flush()
    audit.record(
        session,
        actor,
        f"review.{action}",
        f"match_decision:{decision_id}",
        {
            "entity": row.entity,
            "left": f"{row.left_system}:{row.left_key}",
            "right": f"{row.right_system}:{row.right_key}",
            "before": before,
            "status": status,
        },
    )
    return _item(row, _golden_ids(session, [row]))


# --- reading ------------------------------------------------------------------------------------------


def _described(
    session: Session, row: MatchDecision, left: dict[str, Any] | None, right: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The pair's evidence per comparison (labels, values, m, u, weight) and the model that scored it."""
    from mdm.config import MappingError, load_mapping, mappings_dir
    from mdm.match.evidence import describe
    from mdm.match.store import load_model

    evidence = dict(row.evidence or {})
    try:
        config = load_mapping(mappings_dir() / f"{row.entity}.yaml").match
    except (MappingError, OSError):
        config = None  # the mapping is broken or gone: show the evidence as stored
    version = evidence.get("model_version")
    model = load_model(session, row.entity, version=version) if isinstance(version, int) else None
    summary = None
    if model is not None:
        summary = {
            "version": model.version,
            "prior": model.prior,
            "records": model.records,
            "trained_at": model.trained_at,
        }
    return describe(evidence, config, model, left, right), summary


def _decision(session: Session, decision_id: int) -> MatchDecision:
    row = session.get(MatchDecision, decision_id)
    if row is None:
        raise LookupError(f"no match decision {decision_id}")
    return row


def _canonical(session: Session, entity: str, system: str, key: str) -> CanonicalRecord | None:
    return session.scalars(
        select(CanonicalRecord).where(
            CanonicalRecord.entity == entity,
            CanonicalRecord.system == system,
            CanonicalRecord.source_key == key,
        )
    ).first()


def _golden_ids(session: Session, rows: list[MatchDecision]) -> dict[tuple[str, str, str], str]:
    """(entity, system, key) -> golden id, for both records of every row."""
    refs = {(r.entity, r.left_system, r.left_key) for r in rows} | {
        (r.entity, r.right_system, r.right_key) for r in rows
    }
    found: dict[tuple[str, str, str], str] = {}
    items = sorted(refs)
    for start in range(0, len(items), 300):
        part = items[start : start + 300]
        query = select(Xref.entity, Xref.system, Xref.source_key, Xref.golden_id).where(
            tuple_(Xref.entity, Xref.system, Xref.source_key).in_(part)
        )
        found.update({(e, s, k): g for e, s, k, g in session.execute(query)})
    return found


def _golden(session: Session, golden_id: str | None) -> dict[str, Any] | None:
    if golden_id is None:
        return None
    golden = session.get(GoldenRecord, golden_id)
    if golden is None:
        return None
    return {"id": golden.id, "status": golden.status, "version": golden.version, "values": golden.values}


def _item(row: MatchDecision, goldens: dict[tuple[str, str, str], str]) -> ReviewItem:
    return ReviewItem(
        id=row.id,
        entity=row.entity,
        status=row.status,
        score=float(row.score),
        rule=row.rule,
        left_system=row.left_system,
        left_key=row.left_key,
        right_system=row.right_system,
        right_key=row.right_key,
        left_golden_id=goldens.get((row.entity, row.left_system, row.left_key)),
        right_golden_id=goldens.get((row.entity, row.right_system, row.right_key)),
        decided_by=row.decided_by,
        decided_at=iso(row.decided_at),
        run_id=row.run_id,
    )
