"""The audit log: who did what, on what, when (review decisions, replays, discards)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mdm.store.models import AuditEntry, utcnow

ACTOR_LIMIT = 200


def record(
    session: Session, actor: str, action: str, target: str, details: dict[str, Any] | None = None
) -> AuditEntry:
    """Add an entry (flushed, not committed: it belongs to the caller's transaction with the action)."""
    if not actor or not actor.strip():
        raise ValueError("an action needs an actor (who took it)")
    entry = AuditEntry(
        actor=actor.strip()[:ACTOR_LIMIT], action=action, target=target, details=details, at=utcnow()
    )
    session.add(entry)
    session.flush()
    return entry


def recent(session: Session, limit: int = 100) -> list[AuditEntry]:
    """The newest entries first."""
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    return list(session.scalars(query))
