"""Bulk API 2.0 for the sandbox org: ingest jobs (CSV insert/update/upsert/delete) and query jobs.

The routes follow the real ``/services/data/vXX.X/jobs/...`` contract closely enough that the
unmodified simple-salesforce ``sf.bulk2`` client and plain HTTP scripts work against them: job
info shapes, the Open -> UploadComplete -> InProgress -> JobComplete life
cycle, CSV results with ``sf__Id``/``sf__Created``/``sf__Error``, and query paging through the
``Sforce-Locator`` header. Jobs run on a background thread per job, so clients must poll as
they do against a real org. Per-record failures never fail a job; only a malformed upload does.
"""

from __future__ import annotations

import csv
import io
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from sandbox.salesforce import soql as soql_engine
from sandbox.salesforce.bulk2_jobs import (
    DELIMITERS,
    INGEST_OPERATIONS,
    JOB_KEY_PREFIX,
    JOB_LIST_PAGE_SIZE,
    LINE_ENDINGS,
    MAX_UPLOAD_BYTES,
    NULL_MARKER,
    QUERY_OPERATIONS,
    Bulk2Error,
    Column,
    Job,
    JobFailure,
    JobKind,
    RecordError,
    bulk_query_restriction,
    column_name,
    csv_line,
    csv_quote,
    csv_value,
    decode_locator,
    dml_error,
    encode_locator,
    job_stamp,
    not_ready,
    path_value,
    plain_header,
)
from sandbox.salesforce.org import SalesforceOrg
from sandbox.salesforce.org_model import SalesforceApiError
from sandbox.salesforce.schema import API_VERSION, ObjectDef, make_id


