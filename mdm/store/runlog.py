"""The run log and watermarks: what each job did, and how far extraction has safely got."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from mdm.store.models import Run, Watermark, utcnow

RunStatus = Literal["running", "success", "failed"]


def start_run(
    session: Session, job: str, entity: str | None = None, external_run_id: str | None = None
) -> Run:
    run = Run(job=job, entity=entity, external_run_id=external_run_id, status="running", stats={})
    session.add(run)
    session.flush()
    return run


def finish_run(
    session: Session,
    run: Run,
    status: RunStatus,
    stats: dict[str, Any] | None = None,
    error: str | None = None,
) -> Run:
    run.status = status
    run.finished_at = utcnow()
    if stats is not None:
        run.stats = stats
    run.error = error
    session.flush()
    return run


def recent_runs(session: Session, job: str | None = None, limit: int = 20) -> list[Run]:
    query = select(Run).order_by(Run.started_at.desc(), Run.id.desc()).limit(limit)
    if job:
        query = query.where(Run.job == job)
    return list(session.scalars(query))


def get_watermark(session: Session, system: str, entity: str) -> dt.datetime | None:
    mark = session.get(Watermark, (system, entity))
    if mark is None:
        return None
    value = mark.value
    # SQLite hands back naive datetimes; every stamp the store writes is UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def advance_watermark(
    session: Session,
    system: str,
    entity: str,
    stamp_field: str,
    value: dt.datetime,
    run_id: int | None = None,
) -> dt.datetime:
    """Move the watermark forward to ``value``; it never moves back. Returns the stored value.

    Call it only after the records up to ``value`` are committed to the store.
    """
    if value.tzinfo is None:
        raise ValueError("watermarks are timezone-aware (UTC) datetimes")
    mark = session.get(Watermark, (system, entity))
    if mark is None:
        mark = Watermark(system=system, entity=entity, stamp_field=stamp_field, value=value, run_id=run_id)
        session.add(mark)
    else:
        current = get_watermark(session, system, entity)
        if current is None or value > current:
            mark.value = value
            mark.run_id = run_id
        mark.stamp_field = stamp_field
        mark.updated_at = utcnow()
    session.flush()
    return get_watermark(session, system, entity)  # type: ignore[return-value]
