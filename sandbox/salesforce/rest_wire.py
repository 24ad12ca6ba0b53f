"""The plumbing of the sandbox's REST API: versions, the ``ApiGate`` middleware (authentication, the daily
API budget, ``Sforce-Limit-Info``), fault injection, query cursors, one call's parsed request, and the
error and parameter helpers the routes share."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.salesforce.org import SalesforceOrg
from sandbox.salesforce.org_model import SalesforceApiError, normalize_id, parse_datetime
from sandbox.salesforce.schema import API_VERSION, make_id

DATA_PREFIX = "/services/data/v"
OLDEST_VERSION = 20
NEWEST_VERSION = int(float(API_VERSION))
MAX_COLLECTION = 200
DEFAULT_BATCH = 2000
MIN_BATCH = 200
CURSOR_TTL_SECONDS = 15 * 60
MAX_CURSORS = 200
ROLLED_BACK = SalesforceApiError(
    400,
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone header",
    [],
)
INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def release_label(version: int) -> str:
    """The release name of an API version: v62.0 is Winter '25, three releases a year."""
    back = NEWEST_VERSION - version
    season = ("Winter", "Summer", "Spring")[back % 3]
    return f"{season} '{25 - (back + 2) // 3:02d}"


SUPPORTED_VERSIONS = [f"{v}.0" for v in range(OLDEST_VERSION, NEWEST_VERSION + 1)]


def error_response(exc: SalesforceApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


# ---------------------------------------------------------------------------------------------- gate
class ApiGate:
    """Every ``/services/data/vXX.X/...`` request: bearer session, one API call, ``Sforce-Limit-Info``."""

    def __init__(self, app: ASGIApp, org: SalesforceOrg) -> None:
        self.app = app
        self.org = org

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(DATA_PREFIX):
            await self.app(scope, receive, send)
            return
        token = bearer_token(Request(scope))
        try:
            if token is None:
                raise SalesforceApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
            self.org.check_session(token)
            used, limit = self.org.spend_api_call()
        except SalesforceApiError as exc:
            headers = None
            if exc.status == 403:
                used, limit = self.org.api_usage()
                headers = {"Sforce-Limit-Info": f"api-usage={used}/{limit}"}
            await error_response(exc, headers)(scope, receive, send)
            return
        usage = f"api-usage={used}/{limit}".encode()

        async def send_with_usage(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"sforce-limit-info", usage)]}
            await send(message)

        await self.app(scope, receive, send_with_usage)


def bearer_token(request: Request) -> str | None:
    """The session id from ``Authorization: Bearer``/``OAuth`` (both schemes are accepted by orgs)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    return None


# ---------------------------------------------------------------------------------------------- faults
class SalesforceFaults:
    """Injected faults in Salesforce's shapes; an injected expired session really expires."""

    def __init__(self, org: SalesforceOrg) -> None:
        self.org = org

    def too_many_requests(self, request: Request) -> Response:
        body = [{"message": "ConcurrentPerOrgLongTxn Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
        return JSONResponse(body, status_code=429, headers={"Retry-After": "1"})

    def unavailable(self, request: Request) -> Response:
        body = [
            {
                "message": "Server temporarily unavailable, please try again later.",
                "errorCode": "SERVER_UNAVAILABLE",
            }
        ]
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})

    def gateway_timeout(self, request: Request) -> Response:
        body = [{"message": "The request timed out at the gateway.", "errorCode": "REQUEST_TIMEOUT"}]
        return JSONResponse(body, status_code=504)

    def expired_session(self, request: Request) -> Response | None:
        token = bearer_token(request)
        if token is None:
            return None
        self.org.expire_session(token)
        return JSONResponse(INVALID_SESSION, status_code=401)


# ---------------------------------------------------------------------------------------------- cursors
@dataclass
class _Cursor:
    records: list[dict[str, Any]]
    total_size: int
    batch: int
    last_used: float = field(default_factory=time.monotonic)


