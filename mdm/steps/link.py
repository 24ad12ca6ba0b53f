"""The match step and the linking after it: records carrying an existing golden id are linked to it, the
match engine clusters the rest, and every cluster ends in one golden record with an xref row per member.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from mdm.config import Mapping as EntityMapping
from mdm.config import mapping_with
from mdm.golden import new_golden_id
from mdm.match.engine import MatchResult, RecordRef
from mdm.match.store import load_xref, match_entity
from mdm.runtime import Sessions, chunked, run_step
from mdm.stats import StepStats
from mdm.store.models import (
    LIVE,
    XREF_RECORD,
    CanonicalRecord,
    GoldenRecord,
    MatchDecision,
    Xref,
    utcnow,
)

log = logging.getLogger(__name__)

CHUNK = 500  # ids per IN list and rows per insert


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
    mapping = mapping_with(entity, mapping, "match")
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
        return StepStats.of(
            "match",
            "match",
            entity,
            stats,
            read=stats["records"],
            matched=stats["auto_linked"] + stats["linked_by_golden_id"],
            new=stats["new_golden"],
            review=stats["review"],
        )

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
