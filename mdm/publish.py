"""Publish: golden records written back to a source system, only where it differs (issue 4).

For every active golden record with at least one live, non-quarantined member, the golden values are
projected into the system's shape (``mdm.canonical.to_target``: only the fields the mapping's
``publish`` lets that system receive), plus the golden id as the system's external id (Salesforce
``SyncHub_Id__c``, SAP ``BusinessPartnerIDByExtSystem`` for partners). Then, per golden record:

- **Members in the system** (xref) are updated, each of them (within-system duplicates too). The
  projection is compared with the member's latest staged canonical values projected the same way, so
  a value only written differently ("Deutschland" vs "Germany") is not rewritten; only the differing
  fields are sent. A nested item (the partner's address, phone, tax number) that differs is sent whole
  over the keys SAP holds for it, so the connector merges it into the existing child instead of adding
  one. Salesforce's external id is unique: of several duplicate accounts only one (the one holding the
  golden id already, else the one SyncHub wrote last, else the smallest Id) carries it.
- **No member in the system**: the record is created (Salesforce: upsert on ``SyncHub_Id__c`` with the
  SAP number when known; SAP: a deep insert of the partner with its address, tax number and the
  Customer roles FLCU00/FLCU01). SAP is asked first whether a partner already holds the golden id (a run
  that died between the write and the xref capture); Salesforce's upsert on the external id finds such
  an account by itself. The new key goes into the xref (``created_by_synchub``). With
  ``read_back_created`` (SAP partners), the created records are read back, staged and their golden
  records merged again, so what SAP assigned (the customer number) reaches the CRM in the same run.
- **Options** per system in the mapping: ``create: false`` reports golden records without a record in
  the system (``not_created`` with examples) instead of creating them (products are not pushed to SAP);
  ``create_when: <boolean field>`` creates only golden records where it is true (inactive products are
  not created); ``retire_duplicates: {field: value}`` gives within-system duplicates other than the one
  carrying the golden id those values instead of the golden record (extra CRM product copies are
  deactivated). ``systems.sap.external_id`` names where SAP keeps the golden id, if anywhere.
- **Echo.** What SyncHub wrote comes back with the next extraction: the member's canonical values then
  equal the golden values and nothing is written. Until that extraction, ``publish_state`` (what was
  last written, its hash and when) stops a second write of the same values to a member whose staged
  values are older than that write.

A failed record never stops the others: it is counted and listed in the stats' ``errors`` (system,
golden id, key, code, message) and kept in the error queue (``dead_letter``: entity, system, operation
create or update, the golden id, the fields sent and the remote error); a later write of that golden
record that goes through, or finds nothing left to write, resolves it. ``only`` limits a publish to
some golden ids (a replay from the error queue). Errors that stop every record (authentication, API
budget, configuration) end the step, after the chunks already written have been recorded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import WriteOutcome, WriteRecord
from mdm.canonical import to_target
from mdm.config import mapping_with
from mdm.publish_model import Member, PublishStats, PublishWrite
from mdm.runtime import Sessions, System, aware, connector_for, run_step
from mdm.stats import StepStats
from mdm.steps.diff import differences, prune
from mdm.steps.extract import stage_payloads
from mdm.steps.merge import merge_golden_records
from mdm.steps.write import Write, apply_writes
from mdm.store.deadletter import open_keys, resolve_keys
from mdm.store.models import (
    XREF_RECORD,
    CanonicalRecord,
    GoldenRecord,
    PublishState,
    SourceRecord,
    Xref,
    utcnow,
)
from mdm.store.staging import payload_hash

if TYPE_CHECKING:
    from connectors.base import Connector
    from mdm.config import Mapping as EntityMapping

log = logging.getLogger(__name__)

WRITE_CHUNK = 1000  # records per connector call; the store is updated after each
MAX_EXAMPLES = 20  # golden records listed per report in the stats (e.g. not created)
_LINK_RULE = "publish"


def publish(
    entity: str,
    system: System,
    *,
    sessions: Sessions | None = None,
    connector: Connector | None = None,
    run_id: int | None = None,
    mapping: EntityMapping | None = None,
    only: set[str] | None = None,
) -> StepStats:
    """Write the entity's golden records to ``system`` where they differ; returns the stats.

    ``only``: just these golden ids (e.g. a replay of their failed writes); None: every one.

    Stats: created, updated, unchanged, failed (and ``errors``, at most MAX_ERRORS of them),
    recovered (creates found already done by an earlier run), echo_pending (members whose staged
    values predate SyncHub's last write of the same values), skipped_deleted (golden records whose
    members in this system were deleted there: not recreated), api_calls, seconds.
    """
    if system not in ("salesforce", "sap"):
        raise ValueError(f"system must be salesforce or sap, not {system!r}")
    mapping = mapping_with(entity, mapping, "canonical")

    def body(store: Sessions, run: int | None) -> StepStats:
        target_system = connector or connector_for(system)
        calls_before = target_system.usage.calls
        clock = time.perf_counter()
        stats = Publisher(store, mapping, system, target_system, run, only=only).run()
        stats["api_calls"] = target_system.usage.calls - calls_before
        stats["seconds"] = round(time.perf_counter() - clock, 3)
        log.info(
            "publish %s %s: %d created, %d updated, %d unchanged, %d failed (%d API calls)",
            system,
            entity,
            stats["created"],
            stats["updated"],
            stats["unchanged"],
            stats["failed"],
            stats["api_calls"],
        )
        return StepStats.of(
            "publish",
            "write",
            entity,
            stats,
            system=system,
            read=stats["golden"],
            written=stats["created"] + stats["updated"],
            unchanged=stats["unchanged"],
            failed=stats["failed"],
            waiting=stats["not_created"],
        )

    return run_step(sessions, entity, f"publish_{system}", run_id, body)


class Publisher:
    """One publish of one entity to one system (see the module docstring)."""

    def __init__(
        self,
        sessions: Sessions,
        mapping: EntityMapping,
        system: str,
        connector: Connector,
        run_id: int | None = None,
        only: set[str] | None = None,
    ) -> None:
        self.sessions = sessions
        self.only = set(only) if only is not None else None
        self.mapping = mapping
        self.entity = mapping.entity
        self.system = system
        self.connector = connector
        self.run_id = run_id
        # Where the system keeps the golden id (the mapping's external_id); None: its records carry none
        # (SAP products), and the connector refuses what would need one.
        self.id_field: str | None = mapping.source.external_id(system)
        options = mapping.publish[system]
        self.may_create: bool = options.create
        self.create_when: str | None = options.create_when
        self.read_back: bool = options.read_back_created
        self._created: dict[str, str] = {}  # golden id -> key of the record this publish created
        self.retire_values: dict[str, Any] = dict(options.retire_duplicates)
        self.stats = PublishStats(system, mapping.entity)
        self._evaluated: set[str] = set()  # golden ids the plan compared with the system

    # -- reading the store ----------------------------------------------------------------------------
    def _load(self) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, list[Member]], dict[str, Any]]:
        with self.sessions() as session:
            goldens = [
                (golden_id, values or {})
                for golden_id, values in session.execute(
                    select(GoldenRecord.id, GoldenRecord.values)
                    .where(GoldenRecord.entity == self.entity, GoldenRecord.status == "active")
                    .order_by(GoldenRecord.id)
                )
                if self.only is None or golden_id in self.only
            ]
            members: dict[str, list[Member]] = {}
            query = (
                select(
                    Xref.golden_id,
                    Xref.system,
                    Xref.source_key,
                    Xref.created_by_synchub,
                    CanonicalRecord.id,
                    CanonicalRecord.is_deleted,
                    CanonicalRecord.quarantine_reason,
                    CanonicalRecord.carried_golden_id,
                    CanonicalRecord.updated_at,
                )
                .outerjoin(
                    CanonicalRecord,
                    XREF_RECORD,
                )
                .where(Xref.entity == self.entity)
                .order_by(Xref.golden_id, Xref.system, Xref.source_key)
            )
            # Canonical values only of this system's records: the others' flags are enough here.
            values = dict(
                session.execute(
                    select(CanonicalRecord.source_key, CanonicalRecord.values).where(
                        CanonicalRecord.system == self.system, CanonicalRecord.entity == self.entity
                    )
                ).all()
            )
            for golden_id, sys, key, by_us, row_id, deleted, reason, carried, updated in session.execute(
                query
            ):
                members.setdefault(golden_id, []).append(
                    Member(
                        system=sys,
                        key=key,
                        values=values.get(key) if sys == self.system else None,
                        staged=row_id is not None,
                        is_deleted=bool(deleted),
                        quarantined=reason is not None,
                        carried=carried,
                        updated_at=aware(updated),
                        created_by_synchub=bool(by_us),
                    )
                )
            states = {
                state.golden_id: state
                for state in session.scalars(select(PublishState).where(PublishState.system == self.system))
            }
            session.expunge_all()
        return goldens, members, states

    def _raw_payloads(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The staged raw payloads of these records of the system: SAP's child keys live there."""
        found: dict[str, dict[str, Any]] = {}
        with self.sessions() as session:
            for start in range(0, len(keys), 500):
                found.update(
                    session.execute(
                        select(SourceRecord.source_key, SourceRecord.payload).where(
                            SourceRecord.system == self.system,
                            SourceRecord.entity == self.entity,
                            SourceRecord.source_key.in_(keys[start : start + 500]),
                        )
                    ).all()
                )
        return found

    # -- planning -------------------------------------------------------------------------------------
    def project(
        self,
        golden_id: str,
        values: Mapping[str, Any],
        members: Sequence[Member],
        *,
        include_nulls: bool = False,
    ) -> dict[str, Any]:
        """The golden values in the system's shape, with the golden id as external id.

        ``include_nulls`` keeps the fields the golden record has no value for, as None: an update
        clears them (an address wins as a whole, so the losing record's region goes too). Nested items
        with no value at all are dropped either way.
        """
        values = dict(values)
        target = prune(to_target(self.mapping, self.system, values, include_nulls=include_nulls))  # type: ignore[arg-type]
        if self.id_field:
            target[self.id_field] = golden_id
        return target

    def _plan(
        self,
        goldens: list[tuple[str, dict[str, Any]]],
        members: dict[str, list[Member]],
        states: dict[str, PublishState],
    ) -> tuple[list[PublishWrite], list[PublishWrite]]:
        """Updates of members that differ, and creates (golden records with no member in the system)."""
        updates: list[PublishWrite] = []
        creates: list[PublishWrite] = []
        for golden_id, values in goldens:
            group = members.get(golden_id, [])
            if not any(not m.is_deleted and not m.quarantined for m in group):
                continue
            self.stats.golden += 1
            target = self.project(golden_id, values, group, include_nulls=True)
            here = [m for m in group if m.system == self.system]
            live = [m for m in here if not m.is_deleted]
            if here and not live:
                # Deleted in this system by someone: SyncHub does not bring it back.
                self.stats.counts["skipped_deleted"] += 1
                continue
            self._evaluated.add(golden_id)
            if not live:
                reason = self._no_create_reason(values)
                if reason is not None:
                    self._not_created(golden_id, group, reason)
                    continue
                # Sent without the empty fields; remembered as the full projection the diff uses.
                creates.append(PublishWrite(golden_id, target, self.project(golden_id, values, group)))
                continue
            state = states.get(golden_id)
            primary = self._primary(golden_id, live, state, target)
            digest = payload_hash(target)
            for member in live:
                retire = bool(self.retire_values) and primary is not None and member.key != primary
                want = dict(self.retire_values) if retire else dict(target)
                if primary is not None and member.key != primary:
                    want.pop(self.id_field, None)  # Salesforce: one account per external id value
                have = to_target(self.mapping, self.system, member.values or {})  # type: ignore[arg-type]
                changes = differences({k: v for k, v in want.items() if k != self.id_field}, have, raw=None)
                if self.id_field in want and member.carried != golden_id:
                    changes[self.id_field] = golden_id
                if not changes:
                    self.stats.counts["unchanged"] += 1
                    continue
                if retire:
                    # Its echo is the next extraction, which runs before the next publish.
                    updates.append(PublishWrite(golden_id, target, want, member=member.key, retire=True))
                    continue
                if state is not None and state.values_hash == digest and _staged_before(member, state):
                    # SyncHub wrote exactly this after the member was last staged (or created it and
                    # it was not extracted since): its echo is pending.
                    self.stats.counts["echo_pending"] += 1
                    self.stats.counts["unchanged"] += 1
                    continue
                updates.append(PublishWrite(golden_id, target, want, member=member.key))
        return updates, creates

    def _no_create_reason(self, values: Mapping[str, Any]) -> str | None:
        """Why a golden record with no record in this system is not created there, or None."""
        if not self.may_create:
            return f"the mapping does not create {self.entity} records in {self.system} (create: false)"
        if self.create_when and values.get(self.create_when) is not True:
            return f"{self.create_when} is not true (create_when: {self.create_when})"
        return None

    def _not_created(self, golden_id: str, group: Sequence[Member], reason: str) -> None:
        self.stats.counts["not_created"] += 1
        if len(self.stats.not_created) < MAX_EXAMPLES:
            self.stats.not_created.append(
                {
                    "golden_id": golden_id,
                    "records": [f"{m.system}:{m.key}" for m in group if not m.is_deleted],
                    "reason": reason,
                }
            )

    def _primary(
        self, golden_id: str, live: Sequence[Member], state: PublishState | None, target: Mapping[str, Any]
    ) -> str | None:
        """The one member that carries the golden id where the external id is unique (Salesforce) or
        duplicates are retired; None: every member carries it (SAP partners).

        The member that carries it already, else the one SyncHub wrote last, else one SyncHub created,
        else the one closest to the golden record (a typo'd copy loses to the original), else the
        smallest key."""
        if (self.system != "salesforce" and not self.retire_values) or len(live) == 1:
            return None
        for member in live:
            if member.carried == golden_id:
                return member.key
        keys = {m.key for m in live}
        if state is not None and state.remote_key in keys:
            return state.remote_key
        by_us = sorted(m.key for m in live if m.created_by_synchub)
        if by_us:
            return by_us[0]
        want = {k: v for k, v in target.items() if k != self.id_field}

        def distance(member: Member) -> tuple[int, str]:
            have = to_target(self.mapping, self.system, member.values or {})  # type: ignore[arg-type]
            return len(differences(want, have, raw=None)), member.key

        return min(live, key=distance).key

    def _records(self, writes: Sequence[PublishWrite], members: dict[str, list[Member]]) -> list[WriteRecord]:
        """Connector records: updates carry only the differing fields over the staged raw payload."""
        keys = [w.member for w in writes if w.member is not None]
        raw = self._raw_payloads(keys) if keys else {}
        by_key = {
            m.key: m
            for golden_id in {w.golden_id for w in writes if w.member is not None}
            for m in members.get(golden_id, [])
            if m.system == self.system
        }
        records = []
        for write in writes:
            if write.member is None:
                records.append(WriteRecord(write.golden_id, write.fields))
                continue
            if write.found:
                records.append(WriteRecord(write.golden_id, write.fields, remote_key=write.member))
                continue
            member = by_key[write.member]
            payload = raw.get(write.member) or {}
            have = to_target(self.mapping, self.system, member.values or {})  # type: ignore[arg-type]
            want = {k: v for k, v in write.fields.items() if k != self.id_field}
            fields = differences(want, have, raw=payload)
            if self.id_field in write.fields and member.carried != write.golden_id:
                fields[self.id_field] = write.golden_id
            records.append(
                WriteRecord(write.golden_id, fields, remote_key=write.member, expected=payload or None)
            )
        return records

    # -- running --------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        goldens, members, states = self._load()
        updates, creates = self._plan(goldens, members, states)
        if creates and self.system == "sap":
            self._find_earlier_creates(creates)
        writes = updates + creates

        def build(chunk: list[PublishWrite]) -> list[Write]:
            records = self._records(chunk, members)
            return [
                Write(
                    write.golden_id,
                    record,
                    "create" if write.member is None or write.found else "update",
                    item=write,
                )
                for write, record in zip(chunk, records, strict=True)
            ]

        apply_writes(
            self.connector,
            self.mapping.source,
            writes,
            system=self.system,
            chunk_size=WRITE_CHUNK,
            build=build,
            sessions=self.sessions,
            run_id=self.run_id,
            queue=True,
            after_chunk=lambda session, done: self._record(session, done, states),
        )
        self._settle_letters({w.golden_id for w in writes})
        if self.read_back and self._created:
            self._read_back()
        return self.stats.as_dict()

    def _read_back(self) -> None:
        """Stage the records this publish created as the system holds them now, and merge their golden
        records again: what the system assigned itself (SAP numbers a new partner's customer) reaches
        the next publish of this run, and the next extraction finds them unchanged."""
        keys = sorted(set(self._created.values()))
        records = self.connector.read_keys(self.mapping.source, keys)
        stage_payloads(
            self.entity,
            self.system,
            records,
            sessions=self.sessions,
            run_id=self.run_id,
            mapping=self.mapping,
        )
        merge_golden_records(self.sessions, self.mapping, self.run_id, only=set(self._created))
        self.stats.counts["read_back"] += len(records)
        missing = len(keys) - len(records)
        if missing:
            log.warning(
                "publish %s %s: %d created records could not be read back; the next extraction stages them",
                self.system,
                self.entity,
                missing,
            )

    def _settle_letters(self, planned: set[str]) -> None:
        """Resolve the error-queue entries of golden records this run found nothing to write for (the
        system holds their values now, e.g. fixed there by hand)."""
        with self.sessions.begin() as session:
            waiting = open_keys(session, entity=self.entity, system=self.system)
            settled = (waiting & self._evaluated) - planned
            if settled:
                resolve_keys(session, entity=self.entity, system=self.system, record_keys=settled)

    def _find_earlier_creates(self, creates: list[PublishWrite]) -> None:
        """SAP partners that already hold a golden id to create: an earlier run wrote them, then died."""
        found = self.connector.keys_for_external_ids(self.mapping.source, [w.golden_id for w in creates])
        for write in creates:
            key = found.get(write.golden_id)
            if key is not None:
                write.member, write.found = key, True
        if found:
            log.warning(
                "publish %s %s: %d records to create were already there (an earlier run); linking them",
                self.system,
                self.entity,
                len(found),
            )

    def _record(self, session: Session, done: list[tuple[Write, WriteOutcome]], states: dict) -> None:
        """In the chunk's transaction (the error queue is the write engine's): new keys into the xref,
        what was written into publish_state, the outcomes counted."""
        failed_goldens = {w.key for w, o in done if o.status == "failed"}
        now = utcnow()
        linked = {
            key
            for (key,) in session.execute(
                select(Xref.source_key).where(
                    Xref.system == self.system,
                    Xref.entity == self.entity,
                    Xref.source_key.in_([o.remote_key for _, o in done if o.remote_key]),
                )
            )
        }
        written: dict[str, tuple[PublishWrite, str | None]] = {}  # golden id -> (write, key to remember)
        for sent, outcome in done:
            write: PublishWrite = sent.item
            if outcome.status == "failed":
                self.stats.fail(write, outcome.error_code or "UNKNOWN", outcome.error_message or "")
                continue
            creating = write.member is None or write.found
            if creating:
                if write.found:
                    self.stats.counts["recovered"] += 1
                elif outcome.status == "updated":  # Salesforce's upsert found it: an earlier run
                    self.stats.counts["recovered"] += 1
                else:
                    self.stats.counts["created"] += 1
                key = outcome.remote_key or write.member
                if key:
                    self._created[write.golden_id] = key
                if key and key not in linked:
                    session.add(
                        Xref(
                            golden_id=write.golden_id,
                            system=self.system,
                            entity=self.entity,
                            source_key=key,
                            created_by_synchub=True,
                            link_rule=_LINK_RULE,
                            linked_at=now,
                        )
                    )
                    linked.add(key)
            else:
                self.stats.counts[outcome.status if outcome.status != "created" else "updated"] += 1
                key = write.member
            if write.retire:
                self.stats.counts["duplicates_retired"] += 1
                continue  # the golden record's own write state is the primary's
            if write.golden_id not in failed_goldens and outcome.status != "unchanged":
                # The key remembered is the one holding the golden id (Salesforce: only one can).
                if write.golden_id not in written or self.id_field in write.fields:
                    written[write.golden_id] = (write, key)
        for golden_id, (write, key) in written.items():
            state = session.get(PublishState, (golden_id, self.system))
            if state is None:
                state = PublishState(golden_id=golden_id, system=self.system)
                session.add(state)
            state.remote_key = key
            state.values = write.target
            state.values_hash = payload_hash(write.target)
            state.written_at = now
            state.run_id = self.run_id
            states[golden_id] = state
        session.flush()
        session.expunge_all()


def _staged_before(member: Member, state: PublishState) -> bool:
    """Whether the member's staged values predate SyncHub's last write (never staged: SyncHub made it)."""
    written = aware(state.written_at)
    if not member.staged or member.updated_at is None:
        return True
    return written is not None and member.updated_at <= written