class QueryCursors:
    """Server-side query cursors behind ``nextRecordsUrl`` (expire after 15 idle minutes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._counter = 0

    def open(self, records: list[dict[str, Any]], total_size: int, batch: int) -> str:
        with self._lock:
            self._expire()
            self._counter += 1
            locator = make_id("01g", self._counter)
            self._cursors[locator] = _Cursor(records, total_size, batch)
            while len(self._cursors) > MAX_CURSORS:
                self._cursors.popitem(last=False)
            return locator

    def take(self, locator: str) -> _Cursor:
        with self._lock:
            self._expire()
            cursor = self._cursors.get(locator)
            if cursor is None:
                raise SalesforceApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            cursor.last_used = time.monotonic()
            self._cursors.move_to_end(locator)
            return cursor

    def close(self, locator: str) -> None:
        with self._lock:
            self._cursors.pop(locator, None)

    def _expire(self) -> None:
        cutoff = time.monotonic() - CURSOR_TTL_SECONDS
        for locator in [k for k, c in self._cursors.items() if c.last_used < cutoff]:
            del self._cursors[locator]


# ---------------------------------------------------------------------------------------------- calls
@dataclass
class Call:
    """What a synchronous handler needs from the request (it runs in the thread pool)."""

    request: Request
    body: bytes
    version: str

    @property
    def base(self) -> str:
        return f"/services/data/v{self.version}"

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise SalesforceApiError(
                400, "JSON_PARSER_ERROR", f"Unexpected character: {exc} at [line:1, column:1]"
            ) from None

    def json_object(self) -> dict[str, Any]:
        value = self.json()
        if not isinstance(value, dict):
            raise SalesforceApiError(
                400, "JSON_PARSER_ERROR", "Cannot deserialize instance of SObject from non-object value"
            )
        return value


Handler = Callable[[Call], Response]


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Run a synchronous handler in the thread pool and answer its SalesforceApiError in REST shape."""

    async def run(request: Request) -> Response:
        version = str(request.path_params.get("version", API_VERSION))
        if version not in SUPPORTED_VERSIONS:
            return error_response(
                SalesforceApiError(404, "NOT_FOUND", "The requested resource does not exist")
            )
        call = Call(request, await request.body(), version)
        try:
            return await run_in_threadpool(handler, call)
        except SalesforceApiError as exc:
            return error_response(exc)

    return run


def bool_param(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"


def split_list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def oauth_error(error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


def method_not_allowed(method: str, allowed: str) -> SalesforceApiError:
    return SalesforceApiError(
        405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are {allowed}"
    )


def too_many() -> SalesforceApiError:
    return SalesforceApiError(
        400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call"
    )


def collection_records(body: dict[str, Any]) -> list[dict[str, Any]]:
    records = body.get("records")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise SalesforceApiError(400, "JSON_PARSER_ERROR", "records must be a list of sObjects")
    if len(records) > MAX_COLLECTION:
        raise too_many()
    return records


def collection_id(raw_id: str) -> str:
    record_id = normalize_id(raw_id)
    if record_id is None:
        raise SalesforceApiError(400, "MALFORMED_ID", f"malformed id {raw_id}", [])
    return record_id


def collection_failure(exc: SalesforceApiError, ext_field: str | None = None) -> SalesforceApiError:
    """Per-record results speak the SOAP status codes: an unknown or deleted Id is ENTITY_IS_DELETED."""
    if exc.error_code in ("NOT_FOUND", "ENTITY_IS_DELETED"):
        return SalesforceApiError(400, "ENTITY_IS_DELETED", "entity is deleted", [])
    if exc.error_code == "MULTIPLE_CHOICES":
        return SalesforceApiError(
            300,
            "DUPLICATE_EXTERNAL_ID",
            f"{ext_field}: more than one record found for external id field: [{', '.join(exc.fields or [])}]",
            [ext_field] if ext_field else [],
        )
    return exc


def query_batch_size(header: str | None) -> int:
    """``Sforce-Query-Options: batchSize=N``: a hint between 200 and 2,000."""
    for part in (header or "").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "batchsize" and value.strip().isdigit():
            return min(max(int(value.strip()), MIN_BATCH), DEFAULT_BATCH)
    return DEFAULT_BATCH


def parse_stamp(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.000%z")


def window_bound(value: str | None, name: str) -> dt.datetime:
    parsed = parse_datetime(value) if value else None
    if parsed is None:
        raise SalesforceApiError(400, "INVALID_REPLICATION_DATE", f"{name} is not a valid dateTime: {value}")
    return parsed


async def not_found(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        error = method_not_allowed(request.method, "GET,HEAD,POST,PATCH,DELETE")
    else:
        error = SalesforceApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return error_response(error)


async def unexpected(request: Request, exc: Exception) -> Response:
    body = [
        {"errorCode": "UNKNOWN_EXCEPTION", "message": f"An unexpected error occurred: {type(exc).__name__}"}
    ]
    return JSONResponse(body, status_code=500)
