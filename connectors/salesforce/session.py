"""HTTP to Salesforce: one requests session (timeouts, CA, call counts, API budget, retries, session
refresh), the login through the provider's hook, and the error model."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import requests
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceOperationError,
)

from connectors.base import (
    ApiUsage,
)
from connectors.errors import (
    RETRIABLE_CODES,
    AuthError,
    BudgetExhausted,
    ConfigError,
    ConnectorError,
    RetriableError,
    RunFatalError,
    call_with_retry,
    redact,
    retry_after_seconds,
)
from connectors.salesforce.settings import CONFIG_CODES, SYSTEM, SalesforceSettings, log
from connectors.salesforce.soql import soql_name
from connectors.salesforce.values import ObjectInfo

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


class Session:
    """The connector's client: login, a refreshed session, queries and describe, errors in the error model."""

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

    def describe(self, obj: str) -> ObjectInfo:
        """The object's describe (cached for the connector's life)."""
        key = obj.lower()
        with self._describe_lock:
            cached = self._describe.get(key)
        if cached is not None:
            return cached
        sf = self._client()
        with self._calling("describe", obj):
            body = sf.restful(f"sobjects/{soql_name(obj)}/describe")
        info = ObjectInfo.from_describe(body or {})
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
