"""The one write loop: records planned by publish, the price sync and the order sync, sent to a system.

A planner decides what to write (``Write``: the connector's ``WriteRecord``, the key the error queue knows
it by, the operation); ``apply_writes`` sends them in chunks through the connector's ``write_batch``,
checks that every record got its outcome, and - with ``queue`` - records each refused write in the error
queue and resolves the entries of the keys whose writes went through, in one transaction per chunk
together with the planner's own bookkeeping (``after_chunk``: its cross-reference, what it wrote for its
echo check). A chunk's outcomes are stored before the next chunk is sent, so a killed run leaves at most
one chunk the store does not know about, which the planners find again (``keys_for_external_ids``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mdm.runtime import Sessions, chunked
from mdm.store.deadletter import record_failure, resolve_keys

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connectors.base import Connector, EntitySource, WriteOutcome, WriteRecord

MAX_ERRORS = 500  # refused writes listed in a report (all are counted)


@dataclass
class Write:
    """One record to send, and how the error queue and the planner know it."""

    key: str  # the error queue's record key: a golden id, an entry's SyncHub id, a CRM order id
    record: WriteRecord
    operation: str = "update"  # create, update, deactivate ... as the error queue keeps it
    item: Any = None  # the planner's own plan of this write, handed back with its outcome
    payload: Mapping[str, Any] | None = None  # kept with a refusal (default: the record's fields)


@dataclass
class WriteReport:
    """The outcome of every write, in order, and their counts by status."""

    done: list[tuple[Write, WriteOutcome]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, write: Write, outcome: WriteOutcome) -> None:
        self.done.append((write, outcome))
        self.counts[outcome.status] += 1
        if outcome.status == "failed" and len(self.errors) < MAX_ERRORS:
            self.errors.append(
                {"key": write.key, "code": outcome.error_code, "message": outcome.error_message}
            )


def apply_writes(
    connector: Connector,
    source: EntitySource,
    writes: Sequence[Any],
    *,
    system: str,
    chunk_size: int,
    build: Callable[[list[Any]], list[Write]] | None = None,
    sessions: Sessions | None = None,
    run_id: int | None = None,
    queue: bool = False,
    after_chunk: Callable[[Session, list[tuple[Write, WriteOutcome]]], None] | None = None,
) -> WriteReport:
    """Send ``writes`` to ``system`` in chunks of ``chunk_size``; see the module docstring.

    ``build``: turns a chunk of the planner's items into ``Write`` s just before it is sent (what it reads
    for them, such as the system's current payloads, is read one chunk at a time); without it the items
    are ``Write`` s. ``queue`` (needs ``sessions``): refused writes into the error queue, the entries of
    keys written in full out of it. ``after_chunk(session, [(write, outcome), ...])`` runs in the same
    transaction.
    """
    if (queue or after_chunk is not None) and sessions is None:
        raise ValueError("apply_writes: the error queue and after_chunk need the store's sessions")
    report = WriteReport()
    for items in chunked(writes, chunk_size):
        part: list[Write] = build(items) if build is not None else items
        outcomes = connector.write_batch(source, [w.record for w in part])
        if len(outcomes) != len(part):
            raise RuntimeError(f"{system} returned {len(outcomes)} outcomes for {len(part)} records")
        pairs = list(zip(part, outcomes, strict=True))
        if sessions is not None and (queue or after_chunk is not None):
            with sessions.begin() as session:
                if queue:
                    _queue(session, source.entity, system, pairs, run_id)
                if after_chunk is not None:
                    after_chunk(session, pairs)
        for write, outcome in pairs:
            report.add(write, outcome)
    return report


def _queue(
    session: Session, entity: str, system: str, pairs: list[tuple[Write, WriteOutcome]], run_id: int | None
) -> None:
    failed = set()
    for write, outcome in pairs:
        if outcome.status != "failed" or write.key in failed:
            # One entry per record key and attempt: two copies of one golden record in a system (both
            # refused for the same value) are one failed write to replay, not two attempts.
            continue
        failed.add(write.key)
        record_failure(
            session,
            entity=entity,
            system=system,
            operation=write.operation,
            record_key=write.key,
            code=outcome.error_code or "UNKNOWN",
            message=outcome.error_message or "",
            payload=dict(write.payload if write.payload is not None else write.record.fields),
            run_id=run_id,
        )
    written = {write.key for write, _ in pairs} - failed
    if written:
        resolve_keys(session, entity=entity, system=system, record_keys=written)
