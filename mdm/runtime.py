"""What every step of every entity runs on: the store's sessions, the run log around a step, the
connector for a system, and the time and value helpers the steps share.

A step is a function ``body(sessions, run_id) -> StepStats``; ``run_step`` gives it the store named by
``SYNCHUB_DATABASE_URL`` when the caller passes no sessions, and logs a run of its own (with the stats
or the error) when the caller passes no ``run_id``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from more_itertools import chunked
from sqlalchemy.orm import Session, sessionmaker

from mdm.stats import StepStats
from mdm.store.db import make_engine, session_factory
from mdm.store.models import Run
from mdm.store.runlog import finish_run, start_run

if TYPE_CHECKING:
    from connectors.base import Connector

__all__ = [
    "DEFAULT_CONN_IDS",
    "SYSTEMS",
    "Sessions",
    "System",
    "aware",
    "chunked",
    "connector_for",
    "iso",
    "open_store",
    "run_step",
    "same_value",
]

System = Literal["salesforce", "sap"]
SYSTEMS: tuple[System, ...] = ("salesforce", "sap")
# The Airflow connections SyncHub reads by default (README, "Configuration").
DEFAULT_CONN_IDS = {"salesforce": "synchub_crm", "sap": "synchub_erp"}

Sessions = sessionmaker[Session]


@contextmanager
def open_store(sessions: Sessions | None) -> Iterator[Sessions]:
    """The caller's sessions, or the store named by ``SYNCHUB_DATABASE_URL`` for the block's duration."""
    if sessions is not None:
        yield sessions
        return
    engine = make_engine()
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()


def run_step(
    sessions: Sessions | None,
    entity: str,
    step: str,
    run_id: int | None,
    body: Callable[[Sessions, int | None], StepStats],
) -> StepStats:
    """Run one step; without a caller's ``run_id`` the step logs a run of its own."""
    with open_store(sessions) as sessions_:
        if run_id is not None:
            return body(sessions_, run_id)
        with sessions_.begin() as session:
            own = start_run(session, f"synchub_{entity}.{step}", entity).id
        try:
            stats = body(sessions_, own)
        except BaseException as exc:
            with sessions_.begin() as session:
                run = session.get(Run, own)
                if run is not None:
                    finish_run(session, run, "failed", error=f"{type(exc).__name__}: {exc}"[:2000])
            raise
        with sessions_.begin() as session:
            run = session.get(Run, own)
            if run is not None:
                finish_run(session, run, "success", stats=stats.to_json())
        return stats


def connector_for(system: str) -> Connector:
    """The connector of a system over its default Airflow connection (``synchub_crm``, ``synchub_erp``)."""
    if system == "salesforce":
        from connectors.salesforce import SalesforceConnector

        return SalesforceConnector.from_airflow(DEFAULT_CONN_IDS[system])
    if system == "sap":
        from connectors.sap import SapConnector

        return SapConnector.from_airflow(DEFAULT_CONN_IDS[system])
    raise ValueError(f"system must be one of {', '.join(SYSTEMS)}, not {system!r}")


def aware(stamp: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands datetimes back naive; every stamp the store keeps is UTC."""
    if stamp is not None and stamp.tzinfo is None:
        return stamp.replace(tzinfo=dt.UTC)
    return stamp


def iso(stamp: dt.datetime | None) -> str | None:
    """A stored stamp as ISO 8601 in UTC (None stays None)."""
    stamp = aware(stamp)
    return stamp.isoformat() if stamp else None


def same_value(a: Any, b: Any) -> bool:
    """Equal, counting None and "" as the same empty value (what both systems hand back for a blank)."""
    if a in (None, "") and b in (None, ""):
        return True
    return a == b
