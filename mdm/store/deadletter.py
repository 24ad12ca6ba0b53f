"""The error queue (dead letters): writes a system rejected, kept with the remote error until resolved.

A failed write is recorded once per (entity, system, operation, record): a repeated failure updates the
row (attempts, last error) and reopens it; a later success of the same write resolves it. An entry an
admin discarded stays discarded while the same payload keeps failing (it is the problem they accepted);
a different payload reopens it. Payloads are what SyncHub sent (record values, never credentials);
messages are the remote system's own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
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
    # As JSON keeps it (decimals and dates as text), so a repeat compares equal to what was stored.
    payload = json.loads(json.dumps(payload, default=str)) if payload is not None else None
    letter = _find(session, entity, system, operation, record_key)
    keep_discarded = letter is not None and letter.status == "discarded" and letter.payload == payload
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
    letter.attempts = (letter.attempts or 0) + 1
    letter.last_failed_at = now
    letter.run_id = run_id
    if not keep_discarded:
        letter.status = "open"
        letter.resolved_at = None
        letter.resolved_by = None
    session.flush()
    return letter


def resolve(
    session: Session,
    *,
    entity: str,
    system: str,
    operation: str,
    record_key: str,
    by: str = "synchub",
) -> bool:
    """Mark the write's open entry resolved (it went through, or is no longer needed); False when it had
    none. ``by``: who resolved it ("synchub" for a scheduled run, the admin for a replay)."""
    letter = _find(session, entity, system, operation, record_key)
    if letter is None or letter.status != "open":
        return False
    letter.status = "resolved"
    letter.resolved_at = utcnow()
    letter.resolved_by = by
    return True


def resolve_keys(
    session: Session, *, entity: str, system: str, record_keys: Iterable[str], by: str = "synchub"
) -> int:
    """Resolve the open entries of these records, whatever the operation; returns how many."""
    keys = sorted(set(record_keys))
    done = 0
    now = utcnow()
    for start in range(0, len(keys), 500):
        letters = session.scalars(
            select(DeadLetter).where(
                DeadLetter.entity == entity,
                DeadLetter.system == system,
                DeadLetter.status == "open",
                DeadLetter.record_key.in_(keys[start : start + 500]),
            )
        )
        for letter in letters:
            letter.status, letter.resolved_at, letter.resolved_by = "resolved", now, by
            done += 1
    return done


def open_keys(session: Session, *, entity: str, system: str) -> set[str]:
    """The record keys with an open entry for this entity and system."""
    query = select(DeadLetter.record_key).where(
        DeadLetter.entity == entity, DeadLetter.system == system, DeadLetter.status == "open"
    )
    return set(session.scalars(query))


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