class Bulk2Service:
    """The org's Bulk 2.0 jobs: a thread-safe registry plus one worker thread per running job."""

    def __init__(self, org: SalesforceOrg, base_path: str = f"/services/data/v{API_VERSION}") -> None:
        self.org = org
        self.base_path = base_path
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._counter = itertools.count(1)

    # -- registry ---------------------------------------------------------------------------

    def _new_id(self) -> str:
        return make_id(JOB_KEY_PREFIX, next(self._counter))

    def _register(
        self,
        kind: JobKind,
        operation: str,
        object_name: str,
        line_ending: str,
        delimiter: str,
        state: str,
        **more: Any,
    ) -> Job:
        """A new job of the integration user, stamped now and listed, in its first state."""
        job = Job(
            id=self._new_id(),
            kind=kind,
            operation=operation,
            object=object_name,
            created_by=self.org.user_id,
            created_date=job_stamp(),
            line_ending=line_ending,
            column_delimiter=delimiter,
            state=state,
            **more,
        )
        with self._lock:
            self._jobs[job.id] = job
        return job

    def get(self, job_id: str, kind: JobKind) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None and len(job_id) == 15:
                job = next((j for j in self._jobs.values() if j.id[:15] == job_id), None)
        if job is None or job.kind != kind:
            raise Bulk2Error(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def jobs(self, kind: JobKind) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if j.kind == kind]

    def _start(self, target: Callable[[Job], None], job: Job) -> None:
        def run() -> None:
            try:
                target(job)
            except Exception as exc:  # a bug must not leave clients polling an InProgress job forever
                self._set_state(job, "Failed", f"InternalServerError : {type(exc).__name__}: {exc}")

        threading.Thread(target=run, daemon=True, name=f"bulk2:{job.id}").start()

    def _set_state(self, job: Job, state: str, error_message: str | None = None) -> None:
        with self._lock:
            if job.state == "Aborted":
                return
            job.state = state
            job.system_modstamp = job_stamp()
            if error_message:
                job.error_message = error_message

    # -- ingest ------------------------------------------------------------------------------

    def info(self, job_id: str, kind: JobKind) -> dict[str, Any]:
        """``GET jobs/<kind>/<id>``: the job's detail as of now."""
        job = self.get(job_id, kind)
        with self._lock:
            return job.detail(self.base_path)

    def create_ingest_job(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate a create-job request the way the real API does, open the job, return its info."""
        operation = body.get("operation")
        if operation not in INGEST_OPERATIONS:
            raise Bulk2Error(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        object_name = body.get("object")
        if not isinstance(object_name, str) or not object_name:
            raise Bulk2Error(400, "INVALIDJOB", "InvalidJob : Object is required")
        obj = self._object(object_name)
        if obj is None:
            raise Bulk2Error(400, "INVALIDJOB", f"InvalidJob : Unable to find object: {object_name}")
        content_type = body.get("contentType", "CSV")
        if content_type != "CSV":
            raise Bulk2Error(400, "INVALIDJOB", f"InvalidJob : Unsupported content type: {content_type}")
        delimiter, line_ending = self._format(body)
        external_id = body.get("externalIdFieldName")
        if operation == "upsert":
            if not external_id:
                raise Bulk2Error(
                    400,
                    "INVALIDJOB",
                    f"InvalidJob : External ID was blank for {obj.name}. "
                    "An External ID must be specified for upsert.",
                )
            ext_field = obj.field(str(external_id))
            if ext_field is None or not (ext_field.external_id or ext_field.name == "Id"):
                raise Bulk2Error(
                    400,
                    "INVALIDJOB",
                    f"InvalidJob : Field name provided, {external_id} does not match an External ID, "
                    f"Salesforce Id, or indexed field for {obj.name}",
                )
            external_id = ext_field.name
        else:
            external_id = None
        job = self._register(
            "ingest", operation, obj.name, line_ending, delimiter, "Open", external_id_field=external_id
        )
        return job.summary(self.base_path)

    def upload(self, job_id: str, data: bytes) -> None:
        """Store the job's single CSV upload (Bulk 2.0 takes one PUT per job)."""
        job = self.get(job_id, "ingest")
        if len(data) > MAX_UPLOAD_BYTES:
            raise Bulk2Error(
                400, "BULK_API_ERROR", f"Exceeded max size limit of {MAX_UPLOAD_BYTES} bytes for job data"
            )
        with self._lock:
            if job.state != "Open":
                raise Bulk2Error(409, "INVALIDJOBSTATE", f"Job {job.id} is not in Open state")
            if job.upload is not None:
                raise Bulk2Error(
                    400,
                    "BULK_API_ERROR",
                    f"Found multiple contents for job: <{job.id}>, please 'Close' / 'Abort' / 'Delete' the "
                    "current Job then create a new Job and make sure you only do 'PUT' once on a given Job.",
                )
            job.upload = data
            job.system_modstamp = job_stamp()

    def change_state(self, job_id: str, kind: JobKind, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH: close an ingest job (UploadComplete) or abort any job; returns the job info."""
        job = self.get(job_id, kind)
        state = body.get("state")
        allowed = ("UploadComplete", "Aborted") if kind == "ingest" else ("Aborted",)
        if state not in allowed:
            raise Bulk2Error(400, "INVALIDJOB", f"InvalidJob : Invalid state for job update: {state}")
        with self._lock:
            if state == "Aborted":
                if job.state not in ("Open", "UploadComplete", "InProgress"):
                    raise Bulk2Error(
                        409, "INVALIDJOBSTATE", f"Job {job.id} is {job.state} and cannot be aborted"
                    )
                job.state = "Aborted"
                job.abort.set()
                job.system_modstamp = job_stamp()
                return job.summary(self.base_path)
            if job.state != "Open":
                raise Bulk2Error(409, "INVALIDJOBSTATE", f"Job {job.id} is not in Open state")
            job.state = "UploadComplete"
            job.system_modstamp = job_stamp()
            # Snapshot before the worker starts: the response must say UploadComplete.
            summary = job.summary(self.base_path)
        self._start(self._run_ingest, job)
        return summary

    def delete(self, job_id: str, kind: JobKind) -> None:
        job = self.get(job_id, kind)
        with self._lock:
            if job.state in ("Open", "InProgress"):
                raise Bulk2Error(
                    409,
                    "INVALIDJOBSTATE",
                    f"Job {job.id} is {job.state}; only UploadComplete, JobComplete, Aborted or Failed jobs "
                    "can be deleted",
                )
            del self._jobs[job.id]

    def ingest_results(self, job_id: str, which: str) -> str:
        """The successfulResults / failedResults / unprocessedrecords CSV of a finished job."""
        job = self.get(job_id, "ingest")
        with self._lock:
            if job.state not in ("JobComplete", "Failed", "Aborted"):
                raise not_ready(job)
            header = list(job.header)
            if which == "successfulResults":
                prefix, rows = ["sf__Id", "sf__Created"], list(job.successful_rows)
            elif which == "failedResults":
                prefix, rows = ["sf__Id", "sf__Error"], list(job.failed_rows)
            else:
                prefix, rows = [], list(job.unprocessed_rows)
        d, nl = job.delimiter, job.newline
        head = d.join([csv_quote(p) for p in prefix] + ([plain_header(header, d)] if header else []))
        if not head:
            return ""
        return head + nl + "".join(csv_line(row, d) + nl for row in rows)

    def _run_ingest(self, job: Job) -> None:
        started = time.monotonic()
        self._set_state(job, "InProgress")
        try:
            header, rows = self._parse_upload(job)
        except JobFailure as exc:
            with self._lock:
                job.unprocessed_rows = []
            self._set_state(job, "Failed", str(exc))
            return
        with self._lock:
            job.header = header
        try:
            columns = self._columns(job, header)
        except JobFailure as exc:
            with self._lock:
                job.unprocessed_rows = rows
            self._set_state(job, "Failed", str(exc))
            return
        for index, row in enumerate(rows):
            if job.abort.is_set():
                with self._lock:
                    job.unprocessed_rows = rows[index:]
                break
            row_id = self._row_id(job, columns, row)
            try:
                record_id, created = self._apply(job, columns, row)
            except RecordError as exc:
                outcome: tuple[bool, list[str]] = (False, [row_id, exc.cell(), *row])
            except SalesforceApiError as exc:
                outcome = (False, [row_id, dml_error(exc, job.object, row_id).cell(), *row])
            except Exception as exc:  # one odd row must not take the job down
                error = RecordError(
                    "UNKNOWN_EXCEPTION", f"An unexpected error occurred: {type(exc).__name__}"
                )
                outcome = (False, [row_id, error.cell(), *row])
            else:
                outcome = (True, [record_id, "true" if created else "false", *row])
            with self._lock:
                job.processed += 1
                if outcome[0]:
                    job.successful_rows.append(outcome[1])
                else:
                    job.failed += 1
                    job.failed_rows.append(outcome[1])
                job.processing_ms = int((time.monotonic() - started) * 1000)
        self._set_state(job, "JobComplete")

    def _parse_upload(self, job: Job) -> tuple[list[str], list[list[str]]]:
        if not job.upload:
            raise JobFailure("InvalidBatch : No data was uploaded for this job")
        text = job.upload.decode("utf-8-sig", errors="replace")
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=job.delimiter, strict=False)
        try:
            rows = [row for row in reader if row]
        except csv.Error as exc:
            raise JobFailure(f"ClientInputError : {exc}") from None
        if not rows:
            raise JobFailure("InvalidBatch : No data was uploaded for this job")
        header = rows[0]
        for number, row in enumerate(rows[1:], start=2):
            if len(row) != len(header):
                raise JobFailure(
                    f"ClientInputError : LineNumber: {number}, column count {len(row)} does not match "
                    f"header count {len(header)}"
                )
        return header, rows[1:]

    def _columns(self, job: Job, header: list[str]) -> list[Column]:
        """Map the header onto the object; an unknown column fails the whole job, as in a real org."""
        schema = self.org.schema
        obj = schema[job.object]
        columns: list[Column] = []
        for name in header:
            clean = name.strip()
            if "." in clean:
                # Parent by external id: Account.SAP_Customer_Number__c sets AccountId.
                relationship, target_field = clean.split(".", 1)
                reference = obj.relationship(relationship)
                target = None
                if reference is not None and len(reference.reference_to) == 1:
                    target = schema.get(reference.reference_to[0])
                target_def = target.field(target_field) if target else None
                if (
                    reference is None
                    or target_def is None
                    or not (target_def.external_id or target_def.name == "Id")
                ):
                    raise JobFailure(f"InvalidBatch : Field name not found : {clean}")
                columns.append(Column(f"{reference.relationship_name}.{target_def.name}", None, reference))
                continue
            fdef = obj.field(clean)
            if fdef is None:
                raise JobFailure(f"InvalidBatch : Field name not found : {clean}")
            columns.append(Column(fdef.name, fdef))
        return columns

    @staticmethod
    def _row_id(job: Job, columns: list[Column], row: list[str]) -> str:
        """The Id a failed row names in ``sf__Id``: the one it tried to change, if any."""
        if job.operation in ("update", "delete", "hardDelete") or job.external_id_field == "Id":
            for column, cell in zip(columns, row, strict=True):
                if column.field is not None and column.field.name == "Id":
                    return cell
        return ""

    def _apply(self, job: Job, columns: list[Column], row: list[str]) -> tuple[str, bool]:
        """Write one CSV row through the org; returns (Id, created)."""
        record_id = ""
        ext_value = ""
        fields: dict[str, Any] = {}
        for column, cell in zip(columns, row, strict=True):
            fdef = column.field
            if fdef is not None and fdef.name == "Id":
                record_id = cell.strip()
                continue
            if fdef is not None and fdef.name == job.external_id_field:
                ext_value = cell
                continue
            if cell == "" or job.operation in ("delete", "hardDelete"):
                continue  # an empty cell leaves the field as it is
            # The org coerces CSV text by field type (booleans, numbers, dates) as the platform does.
            fields[column.key] = None if cell == NULL_MARKER else cell
        op = job.operation
        if op == "insert":
            if record_id:
                raise RecordError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"]
                )
            return self.org.insert(job.object, fields), True
        if op in ("delete", "hardDelete"):
            if not record_id:
                raise RecordError("MISSING_ARGUMENT", "Id not specified in a delete call")
            self.org.delete(job.object, record_id)
            return record_id, False
        if op == "update" or (op == "upsert" and job.external_id_field == "Id"):
            if not record_id:
                if op == "upsert":
                    return self.org.insert(job.object, fields), True
                raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call")
            self.org.update(job.object, record_id, fields)
            return record_id, False
        ext_field = job.external_id_field or ""
        if not ext_value or ext_value == NULL_MARKER:
            raise RecordError("MISSING_ARGUMENT", f"{ext_field} not specified")
        return self.org.upsert(job.object, ext_field, ext_value, fields)

    # -- query -------------------------------------------------------------------------------

    def create_query_job(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate the SOQL now (a bad query answers 400), run it, and let a thread build the CSV."""
        operation = body.get("operation")
        if operation not in QUERY_OPERATIONS:
            raise Bulk2Error(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        soql = body.get("query")
        if not isinstance(soql, str) or not soql.strip():
            raise Bulk2Error(400, "INVALIDJOB", "InvalidJob : A SOQL query is required for a query job")
        content_type = body.get("contentType", "CSV")
        if content_type != "CSV":
            raise Bulk2Error(400, "INVALIDJOB", f"InvalidJob : Unsupported content type: {content_type}")
        delimiter, line_ending = self._format(body)
        try:
            parsed = soql_engine.parse(soql, self.org.schema)
        except soql_engine.SoqlError as exc:
            raise Bulk2Error(400, exc.code, exc.message) from None
        restriction = bulk_query_restriction(parsed)
        if restriction:
            raise Bulk2Error(400, "API_ERROR", restriction)
        records = self.org.query(soql, include_deleted=operation == "queryAll")
        job = self._register(
            "query",
            operation,
            parsed.object_name,
            line_ending,
            delimiter,
            "UploadComplete",
            query=soql,
            query_records=records,
            select=parsed.select,
        )
        summary = job.summary(self.base_path)
        self._start(self._run_query, job)
        return summary

    def _run_query(self, job: Job) -> None:
        started = time.monotonic()
        self._set_state(job, "InProgress")
        header = [column_name(path) for path in job.select]
        rows: list[list[str | None]] = []
        for record in job.query_records:
            if job.abort.is_set():
                return
            rows.append([csv_value(path_value(record, path), path.field.type) for path in job.select])
        with self._lock:
            job.header = header
            job.query_rows = rows
            job.query_records = []
            job.processed = len(rows)
            job.processing_ms = int((time.monotonic() - started) * 1000)
        self._set_state(job, "JobComplete")

    def query_results(
        self, job_id: str, locator: str | None, max_records: str | None
    ) -> tuple[str, str, int]:
        """One page of a query job's CSV: (body, next locator or "null", number of records)."""
        job = self.get(job_id, "query")
        offset = decode_locator(locator) if locator else 0
        limit: int | None = None
        if max_records is not None:
            try:
                limit = int(max_records)
            except ValueError:
                limit = 0
            if limit <= 0:
                raise Bulk2Error(
                    400, "INVALIDPARAMETER", f"maxRecords must be a positive integer, got {max_records!r}"
                )
        with self._lock:
            if job.state != "JobComplete":
                raise not_ready(job)
            total = len(job.query_rows)
            if offset > total:
                raise Bulk2Error(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
            end = total if limit is None else min(total, offset + limit)
            page = job.query_rows[offset:end]
            header = list(job.header)
        d, nl = job.delimiter, job.newline
        body = csv_line(header, d) + nl + "".join(csv_line(row, d) + nl for row in page)
        next_locator = encode_locator(end) if end < total else "null"
        return body, next_locator, len(page)

    # -- shared ------------------------------------------------------------------------------

    def _object(self, name: str) -> ObjectDef | None:
        lowered = name.lower()
        return next((o for n, o in self.org.schema.items() if n.lower() == lowered), None)

    @staticmethod
    def _format(body: dict[str, Any]) -> tuple[str, str]:
        delimiter = body.get("columnDelimiter") or "COMMA"
        line_ending = body.get("lineEnding") or "LF"
        if delimiter not in DELIMITERS:
            raise Bulk2Error(400, "INVALIDJOB", f"InvalidJob : Invalid column delimiter: {delimiter}")
        if line_ending not in LINE_ENDINGS:
            raise Bulk2Error(400, "INVALIDJOB", f"InvalidJob : Invalid line ending: {line_ending}")
        return delimiter, line_ending

    def list_page(self, kind: JobKind, request: Request) -> dict[str, Any]:
        """``GET jobs/<kind>``: job summaries, 1,000 per page, paged by ``queryLocator``."""
        jobs = self.jobs(kind)
        job_type = request.query_params.get("jobType")
        if job_type:
            wanted = "V2Ingest" if kind == "ingest" else "V2Query"
            jobs = jobs if job_type == wanted else []
        start = 0
        locator = request.query_params.get("queryLocator")
        if locator:
            try:
                start = int(locator.rsplit("-", 1)[-1])
            except ValueError:
                raise Bulk2Error(400, "INVALID_QUERY_LOCATOR", f"Invalid query locator: {locator}") from None
        page = jobs[start : start + JOB_LIST_PAGE_SIZE]
        end = start + len(page)
        done = end >= len(jobs)
        records = []
        for job in page:
            info = job.summary(self.base_path)
            info["jobType"] = "V2Ingest" if kind == "ingest" else "V2Query"
            records.append(info)
        return {
            "done": done,
            "records": records,
            "nextRecordsUrl": None if done else f"{self.base_path}/jobs/{kind}?queryLocator=01g-{end}",
        }
