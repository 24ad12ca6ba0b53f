"""Bulk API 2.0 jobs of the sandbox: limits, errors, the job record and its info shape, and the CSV and
query-locator formats the real API uses."""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import io
import json
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.salesforce import soql as soql_engine
from sandbox.salesforce.org_model import SalesforceApiError, normalize_id
from sandbox.salesforce.schema import API_VERSION, FieldDef

JOB_KEY_PREFIX = "750"
DELIMITERS = {"BACKQUOTE": "`", "CARET": "^", "COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "TAB": "\t"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
QUERY_OPERATIONS = ("query", "queryAll")
# The real limit is 150 MB of CSV per job.
MAX_UPLOAD_BYTES = 150 * 1024 * 1024
# In Bulk CSV an empty cell leaves a field alone; this marker sets it to null.
NULL_MARKER = "#N/A"
JOB_LIST_PAGE_SIZE = 1000

JobKind = Literal["ingest", "query"]
Handler = Callable[[Request], Awaitable[Response]]


class Bulk2Error(Exception):
    """A request-level error, answered as ``[{"errorCode", "message"}]`` like the real API."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message

    def response(self) -> JSONResponse:
        return JSONResponse([{"errorCode": self.error_code, "message": self.message}], self.status)


class RecordError(Exception):
    """One CSV row failed; becomes an ``sf__Error`` cell, never a job failure."""

    def __init__(self, error_code: str, message: str, fields: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.fields = list(fields)

    def cell(self) -> str:
        # The real format is "CODE:message:Field1,Field2 --", or "CODE:message:--" without fields.
        fields = ",".join(self.fields)
        return f"{self.error_code}:{self.message}:{fields}{' ' if fields else ''}--"


class JobFailure(Exception):
    """The upload itself is unusable (unknown column, ragged rows): the job ends Failed."""


def not_ready(job: Job) -> Bulk2Error:
    return Bulk2Error(409, "INVALIDJOBSTATE", f"Job {job.id} is {job.state}; its results are not ready")


def job_stamp() -> str:
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


@dataclass
class Job:
    """One Bulk 2.0 job; mutable fields are guarded by the owning service's lock."""

    id: str
    kind: JobKind
    operation: str
    object: str
    created_by: str
    created_date: str
    line_ending: str
    column_delimiter: str
    state: str
    system_modstamp: str = ""
    external_id_field: str | None = None
    query: str | None = None
    upload: bytes | None = None
    error_message: str | None = None
    processed: int = 0
    failed: int = 0
    processing_ms: int = 0
    header: list[str] = field(default_factory=list)
    successful_rows: list[list[str]] = field(default_factory=list)
    failed_rows: list[list[str]] = field(default_factory=list)
    unprocessed_rows: list[list[str]] = field(default_factory=list)
    query_records: list[dict[str, Any]] = field(default_factory=list)
    select: tuple[soql_engine.FieldPath, ...] = ()
    query_rows: list[list[str | None]] = field(default_factory=list)
    abort: threading.Event = field(default_factory=threading.Event)

    @property
    def delimiter(self) -> str:
        return DELIMITERS[self.column_delimiter]

    @property
    def newline(self) -> str:
        return LINE_ENDINGS[self.line_ending]

    def summary(self, base_path: str) -> dict[str, Any]:
        """The job info returned on create, on PATCH and in job lists."""
        info: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": self.created_date,
            "systemModstamp": self.system_modstamp or self.created_date,
            "state": self.state,
        }
        if self.external_id_field:
            info["externalIdFieldName"] = self.external_id_field
        info.update(concurrencyMode="Parallel", contentType="CSV", apiVersion=float(API_VERSION))
        if self.kind == "ingest":
            info["contentUrl"] = f"{base_path.lstrip('/')}/jobs/ingest/{self.id}/batches"
        info.update(lineEnding=self.line_ending, columnDelimiter=self.column_delimiter)
        return info

    def detail(self, base_path: str) -> dict[str, Any]:
        """The job info of ``GET jobs/<kind>/<id>``: the summary plus progress counters."""
        info = self.summary(base_path)
        if self.kind == "ingest":
            info.update(
                jobType="V2Ingest",
                numberRecordsProcessed=self.processed,
                numberRecordsFailed=self.failed,
                retries=0,
                totalProcessingTime=self.processing_ms,
                apiActiveProcessingTime=self.processing_ms,
                apexProcessingTime=0,
            )
        else:
            info.update(
                jobType="V2Query",
                numberRecordsProcessed=self.processed,
                retries=0,
                totalProcessingTime=self.processing_ms,
                isPkChunkingSupported=True,
            )
        if self.error_message:
            info["errorMessage"] = self.error_message
        return info


