"""Writes: upserts on the external id (sObject Collections; Bulk API 2.0 ingest from a threshold on)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from connectors.base import (
    EntitySource,
    WriteOutcome,
    WriteRecord,
)
from connectors.errors import (
    RETRIABLE_CODES,
    AuthError,
    BudgetExhausted,
    ConfigError,
    RunFatalError,
)
from connectors.salesforce.settings import SYSTEM, log
from connectors.salesforce.soql import soql_name
from connectors.salesforce.values import (
    Pending,
    bulk_error,
    cell_of,
    csv_dicts,
    csv_row,
    failed_outcome,
    fields_to_send,
    json_value,
    same_fields,
    type_problem,
)


class Writes:
    """Records to upserts and updates by Id, one outcome per record in order."""

    # -- writes -----------------------------------------------------------------------------------
    def write_batch(self, entity: EntitySource, records: Sequence[WriteRecord]) -> list[WriteOutcome]:
        """Upsert on the external id; one outcome per record, in order. Unchanged records cost nothing.

        A record whose ``remote_key`` (Id) is known is updated by its Id instead: it may not carry the
        external id yet (an account SyncHub links for the first time), and only one of several
        duplicates can hold a unique external id value. Below the bulk threshold that is the sObject
        Collections *update* resource: collections upsert keys on external ids only ("Only external
        ids are supported. Don't use record ids.", REST API Developer Guide, "Upsert Records Using
        sObject Collections"); a Bulk API 2.0 upsert job may name ``Id`` ("does not match an External
        ID, Salesforce Id, or indexed field" is its refusal of anything else).
        """
        src = entity.salesforce
        obj = soql_name(src.object)
        outcomes: list[WriteOutcome | None] = [None] * len(records)
        if not src.external_id:
            raise ConfigError(
                "the mapping names no external id to upsert on", system=SYSTEM, operation="write", entity=obj
            )
        ext = soql_name(src.external_id)
        info = (
            self.describe(obj)
            if any(r.expected is None or not same_fields(r.fields, r.expected) for r in records)
            else None
        )
        pending: list[Pending] = []
        for i, rec in enumerate(records):
            if rec.expected is not None and same_fields(rec.fields, rec.expected):
                outcomes[i] = WriteOutcome(rec.key, "unchanged", remote_key=rec.remote_key)
                continue
            assert info is not None
            if rec.remote_key is not None:
                send, problem = fields_to_send(info, rec)
                problem = problem or type_problem(info, rec.fields)
                if problem:
                    outcomes[i] = failed_outcome(rec, "INVALID_FIELD_FOR_INSERT_UPDATE", problem)
                    continue
                send = {k: v for k, v in send.items() if k.lower() != "id"}
                pending.append(Pending(i, rec, str(rec.remote_key), {"Id": rec.remote_key, **send}, "Id"))
                continue
            value = next((v for k, v in rec.fields.items() if k.lower() == ext.lower()), None)
            if value is None or str(value).strip() == "":
                outcomes[i] = failed_outcome(
                    rec,
                    "MISSING_EXTERNAL_ID",
                    f"{obj}.{ext} is required to upsert but the record has no value",
                )
                continue
            problem = type_problem(info, rec.fields)
            if problem:
                outcomes[i] = failed_outcome(rec, "INVALID_TYPE_ON_FIELD_IN_RECORD", problem)
                continue
            send, problem = fields_to_send(info, rec)
            if problem:
                outcomes[i] = failed_outcome(rec, "INVALID_FIELD_FOR_INSERT_UPDATE", problem)
                continue
            pending.append(Pending(i, rec, str(value), send, ext))
        counts: dict[tuple[str, str], int] = {}
        for item in pending:
            ident = (item.key_field, item.ext_value.lower())
            counts[ident] = counts.get(ident, 0) + 1
        by_key_field: dict[str, list[Pending]] = {}
        for item in pending:
            n = counts[(item.key_field, item.ext_value.lower())]
            if n > 1:
                outcomes[item.index] = failed_outcome(
                    item.record,
                    "DUPLICATE_EXTERNAL_ID",
                    f"{obj}.{item.key_field} value {item.ext_value!r} appears {n} times in the batch",
                )
            else:
                by_key_field.setdefault(item.key_field, []).append(item)
        for key_field, unique in by_key_field.items():
            for item, outcome in zip(unique, self._upsert(obj, key_field, unique), strict=True):
                outcomes[item.index] = outcome
        done = [o for o in outcomes if o is not None]
        assert len(done) == len(records)
        stats = {s: sum(o.status == s for o in done) for s in ("created", "updated", "unchanged", "failed")}
        log.info(
            "salesforce write %s: %d records %s; %d API calls so far",
            obj,
            len(records),
            stats,
            self.usage.calls,
        )
        return done

    def _upsert(self, obj: str, ext: str, items: list[Pending]) -> list[WriteOutcome]:
        """Collections below the bulk threshold, a bulk job from it on; then records that failed
        on a row lock (reported per record, not per call) are sent again, a bounded number of times."""
        policy = self.settings.retry
        todo = list(range(len(items)))
        outcomes: list[WriteOutcome] = [None] * len(items)  # type: ignore[list-item]
        for attempt in range(1, policy.max_attempts + 1):
            batch = [items[k] for k in todo]
            if len(batch) >= self.settings.bulk_write_threshold:
                written = self._bulk_upsert(obj, ext, batch)
            else:
                written = self._collections_upsert(obj, ext, batch)
            for k, outcome in zip(todo, written, strict=True):
                outcomes[k] = outcome
            todo = [
                k
                for k in todo
                if outcomes[k].status == "failed" and outcomes[k].error_code in RETRIABLE_CODES
            ]
            if not todo or attempt == policy.max_attempts:
                break
            delay = policy.delay(attempt, None)
            log.info(
                "salesforce write %s: %d records hit %s; sending them again in %.2f s",
                obj,
                len(todo),
                outcomes[todo[0]].error_code,
                delay,
            )
            time.sleep(delay)
        return outcomes

    def _collections_upsert(self, obj: str, ext: str, items: list[Pending]) -> list[WriteOutcome]:
        size = self.settings.collection_size
        out: list[WriteOutcome] = []
        for start in range(0, len(items), size):
            out.extend(self._collection_call(obj, ext, items[start : start + size]))
        return out

    def _collection_call(self, obj: str, ext: str, items: list[Pending]) -> list[WriteOutcome]:
        body = {
            "allOrNone": False,
            "records": [
                {"attributes": {"type": obj}, **{k: json_value(v) for k, v in item.fields.items()}}
                for item in items
            ],
        }
        # Known records (ext "Id"): PATCH /composite/sobjects updates each by the Id it carries ("Update
        # Records Using sObject Collections"); the others upsert on the external id.
        by_id = ext.lower() == "id"
        path = "composite/sobjects" if by_id else f"composite/sobjects/{obj}/{ext}"
        try:
            with self._calling("collections_update" if by_id else "collections_upsert", obj):
                results = self._client().restful(path, method="PATCH", json=body)
        except (ConfigError, BudgetExhausted, AuthError):
            raise
        except RunFatalError as exc:
            if exc.status != 400:
                raise
            # A request-level 400 (e.g. a value JSON cannot turn into the field's type) fails the whole
            # call: split it to find the record(s) at fault, keeping the others' outcomes.
            if len(items) == 1:
                return [failed_outcome(items[0].record, exc.remote_code or "UNKNOWN", exc.message)]
            half = len(items) // 2
            left = self._collection_call(obj, ext, items[:half])
            return left + self._collection_call(obj, ext, items[half:])
        results = list(results or [])
        out = []
        for n, item in enumerate(items):
            rec = item.record
            result = dict(results[n]) if n < len(results) else None
            if result is None:
                missing = "the collections call returned no result for it"
                out.append(failed_outcome(rec, "RESULT_MISSING", missing))
            elif result.get("success"):
                status = "created" if result.get("created") else "updated"
                out.append(WriteOutcome(rec.key, status, remote_key=result.get("id")))
            else:
                errors = [dict(e) for e in result.get("errors") or [{}]]
                message = "; ".join(self.transport.redact(str(e.get("message", ""))) for e in errors)
                code = errors[0].get("statusCode") or "UNKNOWN"
                out.append(WriteOutcome(rec.key, "failed", result.get("id") or rec.remote_key, code, message))
        return out

    def _bulk_upsert(self, obj: str, ext: str, items: list[Pending]) -> list[WriteOutcome]:
        """One Bulk API 2.0 upsert job; every record's outcome from the result files, never silently lost."""
        rows = [csv_row(item.fields) for item in items]
        handler = getattr(self._client().bulk2, obj)
        try:
            with self._calling("bulk_ingest", obj):
                jobs = handler.upsert(
                    records=rows, external_id_field=ext, wait=self.settings.bulk_poll_seconds
                )
        except RunFatalError as exc:
            if exc.remote_code != "BULK_JOB_FAILED":
                raise
            return [failed_outcome(item.record, "BULK_JOB_FAILED", exc.message) for item in items]
        succeeded: dict[str, tuple[str, bool]] = {}
        failed: dict[str, tuple[str, str, str]] = {}
        for job in jobs:
            job_id = job["job_id"]
            processed = int(job.get("numberRecordsProcessed", 0))
            failures = int(job.get("numberRecordsFailed", 0))
            with self._calling("bulk_ingest", obj):
                # Result files are only fetched when they can hold rows: each download is an API call.
                if processed > failures:
                    for row in csv_dicts(handler.get_successful_records(job_id)):
                        created = row.get("sf__Created", "").lower() == "true"
                        succeeded[cell_of(row, ext).lower()] = (row.get("sf__Id", ""), created)
                if failures:
                    for row in csv_dicts(handler.get_failed_records(job_id)):
                        code, message = bulk_error(row.get("sf__Error", ""))
                        entry = (row.get("sf__Id", ""), code, self.transport.redact(message))
                        failed[cell_of(row, ext).lower()] = entry
        out = []
        for item in items:
            rec, value = item.record, item.ext_value.lower()
            if value in succeeded:
                record_id, created = succeeded[value]
                status = "created" if created else "updated"
                out.append(WriteOutcome(rec.key, status, remote_key=record_id or None))
            elif value in failed:
                record_id, code, message = failed[value]
                out.append(WriteOutcome(rec.key, "failed", record_id or rec.remote_key, code, message))
            else:
                out.append(
                    failed_outcome(
                        rec,
                        "BULK_RESULT_MISSING",
                        f"the bulk job reported neither success nor failure for {obj}.{ext} = "
                        f"{item.ext_value!r}",
                    )
                )
        return out
