"""The error queue (dead letters): writes a system rejected, kept with the remote error until resolved.

A failed write is recorded once per (entity, system, operation, record): a repeated failure updates the
row (attempts, last error) and reopens it; a later success of the same write resolves it. Payloads are
what SyncHub sent (record values, never credentials); messages are the remote system's own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mdm.store.models import DeadLetter, utcnow

MESSAGE_LIMIT = 4000


def record_failure(
    session: Session,
    *,
    entity: str,
    system: str,
    operation: str,
    record_key: str,
    code: str | None,
    message: str,
    payload: dict[str, Any] | None = None,
    run_id: int | None = None,
) -> DeadLetter:
    """Add the failed write to the queue, or update (and reopen) the entry it already has."""
    now = utcnow()
    letter = _find(session, entity, system, operation, record_key)
    if letter is None:
        letter = DeadLetter(
            entity=entity,
            system=system,
            operation=operation,
            record_key=record_key,
            attempts=0,
            first_failed_at=now,
        )
        session.add(letter)
    letter.code = code
    letter.message = (message or "")[:MESSAGE_LIMIT]
    letter.payload = payload
    letter.status = "open"
    letter.attempts = (letter.attempts or 0) + 1
    letter.last_failed_at = now
    letter.resolved_at = None
    letter.run_id = run_id
    session.flush()
    return letter


def resolve(session: Session, *, entity: str, system: str, operation: str, record_key: str) -> bool:
    """Mark the write's open entry resolved (it went through); False when it had none."""
    letter = _find(session, entity, system, operation, record_key)
    if letter is None or letter.status != "open":
        return False
    letter.status = "resolved"
    letter.resolved_at = utcnow()
    return True


def open_letters(session: Session, entity: str | None = None) -> list[DeadLetter]:
    """The open entries, oldest first."""
    query = select(DeadLetter).where(DeadLetter.status == "open")
    if entity is not None:
        query = query.where(DeadLetter.entity == entity)
    return list(session.scalars(query.order_by(DeadLetter.first_failed_at, DeadLetter.id)))


def _find(session: Session, entity: str, system: str, operation: str, record_key: str) -> DeadLetter | None:
    return session.scalars(
        select(DeadLetter).where(
            DeadLetter.entity == entity,
            DeadLetter.system == system,
            DeadLetter.operation == operation,
            DeadLetter.record_key == record_key,
        )
    ).first()