@dataclass(frozen=True)
class Column:
    """How one ingest CSV column maps onto the object."""

    key: str  # canonical field name, or Relationship.ExternalIdField for a parent lookup
    field: FieldDef | None  # None for a parent lookup column
    reference: FieldDef | None = None  # the lookup field a parent column sets


def csv_quote(value: str | None) -> str:
    # Bulk 2.0 result files quote every value; nulls are bare empty cells.
    if value is None:
        return ""
    return '"' + value.replace('"', '""') + '"'


def csv_line(cells: Iterable[str | None], delimiter: str) -> str:
    return delimiter.join(csv_quote(c) for c in cells)


def plain_header(header: list[str], delimiter: str) -> str:
    """The uploaded header echoed back, quoted only where CSV needs it."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="").writerow(header)
    return buffer.getvalue()


def encode_locator(offset: int) -> str:
    """An opaque locator for the ``offset``-th result row (base64 of the offset, as the real ones look)."""
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def decode_locator(locator: str) -> int:
    padded = locator + "=" * (-len(locator) % 4)
    try:
        offset = int(base64.b64decode(padded, validate=True).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise Bulk2Error(400, "INVALIDLOCATOR", f"Invalid locator: {locator}") from None
    if offset < 0:
        raise Bulk2Error(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
    return offset


def column_name(path: soql_engine.FieldPath) -> str:
    """The CSV header of a selected field: canonical names joined by dots (``Account.Name``)."""
    return ".".join([*(step.relationship for step in path.steps), path.field.name])


def path_value(record: dict[str, Any], path: soql_engine.FieldPath) -> Any:
    value: Any = record
    for step in path.steps:
        value = value.get(step.relationship) if isinstance(value, dict) else None
    return value.get(path.field.name) if isinstance(value, dict) else None


def csv_value(value: Any, kind: str) -> str | None:
    """A REST JSON value as it appears in a Bulk query CSV cell."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        # Bulk CSV writes datetimes in UTC with a Z, where REST JSON says +0000.
        if kind == "datetime" and value.endswith("+0000"):
            return value[:-5] + "Z"
        return value
    if isinstance(value, float) and value.is_integer() and kind == "int":
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def bulk_query_restriction(parsed: soql_engine.Query) -> str | None:
    """What Bulk API 2.0 refuses although plain SOQL allows it, or None."""
    if parsed.count_only:
        return "Aggregate Queries not supported in Bulk Query"
    if parsed.offset is not None:
        return "OFFSET clause not supported in Bulk Query"
    # "Bulk API 2.0 doesn't support SOQL queries that include any of these items: GROUP BY, LIMIT,
    # ORDER BY, OFFSET, or TYPEOF clauses" ("Understanding Bulk API 2.0 Query", SOQL considerations;
    # ORDER BY also disables PK chunking). The sandbox refuses ORDER BY and LIMIT so that no code path
    # comes to rely on them.
    if parsed.order_by:
        return "ORDER BY clause not supported in Bulk Query"
    if parsed.limit is not None:
        return "LIMIT clause not supported in Bulk Query"
    if any(path.field.type == "address" for path in parsed.select):
        return "Selecting compound data not supported in Bulk Query"
    return None


def dml_error(exc: SalesforceApiError, obj: str, record_id: str) -> RecordError:
    """The org's REST-flavoured error as the SOAP/Bulk status code a failed row reports."""
    if exc.error_code == "NOT_FOUND" and record_id:
        if normalize_id(record_id) is None:
            return RecordError("MALFORMED_ID", f"{obj} ID: id value of incorrect type: {record_id}", ["Id"])
        return RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
    if exc.error_code == "MULTIPLE_CHOICES":
        return RecordError("DUPLICATE_EXTERNAL_ID", exc.message)
    return RecordError(exc.error_code, exc.message, exc.fields or ())
