"""The Salesforce connector: SOQL extraction (REST or Bulk API 2.0), upserts by external id, checks.

Built on the salesforce provider's ``SalesforceHook`` (so username/password, OAuth, JWT and session
id connections all work) and the unmodified simple-salesforce client. Every HTTP call goes through
one ``requests`` session (:class:`SalesforceTransport`) that sets a timeout, honours an explicit CA,
counts calls by operation, reads ``Sforce-Limit-Info``, stops before the API reserve is touched,
retries 429/5xx/timeouts/lock errors with backoff, and refreshes an expired session once. Handing
the session to the hook covers the REST calls and every step of a Bulk API 2.0 job alike.

Extraction: ``queryAll`` so deletes show up as ``IsDeleted`` rows, ``SystemModstamp >= since -
look-back`` (``>=``: a change in the watermark's own second is never lost), ordered by stamp then
Id, one page per API page. Above a size (``SELECT COUNT()`` with the same filter) a Bulk API 2.0
query job is used instead; its CSV is typed back through describe so both paths yield identical
records. Payloads are flat: ``{"Id": ..., "Name": ..., "Account.SAP_Customer_Number__c": ...}``
keyed exactly as the mapping names the fields, children as a list under their relationship name.

Writes: upsert on the external id through sObject Collections (200 records per call) or, from a
threshold on, a Bulk API 2.0 ingest job whose result files are mapped back to every record.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from typing import Any

import requests
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceOperationError,
)

from connectors.base import (
    ApiUsage,
    CheckResult,
    EntitySource,
    ExtractedRecord,
    Page,
    SalesforceChild,
    SalesforceSource,
    WriteOutcome,
    WriteRecord,
)
from connectors.errors import (
    RETRIABLE_CODES,
    AuthError,
    BudgetExhausted,
    ConfigError,
    ConnectorError,
    RetriableError,
    RetryPolicy,
    RunFatalError,
    call_with_retry,
    redact,
    retry_after_seconds,
)

log = logging.getLogger(__name__)

SYSTEM = "salesforce"
DEFAULT_CONN_ID = "synchub_crm"
EXTRA_PREFIX = "synchub_"
# Bulk API 2.0 CSV: an empty cell leaves a field alone; this marker sets it to null.
BULK_NULL = "#N/A"
# Request-level errors that mean the mapping or the org's setup is wrong, not one record.
CONFIG_CODES = {
    "INVALID_FIELD",
    "INVALID_TYPE",
    "MALFORMED_QUERY",
    "NOT_FOUND",
    "INVALID_QUERY_FILTER_OPERATOR",
}
_STAMP_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z")


# ---------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class SalesforceSettings:
    """Knobs of the Salesforce connector; each can be set in the connection's extra as ``synchub_<name>``.

    - ``lookback_seconds``: overlap subtracted from the watermark (clock skew, same-second writes).
    - ``bulk_query_threshold``: extract through a Bulk API 2.0 query job above this many records.
    - ``bulk_write_threshold``: upsert through Bulk API 2.0 ingest from this many records on.
    - ``collection_size``: records per sObject Collections call (the API allows at most 200).
    - ``query_page_size``: REST query batch size hint (200..2,000; Salesforce's default is 2,000).
    - ``bulk_page_size``: records per Bulk API 2.0 query result page (one Page each).
    - ``child_chunk_size``: parent Ids per ``IN (...)`` list when reading children.
    - ``api_reserve_calls`` / ``api_reserve_percent``: daily API calls left to other integrations;
      the absolute number wins when set.
    - ``request_timeout_seconds``: per HTTP request (simple-salesforce has none by default).
    - ``bulk_poll_seconds``: wait before the first poll of a bulk job, and about as long between
      polls (simple-salesforce's ``wait``); every poll is an API call.
    - ``retry_*``: the bounded exponential backoff of ``connectors.errors.RetryPolicy``.
    - ``ca_bundle``: a CA file to verify the org's certificate with (wins over REQUESTS_CA_BUNDLE).
    """

    lookback_seconds: int = 300
    bulk_query_threshold: int = 10_000
    bulk_write_threshold: int = 2_000
    collection_size: int = 200
    query_page_size: int = 2_000
    bulk_page_size: int = 10_000
    child_chunk_size: int = 300
    api_reserve_calls: int | None = None
    api_reserve_percent: float = 5.0
    request_timeout_seconds: float = 60.0
    bulk_poll_seconds: float = 5.0
    retry_max_attempts: int = 6
    retry_initial_seconds: float = 0.5
    retry_max_seconds: float = 30.0
    retry_max_retry_after: float = 120.0
    ca_bundle: str | None = None

    def __post_init__(self) -> None:
        checks = {
            "lookback_seconds": self.lookback_seconds >= 0,
            "bulk_query_threshold": self.bulk_query_threshold >= 0,
            "bulk_write_threshold": self.bulk_write_threshold >= 1,
            "collection_size": 1 <= self.collection_size <= 200,
            "query_page_size": 200 <= self.query_page_size <= 2_000,
            "bulk_page_size": self.bulk_page_size >= 1,
            "child_chunk_size": self.child_chunk_size >= 1,
            "api_reserve_calls": self.api_reserve_calls is None or self.api_reserve_calls >= 0,
            "api_reserve_percent": 0 <= self.api_reserve_percent < 100,
            "request_timeout_seconds": self.request_timeout_seconds > 0,
            "bulk_poll_seconds": self.bulk_poll_seconds > 0,
            "retry_max_attempts": self.retry_max_attempts >= 1,
            "retry_initial_seconds": self.retry_initial_seconds >= 0,
            "retry_max_seconds": self.retry_max_seconds >= 0,
            "retry_max_retry_after": self.retry_max_retry_after >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"{bad[0]} is out of range: {getattr(self, bad[0])!r}")

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.retry_max_attempts,
            initial_seconds=self.retry_initial_seconds,
            max_seconds=self.retry_max_seconds,
            max_retry_after=self.retry_max_retry_after,
        )

    def reserve(self, limit: int) -> int:
        if self.api_reserve_calls is not None:
            return self.api_reserve_calls
        return math.ceil(limit * self.api_reserve_percent / 100)

    @classmethod
    def from_extras(cls, conn_id: str, extras: Mapping[str, Any]) -> SalesforceSettings:
        """Read ``synchub_<setting>`` extras one by one; empty means default; bad values name the extra."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            extra = EXTRA_PREFIX + f.name
            raw = extras.get(extra)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                continue
            kind = str(f.type)
            try:
                if "int" in kind:
                    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                        raise ValueError
                    values[f.name] = int(str(raw).strip()) if not isinstance(raw, int | float) else int(raw)
                elif "float" in kind:
                    if isinstance(raw, bool):
                        raise ValueError
                    values[f.name] = float(str(raw).strip().rstrip("%"))
                else:
                    values[f.name] = str(raw).strip()
            except ValueError:
                expected = "an integer" if "int" in kind else "a number"
                raise ConfigError(
                    f"connection {conn_id!r}: extra {extra} must be {expected}, got {raw!r}",
                    system=SYSTEM,
                    operation="configure",
                ) from None
        try:
            return cls(**values)
        except ValueError as exc:
            raise ConfigError(
                f"connection {conn_id!r}: extra {EXTRA_PREFIX}{exc}", system=SYSTEM, operation="configure"
            ) from None


# ---------------------------------------------------------------------------------------------- SOQL
_SOQL_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_SOQL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")


# The metadata package of SyncHub's custom fields and the integration user's permission set.
SETUP_KIT = (
    "setup/salesforce (deploy: sf project deploy start --source-dir setup/salesforce/force-app; "
    "then assign the permission set SyncHub_Integration to the integration user)"
)


def soql_literal(value: Any) -> str:
    """A value as a SOQL literal: quoted and escaped strings, UTC datetimes, dates, numbers, booleans, null.

    Every value that goes into a query passes through here, so a value can never change the query.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | decimal.Decimal):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        return format(decimal.Decimal(str(value)), "f")
    if isinstance(value, str):
        return "'" + "".join(_SOQL_ESCAPES.get(ch, ch) for ch in value) + "'"
    raise TypeError(f"no SOQL literal for a {type(value).__name__}")


def soql_name(name: str) -> str:
    """A field or object name from configuration, checked to be a plain (dotted) identifier."""
    if not _SOQL_NAME.match(name):
        raise ConfigError(
            f"not a valid field or object name: {name!r}", system=SYSTEM, operation="build query"
        )
    return name


def _dedupe(names: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for name in names:
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return out


def parse_stamp(value: Any) -> dt.datetime | None:
    """A Salesforce datetime (``2026-11-23T10:00:00.000+0000`` or ``...Z``; an ISO 8601 string or a
    datetime, naive read as UTC) as an aware UTC datetime; None when it is none of these."""
    if not value:
        return None
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    text = str(value).replace("Z", "+0000")
    for fmt in _STAMP_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).astimezone(dt.UTC)
        except ValueError:
            continue
    try:
        stamp = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp.replace(tzinfo=dt.UTC) if stamp.tzinfo is None else stamp.astimezone(dt.UTC)


def record_of(source: SalesforceSource, payload: Mapping[str, Any]) -> ExtractedRecord:
    """A REST record (a dict as a query returns it) as the connector hands records on: its key, its stamp
    (the mapping's stamp field, UTC) and its deletion flag (``IsDeleted``)."""
    return ExtractedRecord(
        key=str(_lookup(payload, source.key)),
        payload=dict(payload),
        stamp=parse_stamp(_lookup(payload, source.stamp)),
        is_deleted=bool(_lookup(payload, "IsDeleted")),
    )


def _lookup(record: Mapping[str, Any], path: str) -> Any:
    """A (dotted) field of a REST record; names match case-insensitively as SOQL does."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        if part in value:
            value = value[part]
            continue
        lowered = part.lower()
        value = next((v for k, v in value.items() if k.lower() == lowered), None)
    return value


# ---------------------------------------------------------------------------------------------- transport
_local = threading.local()


class SalesforceTransport(requests.Session):
    """The one HTTP session under simple-salesforce: timeouts, CA, budget, counting, retry, re-login.

    The connector names the operation in progress (``with transport.operation("query")``); every
    HTTP attempt is counted under it, so a bulk job's create, upload, close, polls and result
    downloads are all counted.
    """

    def __init__(self, settings: SalesforceSettings, usage: ApiUsage) -> None:
        super().__init__()
        self.settings = settings
        self.usage = usage
        self.api_used: int | None = None
        self.api_limit: int | None = None
        # Called with the expired session id; returns a fresh one (or raises AuthError).
        self.refresher: Callable[[str], str] | None = None
        self.secrets: set[str] = set()
        self._lock = threading.Lock()
        self._replaced: dict[str, str] = {}

    @contextmanager
    def operation(self, name: str, entity: str | None = None) -> Iterator[None]:
        previous = getattr(_local, "operation", None)
        _local.operation = (name, entity)
        try:
            yield
        finally:
            _local.operation = previous

    @property
    def current(self) -> tuple[str, str | None]:
        return getattr(_local, "operation", None) or ("request", None)

    def add_secrets(self, *values: str | None) -> None:
        """Values that must never appear in an error or log line (passwords, session ids)."""
        with self._lock:
            self.secrets.update(v for v in values if isinstance(v, str) and v)

    def redact(self, text: str | None) -> str:
        with self._lock:
            secrets = list(self.secrets)
        return redact(text, *secrets)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        operation, entity = self.current
        kwargs.setdefault("timeout", self.settings.request_timeout_seconds)
        if self.settings.ca_bundle and "verify" not in kwargs:
            # Per request, because requests lets REQUESTS_CA_BUNDLE override a session's own ``verify``.
            kwargs["verify"] = self.settings.ca_bundle
        headers = dict(kwargs.pop("headers", None) or {})
        token = self._fresh_token(_bearer(headers))
        if token:
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            headers["Authorization"] = f"Bearer {token}"
        is_api = "/services/data" in str(url)
        refreshed = False
        while True:

            def attempt() -> requests.Response:
                return self._attempt(method, url, operation, entity, is_api, headers, args, kwargs)

            response = call_with_retry(attempt, self.settings.retry, on_retry=self._log_retry)
            if response.status_code == 401 and token and _error_code(response) == "INVALID_SESSION_ID":
                if refreshed or self.refresher is None:
                    raise AuthError(
                        "session expired or invalid, and a fresh login did not help",
                        system=SYSTEM,
                        operation=operation,
                        entity=entity,
                        remote_code="INVALID_SESSION_ID",
                        status=401,
                    )
                log.info("salesforce session expired during %s; logging in again", operation)
                new_token = self.refresher(token)
                self.add_secrets(new_token)
                with self._lock:
                    self._replaced[token] = new_token
                token, refreshed = new_token, True
                headers["Authorization"] = f"Bearer {token}"
                continue
            return response

    def _fresh_token(self, token: str | None) -> str | None:
        """Objects created before a re-login (a bulk handler, say) still carry the old session id."""
        with self._lock:
            seen = set()
            while token in self._replaced and token not in seen:
                seen.add(token)
                token = self._replaced[token]
        return token

    def _check_budget(self, operation: str, entity: str | None) -> None:
        with self._lock:
            used, limit = self.api_used, self.api_limit
        if used is None or limit is None:
            return
        reserve = self.settings.reserve(limit)
        if used >= limit - reserve:
            target = f"{operation} {entity}" if entity else operation
            raise BudgetExhausted(
                f"Salesforce API budget: {used:,} of {limit:,} daily calls used; reserve of {reserve:,} "
                f"reached - stopping before {target}",
                system=SYSTEM,
                operation=operation,
                entity=entity,
            )

    def _attempt(
        self,
        method: str | bytes,
        url: str | bytes,
        operation: str,
        entity: str | None,
        is_api: bool,
        headers: dict[str, str],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> requests.Response:
        if is_api:
            self._check_budget(operation, entity)
        with self._lock:
            self.usage.count(operation)
        parts: dict[str, Any] = {"system": SYSTEM, "operation": operation, "entity": entity}
        try:
            response = super().request(method, url, *args, headers=headers, **kwargs)
        except requests.Timeout:
            raise RetriableError(
                f"no answer within {self.settings.request_timeout_seconds:g} s", **parts
            ) from None
        except requests.exceptions.SSLError as exc:
            raise RunFatalError(f"TLS verification failed: {type(exc).__name__}", **parts) from None
        except requests.ConnectionError as exc:
            raise RetriableError(f"connection failed: {type(exc).__name__}", **parts) from None
        self._read_limit_info(response)
        status = response.status_code
        if status < 400:
            return response
        code, message = _error_parts(response)
        message = self.redact(message)
        if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
            used, limit = self.api_used, self.api_limit
            usage = f" ({used:,} of {limit:,} daily calls used)" if used is not None and limit else ""
            raise BudgetExhausted(
                f"Salesforce API budget exhausted{usage}: {message}", remote_code=code, status=status, **parts
            )
        if status == 429 or status >= 500 or code in RETRIABLE_CODES:
            raise RetriableError(
                message or response.reason or "temporarily unavailable",
                retry_after=retry_after_seconds(response),
                remote_code=code,
                status=status,
                **parts,
            )
        return response

    def _read_limit_info(self, response: requests.Response) -> None:
        info = response.headers.get("Sforce-Limit-Info", "")
        match = re.search(r"(?:^|[;,\s])api-usage=(\d+)/(\d+)", info)
        if match:
            with self._lock:
                self.api_used, self.api_limit = int(match[1]), int(match[2])

    @staticmethod
    def _log_retry(error: RetriableError, attempt: int, delay: float) -> None:
        log.info("salesforce: retrying after %s (attempt %d, waiting %.2f s)", error, attempt, delay)


def _bearer(headers: Mapping[str, str]) -> str | None:
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() in ("bearer", "oauth") and token.strip() else None


def _error_parts(response: requests.Response) -> tuple[str | None, str]:
    """(errorCode, message) of a Salesforce error body, whatever its shape."""
    try:
        body = response.json()
    except ValueError:
        return None, (response.text or "")[:500]
    item = body[0] if isinstance(body, list) and body else body
    if isinstance(item, dict):
        code = item.get("errorCode") or item.get("error")
        message = item.get("message") or item.get("error_description") or ""
        return (str(code) if code else None), str(message)
    return None, str(body)[:500]


def _error_code(response: requests.Response) -> str | None:
    return _error_parts(response)[0]


# ---------------------------------------------------------------------------------------------- describe
@dataclass
class _ObjectInfo:
    name: str
    fields: dict[str, dict[str, Any]]  # lower-cased name -> describe entry
    relationships: dict[str, dict[str, Any]] = field(default_factory=dict)  # lower-cased relationship name

    @classmethod
    def from_describe(cls, body: Mapping[str, Any]) -> _ObjectInfo:
        fields_ = {str(f["name"]).lower(): dict(f) for f in body.get("fields", [])}
        relationships = {
            str(f["relationshipName"]).lower(): dict(f)
            for f in body.get("fields", [])
            if f.get("relationshipName")
        }
        return cls(str(body.get("name")), fields_, relationships)


# ---------------------------------------------------------------------------------------------- the connector
class SalesforceConnector:
    """Extract, reconcile, write and check one Salesforce org (the Connector protocol)."""

    system = SYSTEM

    def __init__(self, hook: Any, settings: SalesforceSettings | None = None, *, conn_id: str = "") -> None:
        """``hook``: a SalesforceHook built with ``session=SalesforceTransport(...)`` (see from_airflow)."""
        self.settings = settings or SalesforceSettings()
        self.conn_id = conn_id or getattr(hook, "conn_id", "")
        self.usage = ApiUsage()
        self._hook = hook
        if not isinstance(getattr(hook, "session", None), SalesforceTransport):
            raise TypeError("the hook must be built with session=SalesforceTransport(...)")
        self.transport: SalesforceTransport = hook.session
        self.transport.usage = self.usage
        self.transport.refresher = self._refresh_session
        self._sf: Any = None
        self._client_lock = threading.RLock()
        self._describe: dict[str, _ObjectInfo] = {}
        self._describe_lock = threading.Lock()

    @classmethod
    def from_airflow(
        cls, conn_id: str = DEFAULT_CONN_ID, settings: SalesforceSettings | None = None
    ) -> SalesforceConnector:
        """A connector on the Airflow connection ``conn_id`` (``AIRFLOW_CONN_SYNCHUB_CRM`` in the env).

        Settings come from the connection's ``synchub_*`` extras unless given. Nothing is called
        until the first operation (so ``check`` can report a failing login as a verdict).
        """
        from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

        try:
            connection = SalesforceHook.get_connection(conn_id)
        except Exception as exc:  # Airflow raises its own not-found type
            raise ConfigError(
                f"Airflow connection {conn_id!r} is not defined ({type(exc).__name__}); "
                f"set AIRFLOW_CONN_{conn_id.upper()} or add it to a secrets backend",
                system=SYSTEM,
                operation="configure",
            ) from None
        if settings is None:
            settings = SalesforceSettings.from_extras(conn_id, connection.extra_dejson)
        transport = SalesforceTransport(settings, ApiUsage())
        extras = connection.extra_dejson
        transport.add_secrets(
            connection.password,
            extras.get("security_token"),
            extras.get("consumer_secret"),
            extras.get("private_key"),
        )
        hook = SalesforceHook(salesforce_conn_id=conn_id, session=transport)
        return cls(hook, settings, conn_id=conn_id)

    # -- client and errors ------------------------------------------------------------------------
    def _client(self) -> Any:
        with self._client_lock:
            if self._sf is None:
                self._sf = self._login()
            return self._sf

    def _login(self) -> Any:
        with self.transport.operation("login"):
            try:
                sf = self._hook.get_conn()
            except ConnectorError:
                raise
            except SalesforceAuthenticationFailed as exc:
                raise AuthError(
                    f"login with connection {self.conn_id!r} failed: "
                    f"{self.transport.redact(exc.auth_message)}",
                    system=SYSTEM,
                    operation="login",
                    remote_code=str(exc.code) if exc.code else None,
                ) from None
            except SalesforceError as exc:
                raise AuthError(
                    f"login with connection {self.conn_id!r} failed: HTTP {exc.status}",
                    system=SYSTEM,
                    operation="login",
                    status=exc.status,
                ) from None
            except (TypeError, ValueError) as exc:
                raise ConfigError(
                    f"connection {self.conn_id!r} cannot be used to log in: "
                    f"{self.transport.redact(str(exc))}",
                    system=SYSTEM,
                    operation="login",
                ) from None
        self.transport.add_secrets(sf.session_id)
        return sf

    def _refresh_session(self, expired: str) -> str:
        """Drop the hook's cached client and log in again (once per expiry; the transport retries)."""
        with self._client_lock:
            if self._sf is not None and self._sf.session_id != expired:
                return str(self._sf.session_id)  # another call already logged in again
            self._hook.__dict__.pop("conn", None)  # SalesforceHook caches the client in a cached_property
            self._sf = self._login()
            return str(self._sf.session_id)

    def _remote_error(self, exc: SalesforceError, operation: str, entity: str | None) -> ConnectorError:
        content = exc.content
        code, message = None, ""
        item = content[0] if isinstance(content, list) and content else content
        if isinstance(item, dict):
            code, message = item.get("errorCode"), str(item.get("message") or "")
        elif isinstance(content, bytes | str):
            message = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
        message = self.transport.redact(message)[:1000]
        parts: dict[str, Any] = {
            "system": SYSTEM,
            "operation": operation,
            "entity": entity,
            "remote_code": code,
            "status": exc.status,
        }
        if exc.status == 401:
            return AuthError(message or "not authorised", **parts)
        if code in CONFIG_CODES or exc.status == 404:
            return ConfigError(message or "not found", **parts)
        return RunFatalError(message or f"HTTP {exc.status}", **parts)

    @contextmanager
    def _calling(self, operation: str, entity: str | None = None) -> Iterator[None]:
        """Name the operation for counting and turn client exceptions into the error model."""
        with self.transport.operation(operation, entity):
            try:
                yield
            except ConnectorError:
                raise
            except SalesforceError as exc:
                raise self._remote_error(exc, operation, entity) from None
            except SalesforceOperationError as exc:
                raise RunFatalError(
                    f"bulk job failed: {self.transport.redact(str(exc))[:1000]}",
                    system=SYSTEM,
                    operation=operation,
                    entity=entity,
                    remote_code="BULK_JOB_FAILED",
                ) from None

    def _query(
        self, soql: str, *, include_deleted: bool, operation: str, entity: str
    ) -> Iterator[list[dict]]:
        """The records of a REST query, one list per API page (``nextRecordsUrl`` followed)."""
        sf = self._client()
        extra: dict[str, Any] = {}
        if self.settings.query_page_size != 2_000:
            extra["headers"] = {"Sforce-Query-Options": f"batchSize={self.settings.query_page_size}"}
        with self._calling(operation, entity):
            result = sf.query(soql, include_deleted=include_deleted, **extra)
        while True:
            yield [dict(r) for r in result.get("records", [])]
            if result.get("done", True) or not result.get("nextRecordsUrl"):
                return
            with self._calling("query_more", entity):
                result = self._client().query_more(result["nextRecordsUrl"], identifier_is_url=True, **extra)

    def _count(self, soql_from_where: str, *, include_deleted: bool, entity: str) -> int:
        with self._calling("count", entity):
            result = self._client().query(
                f"SELECT COUNT() {soql_from_where}", include_deleted=include_deleted
            )
        return int(result.get("totalSize", 0))

    def describe(self, obj: str) -> _ObjectInfo:
        """The object's describe (cached for the connector's life)."""
        key = obj.lower()
        with self._describe_lock:
            cached = self._describe.get(key)
        if cached is not None:
            return cached
        sf = self._client()
        with self._calling("describe", obj):
            body = sf.restful(f"sobjects/{soql_name(obj)}/describe")
        info = _ObjectInfo.from_describe(body or {})
        with self._describe_lock:
            self._describe[key] = info
        return info

    def _field_type(self, obj: str, path: str) -> str:
        """The describe type of a (dotted) field path, following parent relationships."""
        info = self.describe(obj)
        parts = path.split(".")
        for rel in parts[:-1]:
            ref = info.relationships.get(rel.lower())
            targets = (ref or {}).get("referenceTo") or []
            if not targets:
                return "string"
            info = self.describe(str(targets[0]))
        entry = info.fields.get(parts[-1].lower())
        return str(entry["type"]) if entry else "string"

    # -- extraction -------------------------------------------------------------------------------
    def _select(self, src: SalesforceSource) -> tuple[list[str], list[str]]:
        """(fields to SELECT, fields that make up the payload)."""
        payload = _dedupe([src.key, *src.fields, *([src.external_id] if src.external_id else [])])
        select = _dedupe([*payload, src.stamp, "IsDeleted"])
        return [soql_name(f) for f in select], payload

    def _where(self, src: SalesforceSource, since: dt.datetime | None) -> str:
        clauses = []
        if src.where:
            clauses.append(f"({src.where})")
        if since is not None:
            if since.tzinfo is None:
                since = since.replace(tzinfo=dt.UTC)
            bound = since - dt.timedelta(seconds=self.settings.lookback_seconds)
            clauses.append(f"{soql_name(src.stamp)} >= {soql_literal(bound)}")
        return f" WHERE {' AND '.join(clauses)}" if clauses else ""

    def extract_changed(self, entity: EntitySource, since: dt.datetime | None) -> Iterator[Page]:
        """Pages of records changed at or after ``since`` - look-back (all when None), deletes included.

        Parents whose children alone changed come first, in pages without a ``max_stamp`` (their
        own stamps may be older than the watermark, so they must not move it).
        """
        src = entity.salesforce
        select, payload_fields = self._select(src)
        obj = soql_name(src.object)
        where = self._where(src, since)
        emitted: set[str] = set()
        pages = records = 0
        if since is not None and src.children:
            for page in self._parents_of_changed_children(entity, since, select, payload_fields):
                emitted.update(r.key for r in page.records)
                pages, records = pages + 1, records + len(page.records)
                yield page
        soql = f"SELECT {', '.join(select)} FROM {obj}{where}"
        use_bulk = (
            self._count(f"FROM {obj}{where}", include_deleted=True, entity=obj)
            > self.settings.bulk_query_threshold
        )
        # Bulk API 2.0 does not support ORDER BY (and it would disable PK chunking: "Understanding Bulk
        # API 2.0 Query", SOQL considerations): its pages come in no stamp order, so they are marked
        # unordered and the watermark moves only once all of them are stored. REST pages are ordered.
        rows = (
            self._bulk_rows(obj, soql, select, include_deleted=True)
            if use_bulk
            else self._query(
                f"{soql} ORDER BY {soql_name(src.stamp)}, Id",
                include_deleted=True,
                operation="query",
                entity=obj,
            )
        )
        for batch in rows:
            page = self._page(entity, batch, select, payload_fields, skip=emitted, ordered=not use_bulk)
            if use_bulk:  # a record met twice (chunks of a changing table) is given once
                emitted.update(r.key for r in page.records)
            pages, records = pages + 1, records + len(page.records)
            log.info(
                "salesforce extract %s: page %d, %d records (%d so far) via %s; %d API calls",
                obj,
                pages,
                len(page.records),
                records,
                "bulk" if use_bulk else "REST",
                self.usage.calls,
            )
            yield page

    def _page(
        self,
        entity: EntitySource,
        rows: list[dict[str, Any]],
        select: list[str],
        payload_fields: list[str],
        *,
        skip: Collection[str] = (),
        move_watermark: bool = True,
        ordered: bool = False,
    ) -> Page:
        src = entity.salesforce
        out: list[ExtractedRecord] = []
        max_stamp: dt.datetime | None = None
        for row in rows:
            stamp = parse_stamp(_lookup(row, src.stamp))
            if stamp is not None and (max_stamp is None or stamp > max_stamp):
                max_stamp = stamp
            key = str(_lookup(row, src.key))
            if key in skip:
                continue
            out.append(
                ExtractedRecord(
                    key=key,
                    payload={name: _lookup(row, name) for name in payload_fields},
                    stamp=stamp,
                    is_deleted=bool(_lookup(row, "IsDeleted")),
                )
            )
        for child in src.children:
            self._attach_children(child, out)
        return Page(SYSTEM, entity.entity, out, max_stamp if move_watermark else None, ordered=ordered)

    def _child_select(self, child: SalesforceChild) -> list[str]:
        names = ["Id", child.parent_field, *child.fields, *([child.external_id] if child.external_id else [])]
        return [soql_name(n) for n in _dedupe(names)]

    def _attach_children(self, child: SalesforceChild, parents: list[ExtractedRecord]) -> None:
        """Read the live children of a page of parents (chunked ``IN`` lists) into ``relationship``."""
        live = [p for p in parents if not p.is_deleted]
        for parent in parents:
            parent.payload[child.relationship] = []
        by_key = {p.key: p for p in live}
        select = self._child_select(child)
        size = self.settings.child_chunk_size
        keys = list(by_key)
        for start in range(0, len(keys), size):
            ids = ", ".join(soql_literal(k) for k in keys[start : start + size])
            soql = (
                f"SELECT {', '.join(select)} FROM {soql_name(child.object)} "
                f"WHERE {soql_name(child.parent_field)} IN ({ids}) ORDER BY Id"
            )
            for rows in self._query(soql, include_deleted=False, operation="query", entity=child.object):
                for row in rows:
                    parent = by_key.get(str(_lookup(row, child.parent_field)))
                    if parent is not None:
                        parent.payload[child.relationship].append({n: _lookup(row, n) for n in select})

    def _parents_of_changed_children(
        self, entity: EntitySource, since: dt.datetime, select: list[str], payload_fields: list[str]
    ) -> Iterator[Page]:
        src = entity.salesforce
        parent_ids: set[str] = set()
        for child in src.children:
            # Children carry their own SystemModstamp; deleted children count as changes too.
            child_src = replace(src, object=child.object, stamp="SystemModstamp", where=None)
            soql = (
                f"SELECT {soql_name(child.parent_field)} FROM {soql_name(child.object)}"
                f"{self._where(child_src, since)}"
            )
            for rows in self._query(soql, include_deleted=True, operation="query", entity=child.object):
                parent_ids.update(str(v) for r in rows if (v := _lookup(r, child.parent_field)))
        ids = sorted(parent_ids)
        size = self.settings.child_chunk_size
        for start in range(0, len(ids), size):
            keys = ", ".join(soql_literal(k) for k in ids[start : start + size])
            where = f" WHERE ({src.where}) AND Id IN ({keys})" if src.where else f" WHERE Id IN ({keys})"
            soql = f"SELECT {', '.join(select)} FROM {soql_name(src.object)}{where} ORDER BY Id"
            for rows in self._query(soql, include_deleted=True, operation="query", entity=src.object):
                yield self._page(entity, rows, select, payload_fields, move_watermark=False)

    def _bulk_rows(
        self, obj: str, soql: str, select: list[str], *, include_deleted: bool
    ) -> Iterator[list[dict[str, Any]]]:
        """A Bulk API 2.0 query job, page by page, typed back to REST values through describe."""
        types = {name: self._field_type(obj, name) for name in select}
        handler = getattr(self._client().bulk2, obj)
        run = handler.query_all if include_deleted else handler.query
        pages = run(soql, max_records=self.settings.bulk_page_size, wait=self.settings.bulk_poll_seconds)
        while True:
            with self._calling("bulk_query", obj):
                try:
                    text = next(pages)
                except StopIteration:
                    return
            yield _typed_rows(str(text), select, types)

    def extract_all_keys(self, entity: EntitySource) -> Iterator[list[str]]:
        """Pages of the Ids of every live record, for full reconciliation and delete detection."""
        src = entity.salesforce
        obj = soql_name(src.object)
        where = f" WHERE ({src.where})" if src.where else ""
        key = soql_name(src.key)
        soql = f"SELECT {key} FROM {obj}{where}"
        if (
            self._count(f"FROM {obj}{where}", include_deleted=False, entity=obj)
            > self.settings.bulk_query_threshold
        ):
            rows = self._bulk_rows(obj, soql, [key], include_deleted=False)
        else:
            rows = self._query(soql, include_deleted=False, operation="query", entity=obj)
        for batch in rows:
            yield [str(_lookup(r, key)) for r in batch]

    def read_keys(self, entity: EntitySource, keys: Sequence[str]) -> list[ExtractedRecord]:
        """The live records with these Ids, with their children, as ``extract_changed`` gives them."""
        src = entity.salesforce
        select, payload_fields = self._select(src)
        wanted = _dedupe(str(k) for k in keys)
        out: list[ExtractedRecord] = []
        size = self.settings.child_chunk_size
        for start in range(0, len(wanted), size):
            literals = ", ".join(soql_literal(k) for k in wanted[start : start + size])
            where = f" AND ({src.where})" if src.where else ""
            soql = (
                f"SELECT {', '.join(select)} FROM {soql_name(src.object)} "
                f"WHERE {soql_name(src.key)} IN ({literals}){where}"
            )
            for rows in self._query(soql, include_deleted=False, operation="query", entity=src.object):
                out += self._page(entity, rows, select, payload_fields).records
        return out

    def keys_for_external_ids(self, entity: EntitySource, external_ids: Sequence[str]) -> dict[str, str]:
        """Live records' Ids by external id (as stored), e.g. to fill the cross-reference."""
        src = entity.salesforce
        if not src.external_id:
            raise ConfigError(
                "the mapping names no external id", system=SYSTEM, operation="lookup", entity=src.object
            )
        ext = soql_name(src.external_id)
        found: dict[str, str] = {}
        values = _dedupe(str(v) for v in external_ids)
        size = self.settings.child_chunk_size
        for start in range(0, len(values), size):
            literals = ", ".join(soql_literal(v) for v in values[start : start + size])
            soql = f"SELECT Id, {ext} FROM {soql_name(src.object)} WHERE {ext} IN ({literals})"
            for rows in self._query(soql, include_deleted=False, operation="query", entity=src.object):
                found.update({str(_lookup(r, ext)): str(_lookup(r, "Id")) for r in rows})
        return found

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
            if any(r.expected is None or not _same(r.fields, r.expected) for r in records)
            else None
        )
        pending: list[_Pending] = []
        for i, rec in enumerate(records):
            if rec.expected is not None and _same(rec.fields, rec.expected):
                outcomes[i] = WriteOutcome(rec.key, "unchanged", remote_key=rec.remote_key)
                continue
            assert info is not None
            if rec.remote_key is not None:
                send, problem = _fields_to_send(info, rec)
                problem = problem or _type_problem(info, rec.fields)
                if problem:
                    outcomes[i] = _failed(rec, "INVALID_FIELD_FOR_INSERT_UPDATE", problem)
                    continue
                send = {k: v for k, v in send.items() if k.lower() != "id"}
                pending.append(_Pending(i, rec, str(rec.remote_key), {"Id": rec.remote_key, **send}, "Id"))
                continue
            value = next((v for k, v in rec.fields.items() if k.lower() == ext.lower()), None)
            if value is None or str(value).strip() == "":
                outcomes[i] = _failed(
                    rec,
                    "MISSING_EXTERNAL_ID",
                    f"{obj}.{ext} is required to upsert but the record has no value",
                )
                continue
            problem = _type_problem(info, rec.fields)
            if problem:
                outcomes[i] = _failed(rec, "INVALID_TYPE_ON_FIELD_IN_RECORD", problem)
                continue
            send, problem = _fields_to_send(info, rec)
            if problem:
                outcomes[i] = _failed(rec, "INVALID_FIELD_FOR_INSERT_UPDATE", problem)
                continue
            pending.append(_Pending(i, rec, str(value), send, ext))
        counts: dict[tuple[str, str], int] = {}
        for item in pending:
            ident = (item.key_field, item.ext_value.lower())
            counts[ident] = counts.get(ident, 0) + 1
        by_key_field: dict[str, list[_Pending]] = {}
        for item in pending:
            n = counts[(item.key_field, item.ext_value.lower())]
            if n > 1:
                outcomes[item.index] = _failed(
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

    def _upsert(self, obj: str, ext: str, items: list[_Pending]) -> list[WriteOutcome]:
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

    def _collections_upsert(self, obj: str, ext: str, items: list[_Pending]) -> list[WriteOutcome]:
        size = self.settings.collection_size
        out: list[WriteOutcome] = []
        for start in range(0, len(items), size):
            out.extend(self._collection_call(obj, ext, items[start : start + size]))
        return out

    def _collection_call(self, obj: str, ext: str, items: list[_Pending]) -> list[WriteOutcome]:
        body = {
            "allOrNone": False,
            "records": [
                {"attributes": {"type": obj}, **{k: _json_value(v) for k, v in item.fields.items()}}
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
                return [_failed(items[0].record, exc.remote_code or "UNKNOWN", exc.message)]
            half = len(items) // 2
            left = self._collection_call(obj, ext, items[:half])
            return left + self._collection_call(obj, ext, items[half:])
        results = list(results or [])
        out = []
        for n, item in enumerate(items):
            rec = item.record
            result = dict(results[n]) if n < len(results) else None
            if result is None:
                out.append(_failed(rec, "RESULT_MISSING", "the collections call returned no result for it"))
            elif result.get("success"):
                status = "created" if result.get("created") else "updated"
                out.append(WriteOutcome(rec.key, status, remote_key=result.get("id")))
            else:
                errors = [dict(e) for e in result.get("errors") or [{}]]
                message = "; ".join(self.transport.redact(str(e.get("message", ""))) for e in errors)
                code = errors[0].get("statusCode") or "UNKNOWN"
                out.append(WriteOutcome(rec.key, "failed", result.get("id") or rec.remote_key, code, message))
        return out

    def _bulk_upsert(self, obj: str, ext: str, items: list[_Pending]) -> list[WriteOutcome]:
        """One Bulk API 2.0 upsert job; every record's outcome from the result files, never silently lost."""
        rows = [_csv_row(item.fields) for item in items]
        handler = getattr(self._client().bulk2, obj)
        try:
            with self._calling("bulk_ingest", obj):
                jobs = handler.upsert(
                    records=rows, external_id_field=ext, wait=self.settings.bulk_poll_seconds
                )
        except RunFatalError as exc:
            if exc.remote_code != "BULK_JOB_FAILED":
                raise
            return [_failed(item.record, "BULK_JOB_FAILED", exc.message) for item in items]
        succeeded: dict[str, tuple[str, bool]] = {}
        failed: dict[str, tuple[str, str, str]] = {}
        for job in jobs:
            job_id = job["job_id"]
            processed = int(job.get("numberRecordsProcessed", 0))
            failures = int(job.get("numberRecordsFailed", 0))
            with self._calling("bulk_ingest", obj):
                # Result files are only fetched when they can hold rows: each download is an API call.
                if processed > failures:
                    for row in _csv_dicts(handler.get_successful_records(job_id)):
                        created = row.get("sf__Created", "").lower() == "true"
                        succeeded[_get_ci(row, ext).lower()] = (row.get("sf__Id", ""), created)
                if failures:
                    for row in _csv_dicts(handler.get_failed_records(job_id)):
                        code, message = _bulk_error(row.get("sf__Error", ""))
                        entry = (row.get("sf__Id", ""), code, self.transport.redact(message))
                        failed[_get_ci(row, ext).lower()] = entry
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
                    _failed(
                        rec,
                        "BULK_RESULT_MISSING",
                        f"the bulk job reported neither success nor failure for {obj}.{ext} = "
                        f"{item.ext_value!r}",
                    )
                )
        return out

    # -- checks -----------------------------------------------------------------------------------
    def check(self, entities: Sequence[EntitySource]) -> list[CheckResult]:
        """Auth, reachability (limits), metadata (describe) and the mapped fields, one verdict each."""
        results: list[CheckResult] = []
        try:
            sf = self._client()
        except ConnectorError as exc:
            return [CheckResult(SYSTEM, "auth", False, str(exc))]
        results.append(
            CheckResult(SYSTEM, "auth", True, f"logged in to {sf.sf_instance} (API v{sf.sf_version})")
        )
        try:
            with self._calling("limits"):
                limits = sf.limits()
            daily = dict(limits.get("DailyApiRequests") or {})
            results.append(
                CheckResult(
                    SYSTEM,
                    "reachability",
                    True,
                    f"daily API requests: {daily.get('Remaining', '?'):,} of {daily.get('Max', '?'):,} left"
                    if isinstance(daily.get("Max"), int)
                    else "limits answered",
                )
            )
        except ConnectorError as exc:
            results.append(CheckResult(SYSTEM, "reachability", False, str(exc)))
            return results
        for entity in entities:
            results.extend(self._check_entity(entity))
        return results

    def _check_entity(self, entity: EntitySource) -> list[CheckResult]:
        src = entity.salesforce
        objects = [src.object, *(c.object for c in src.children)]
        missing_objects = []
        for obj in objects:
            try:
                self.describe(obj)
            except ConnectorError as exc:
                missing_objects.append(f"{obj}: {exc.message}")
        if missing_objects:
            return [CheckResult(SYSTEM, f"metadata:{entity.entity}", False, "; ".join(missing_objects))]
        results = [CheckResult(SYSTEM, f"metadata:{entity.entity}", True, f"described {', '.join(objects)}")]
        problems: list[str] = []
        reads = [(src.object, f) for f in _dedupe([src.key, src.stamp, "IsDeleted", *src.fields])]
        for child in src.children:
            reads += [(child.object, f) for f in _dedupe(["Id", child.parent_field, *child.fields])]
        for obj, path in reads:
            problem = self._path_problem(obj, path)
            if problem:
                problems.append(problem)
        if src.external_id:
            entry = self.describe(src.object).fields.get(src.external_id.lower())
            if entry is None:
                problems.append(f"{src.object}.{src.external_id} does not exist")
            elif not entry.get("externalId") and entry.get("name") != "Id":
                problems.append(f"{src.object}.{src.external_id} is not an External ID field")
        if any("__c" in problem and "does not exist" in problem for problem in problems):
            problems.append(f"SyncHub's custom fields are added by the metadata package: {SETUP_KIT}")
        results.append(
            CheckResult(
                SYSTEM,
                f"fields:{entity.entity}",
                not problems,
                "; ".join(problems) or f"{len(reads)} mapped fields exist",
            )
        )
        not_writable, notes = [], []
        info = self.describe(src.object)
        for name in src.writable:
            entry = info.fields.get(name.lower())
            if entry is None:
                not_writable.append(f"{src.object}.{name} does not exist")
            elif not entry.get("createable") and not entry.get("updateable"):
                not_writable.append(f"{src.object}.{name} is neither createable nor updateable")
            elif not entry.get("updateable"):
                notes.append(f"{src.object}.{name} is create-only (left out when updating known records)")
            elif not entry.get("createable"):
                notes.append(f"{src.object}.{name} is update-only")
        detail = "; ".join(not_writable + notes) or f"{len(src.writable)} fields can be created and updated"
        results.append(CheckResult(SYSTEM, f"writable:{entity.entity}", not not_writable, detail))
        return results

    def _path_problem(self, obj: str, path: str) -> str | None:
        info = self.describe(obj)
        parts = path.split(".")
        where = obj
        for rel in parts[:-1]:
            ref = info.relationships.get(rel.lower())
            if ref is None or not ref.get("referenceTo"):
                return f"{obj}.{path}: {where} has no relationship {rel}"
            where = str(ref["referenceTo"][0])
            try:
                info = self.describe(where)
            except ConnectorError:
                return f"{obj}.{path}: object {where} cannot be described"
        if parts[-1].lower() not in info.fields:
            return f"{obj}.{path} does not exist" + (f" (on {where})" if where != obj else "")
        return None


# ---------------------------------------------------------------------------------------------- values
@dataclass
class _Pending:
    """A record on its way to the org: where it sits in the batch, its external id, the fields to send."""

    index: int
    record: WriteRecord
    ext_value: str
    fields: dict[str, Any]
    key_field: str  # what the upsert matches on: the external id, or Id for a known record


def _failed(rec: WriteRecord, code: str, message: str) -> WriteOutcome:
    return WriteOutcome(rec.key, "failed", remote_key=rec.remote_key, error_code=code, error_message=message)


_TEXT_KINDS = {
    "string",
    "textarea",
    "picklist",
    "multipicklist",
    "combobox",
    "phone",
    "url",
    "email",
    "encryptedstring",
    "id",
    "reference",
}
_NUMBER_KINDS = {"double", "currency", "percent"}


def _type_problem(info: _ObjectInfo, fields_: Mapping[str, Any]) -> str | None:
    """Why a value cannot be sent as its field's type, or None.

    Salesforce rejects a whole collections call when one value does not deserialize
    (JSON_PARSER_ERROR); checking against describe first keeps that record's failure its own.
    """
    for key, value in fields_.items():
        entry = info.fields.get(key.lower())
        if entry is None or value is None or isinstance(value, Mapping):
            continue  # unknown fields and parent references are judged by the org, per record
        kind = str(entry.get("type"))
        if kind == "boolean":
            ok = isinstance(value, bool)
        elif kind == "int":
            ok = not isinstance(value, bool) and (
                isinstance(value, int) or (isinstance(value, float | decimal.Decimal) and value == int(value))
            )
        elif kind in _NUMBER_KINDS:
            ok = not isinstance(value, bool) and isinstance(value, int | float | decimal.Decimal)
        elif kind in ("date", "datetime"):
            ok = isinstance(value, str | dt.date)
        elif kind in _TEXT_KINDS:
            ok = not isinstance(value, bool) and isinstance(value, str | int | float | decimal.Decimal)
        else:
            ok = True
        if not ok:
            name = f"{info.name}.{entry['name']}"
            return f"{name} is a {kind} field; a {type(value).__name__} cannot be written to it"
    return None


def _fields_to_send(info: _ObjectInfo, rec: WriteRecord) -> tuple[dict[str, Any], str | None]:
    """The fields for an upsert; create-only fields are left out for records that already exist.

    A create-only field (e.g. PricebookEntry.Product2Id) sent in an update fails the record, so a
    known record (``remote_key`` set) leaves it out - unless the caller wants it changed.
    """
    if rec.remote_key is None:
        return dict(rec.fields), None
    expected = {k.lower(): v for k, v in (rec.expected or {}).items()}
    send: dict[str, Any] = {}
    for key, value in rec.fields.items():
        entry = info.fields.get(key.lower())
        if entry is not None and entry.get("createable") and not entry.get("updateable"):
            if key.lower() in expected and _json_value(expected[key.lower()]) != _json_value(value):
                return {}, f"{info.name}.{entry['name']} can only be set when the record is created"
            continue
        send[key] = value
    return send, None


def _json_value(value: Any) -> Any:
    """A Python value as Salesforce REST JSON takes it."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {k: _json_value(v) for k, v in value.items()}
    return value


def _csv_cell(value: Any) -> str:
    value = _json_value(value)
    if value is None:
        return BULK_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _csv_row(fields_: Mapping[str, Any]) -> dict[str, str]:
    """One Bulk CSV row: nulls as ``#N/A``; a parent reference by external id as ``Rel.ExtField``."""
    row: dict[str, str] = {}
    for key, value in fields_.items():
        if isinstance(value, Mapping):
            pairs = [(k, v) for k, v in value.items() if k != "attributes"]
            if len(pairs) == 1:
                row[f"{key}.{pairs[0][0]}"] = _csv_cell(pairs[0][1])
                continue
        row[key] = _csv_cell(value)
    return row


def _same(fields_: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
    """True when every field to write already has that value (``expected`` as last read)."""
    lowered = {k.lower(): v for k, v in expected.items()}
    for key, value in fields_.items():
        if key.lower() not in lowered:
            return False
        a, b = _json_value(value), _json_value(lowered[key.lower()])
        if a != b and not (a in (None, "") and b in (None, "")):
            return False
    return True


def _typed(cell: str, kind: str) -> Any:
    """A Bulk API 2.0 CSV cell as the REST API would return the value."""
    if cell == "":
        return None
    if kind == "boolean":
        return cell.lower() == "true"
    if kind == "int":
        return int(float(cell))
    if kind in ("double", "currency", "percent"):
        return float(cell)
    if kind == "datetime" and cell.endswith("Z"):
        return cell[:-1] + "+0000"
    return cell


def _typed_rows(text: str, select: list[str], types: Mapping[str, str]) -> list[dict[str, Any]]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        return []
    index = {name.lower(): i for i, name in enumerate(header)}
    columns = [(name, index.get(name.lower()), types.get(name, "string")) for name in select]
    rows = []
    for cells in reader:
        if not cells:
            continue
        row: dict[str, Any] = {}
        for name, i, kind in columns:
            value = _typed(cells[i], kind) if i is not None and i < len(cells) else None
            # The nested REST shape (Account.Name -> {"Account": {"Name": ...}}): both paths share _lookup.
            target = row
            parts = name.split(".")
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = value
        rows.append(row)
    return rows


def _csv_dicts(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text or "")))


def _get_ci(row: Mapping[str, str], name: str) -> str:
    if name in row:
        return row[name] or ""
    return next((v or "" for k, v in row.items() if k.lower() == name.lower()), "")


def _bulk_error(cell: str) -> tuple[str, str]:
    """``CODE:message:Field1,Field2 --`` -> (CODE, message)."""
    text = cell.strip()
    if text.endswith("--"):
        text = text[:-2].rstrip()
    code, _, rest = text.partition(":")
    message = rest
    if ":" in rest:
        head, _, tail = rest.rpartition(":")
        if not tail or re.fullmatch(r"[A-Za-z0-9_.,]+", tail.strip()):
            message = head
    return (code.strip() or "UNKNOWN"), message.strip()
