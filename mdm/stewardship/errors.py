"""The error queue: writes a system rejected (``dead_letter``), shown, replayed after a fix, or discarded.

Every entity's failed writes land here: customers and products from ``mdm.publish`` (record key: the
golden id), prices from ``mdm.prices`` (the entry's SyncHub id, or the pricebook key), orders from
``mdm.orders`` (the CRM order id). A replay runs the failed write again now, through the real
connectors, with the same code a scheduled run uses (it is idempotent): customer and product letters
publish those golden records to that system again, price letters run the price sync, order creates
send those CRM orders to SAP again (even when the CRM order did not change), order status updates
write SAP's status to the CRM again. The step itself resolves a letter whose write went through (or is
no longer needed) and records the new error when it fails again; a replay then names its actor as who
resolved it. Every replay and discard is written to the audit log.

``list_errors``, ``get_error`` and ``discard`` work in the caller's session and flush, never commit
(run ``discard`` inside ``sessions.begin()``); ``replay`` takes the session factory, because the steps
it runs commit as they go.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mdm.entities import Replay, entity
from mdm.runtime import connector_for, iso
from mdm.stewardship import audit
from mdm.store.models import DeadLetter, utcnow

if TYPE_CHECKING:
    from connectors.base import Connector

log = logging.getLogger(__name__)

STATUSES = ("open", "resolved", "discarded")
ReplayStatus = Literal["resolved", "failing"]


@dataclass
class ErrorItem:
    """One failed write: where, what was sent, the remote error, and where it stands."""

    id: int
    entity: str
    system: str
    operation: str  # create, update, deactivate (prices), pricebook (prices)
    record_key: str  # golden id, price entry id, pricebook key or CRM order id
    code: str | None  # the remote error code
    message: str  # the remote error message
    payload: dict[str, Any] | None  # what SyncHub sent
    attempts: int
    first_failed_at: str | None  # ISO 8601, UTC
    last_failed_at: str | None
    resolved_at: str | None
    status: str  # open, resolved, discarded
    resolved_by: str | None  # who replayed or discarded it, or "synchub" (a scheduled run)
    note: str | None  # e.g. why it was discarded
    run_id: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReplayResult:
    """What one letter's replay did: resolved, or still failing with the new remote error."""

    letter_id: int
    entity: str
    system: str
    operation: str
    record_key: str
    status: ReplayStatus
    code: str | None = None
    message: str | None = None  # the remote message (or the step's error) when still failing

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_errors(
    session: Session, entity: str | None = None, status: str | None = "open", limit: int = 100
) -> list[ErrorItem]:
    """Letters with ``status`` (None: any), most recently failed first."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    query = select(DeadLetter)
    if entity is not None:
        query = query.where(DeadLetter.entity == entity)
    if status is not None:
        query = query.where(DeadLetter.status == status)
    query = query.order_by(DeadLetter.last_failed_at.desc(), DeadLetter.id.desc()).limit(limit)
    return [_item(letter) for letter in session.scalars(query)]


def get_error(session: Session, letter_id: int) -> ErrorItem:
    """The letter ``letter_id``; LookupError if there is none."""
    return _item(_letter(session, letter_id))


def discard(session: Session, letter_id: int, reason: str, actor: str) -> ErrorItem:
    """Give up on an open letter, with the reason and who decided; the same write failing again with the
    same payload keeps it discarded. LookupError: unknown id; ValueError: no reason, or not open."""
    if not reason or not reason.strip():
        raise ValueError("a discard needs a reason")
    letter = _letter(session, letter_id)
    if letter.status != "open":
        raise ValueError(f"dead letter {letter_id} is {letter.status}, not open")
    letter.status = "discarded"
    letter.note = reason.strip()
    letter.resolved_by = actor
    letter.resolved_at = utcnow()
    session.flush()
    audit.record(session, actor, "errors.discard", f"dead_letter:{letter_id}", _audit_details(letter))
    return _item(letter)


def replay(
    sessions: sessionmaker[Session],
    letter_ids: Sequence[int] | None,
    actor: str,
    *,
    connectors: Mapping[str, Connector] | None = None,
) -> list[ReplayResult]:
    """Run the failed writes of these open letters again now (None: every open letter), as ``actor``.

    ``connectors``: system -> connector to use (default: ``mdm.runtime.connector_for``, on the
    Airflow connections). LookupError: an unknown id; ValueError: a letter that is not open. A step that
    fails as a whole (e.g. the system is unreachable) makes its letters still failing, with its error.
    """
    with sessions() as session:
        if letter_ids is None:
            letters = list(
                session.scalars(select(DeadLetter).where(DeadLetter.status == "open").order_by(DeadLetter.id))
            )
        else:
            letters = []
            for letter_id in dict.fromkeys(letter_ids):
                letter = _letter(session, letter_id)
                if letter.status != "open":
                    raise ValueError(
                        f"dead letter {letter_id} is {letter.status}, not open: nothing to replay"
                    )
                letters.append(letter)
        session.expunge_all()
    built: dict[str, Connector] = dict(connectors or {})

    def connector(system: str) -> Connector:
        if system not in built:
            built[system] = connector_for(system)
        return built[system]

    groups: dict[tuple[str, str], list[DeadLetter]] = defaultdict(list)
    for letter in letters:
        groups[(letter.entity, letter.system)].append(letter)
    step_errors: dict[int, str] = {}
    for (name, system), group in groups.items():
        keys: dict[str, set[str]] = defaultdict(set)
        for letter in group:
            keys[letter.operation].add(letter.record_key)
        try:
            declared = entity(name)
            declared.replay(Replay(sessions, system, dict(keys), connector(system)))
        except Exception as exc:  # the step failed as a whole: its letters are still failing
            log.warning("replay of %s writes to %s failed: %s", name, system, exc)
            for letter in group:
                step_errors[letter.id] = f"{type(exc).__name__}: {exc}"[:2000]
    results: list[ReplayResult] = []
    with sessions.begin() as session:
        for before in letters:
            letter = session.get(DeadLetter, before.id)
            if letter is None:  # pragma: no cover - letters are never deleted
                continue
            if letter.status == "resolved" and before.id not in step_errors:
                letter.resolved_by = actor
                result = ReplayResult(
                    letter.id, letter.entity, letter.system, letter.operation, letter.record_key, "resolved"
                )
            else:
                if letter.status == "resolved":  # resolved by the step, yet it failed afterwards
                    letter.resolved_by = actor
                result = ReplayResult(
                    letter.id,
                    letter.entity,
                    letter.system,
                    letter.operation,
                    letter.record_key,
                    "resolved" if letter.status == "resolved" else "failing",
                    code=None if before.id in step_errors else letter.code,
                    message=step_errors.get(before.id, letter.message),
                )
            audit.record(
                session,
                actor,
                "errors.replay",
                f"dead_letter:{letter.id}",
                {**_audit_details(letter), "result": result.status, "message": result.message},
            )
            results.append(result)
    return results


def _letter(session: Session, letter_id: int) -> DeadLetter:
    letter = session.get(DeadLetter, letter_id)
    if letter is None:
        raise LookupError(f"no dead letter {letter_id}")
    return letter


def _audit_details(letter: DeadLetter) -> dict[str, Any]:
    return {
        "entity": letter.entity,
        "system": letter.system,
        "operation": letter.operation,
        "record_key": letter.record_key,
        "code": letter.code,
        "note": letter.note,
    }


def _item(letter: DeadLetter) -> ErrorItem:
    return ErrorItem(
        id=letter.id,
        entity=letter.entity,
        system=letter.system,
        operation=letter.operation,
        record_key=letter.record_key,
        code=letter.code,
        message=letter.message,
        payload=letter.payload,
        attempts=letter.attempts,
        first_failed_at=iso(letter.first_failed_at),
        last_failed_at=iso(letter.last_failed_at),
        resolved_at=iso(letter.resolved_at),
        status=letter.status,
        resolved_by=letter.resolved_by,
        note=letter.note,
        run_id=letter.run_id,
    )
