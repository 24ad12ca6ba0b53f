"""HTTP to SAP Gateway: the requests session, a pyodata client per service, retries, CSRF tokens, errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyodata
import requests
from lxml import etree
from pyodata.exceptions import HttpError, PyODataException
from pyodata.v2 import model as odata_model
from pyodata.v2.service import (
    Service,
)

from connectors.errors import (
    RETRIABLE_STATUS,
    AuthError,
    ConfigError,
    RecordError,
    RetriableError,
    call_with_retry,
    parse_retry_after,
    redact,
)
from connectors.sap.settings import SYSTEM, T, log


class SapSession(requests.Session):
    """A requests session with a default timeout and a CA bundle that the environment cannot override.

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace a session's own ``verify`` on every
    request; a CA named by the connection must win, so it is put back after the environment merge
    (proxies from the environment still apply).
    """

    def __init__(self, *, timeout: float, ca_bundle: str | None = None) -> None:
        super().__init__()
        self.timeout = timeout
        self.pinned_verify = ca_bundle
        if ca_bundle:
            self.verify = ca_bundle

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)  # pyodata never passes one
        return super().request(method, url, *args, **kwargs)

    def merge_environment_settings(self, url, proxies, stream, verify, cert):  # noqa: ANN001, ANN201
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if self.pinned_verify:
            settings["verify"] = self.pinned_verify
        return settings


class _CsrfRequired(Exception):
    """SAP refused a write for a missing or expired CSRF token (403 with ``x-csrf-token: Required``)."""


@dataclass
class Gateway:
    name: str
    url: str
    client: Service
    etag_types: frozenset[str]  # entity type names with a ConcurrencyMode="Fixed" property

    def entity_set(self, name: str, entity: str | None = None) -> odata_model.EntitySet:
        try:
            return self.client.schema.entity_set(name)
        except KeyError:
            raise ConfigError(
                f"service {self.name} has no entity set {name}",
                system=SYSTEM,
                operation="metadata",
                entity=entity,
            ) from None

    def has_etag(self, entity_set: odata_model.EntitySet) -> bool:
        return entity_set.entity_type.name in self.etag_types

    def nav_target(
        self, entity_set: odata_model.EntitySet, nav_name: str
    ) -> tuple[odata_model.EntitySet, bool]:
        """The entity set a navigation leads to, and whether it is to-many."""
        nav = entity_set.entity_type.nav_proprty(nav_name)
        association_set = self.client.schema.association_set_by_association(
            nav.association_info.name, nav.association_info.namespace
        )
        end = association_set.end_by_role(nav.to_role.role)
        many = nav.to_role.multiplicity == odata_model.EndRole.MULTIPLICITY_ZERO_OR_MORE
        return self.client.schema.entity_set(end.entity_set_name), many


def sap_error(content: bytes | str | None) -> tuple[str | None, str]:
    """(code, message) of SAP Gateway's JSON error body; the first error detail is added when it says more."""
    if not content:
        return None, ""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    try:
        error = json.loads(text)["error"]
    except (ValueError, KeyError, TypeError):
        stripped = re.sub(r"<[^>]+>", " ", text)
        return None, redact(" ".join(stripped.split()))[:300]
    code = error.get("code")
    message = error.get("message")
    message = message.get("value", "") if isinstance(message, dict) else str(message or "")
    details = (error.get("innererror") or {}).get("errordetails") or []
    if details and isinstance(details[0], dict):
        detail = str(details[0].get("message") or "")
        if detail and detail != message:
            message = f"{message} ({detail})" if message else detail
    return code, redact(message)


def _header(headers: Any, name: str) -> str:
    if headers is None:
        return ""
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return str(value or "")


def retry_after_of(headers: Any) -> float | None:
    """The Retry-After of an answer's headers (a response's, or a ``$batch`` part's), in seconds."""
    return parse_retry_after(_header(headers, "retry-after"))


def and_filters(*expressions: str | None) -> str | None:
    parts = [f"({e})" for e in expressions if e]
    return " and ".join(parts) or None


def _etag_types(metadata: bytes) -> frozenset[str]:
    """Entity types with a property in ``ConcurrencyMode="Fixed"``: SAP sends them with an ETag."""
    root = etree.fromstring(metadata)
    names = set()
    for node in root.iter("{*}EntityType"):
        if any(p.get("ConcurrencyMode") == "Fixed" for p in node.iter("{*}Property")):
            names.add(node.get("Name"))
    return frozenset(names)


class Transport:
    """The connector's HTTP plumbing: every call counted, retried and turned into the error model."""

    def _count(self, operation: str) -> None:
        with self._lock:
            self.usage.count(operation)

    def _error_parts(
        self, operation: str, entity: str | None, record_key: str | None = None
    ) -> dict[str, Any]:
        return {"system": SYSTEM, "operation": operation, "entity": entity, "record_key": record_key}

    def _raise_for(self, response: Any, operation: str, entity: str | None, *, reading: bool) -> None:
        """Turn an unexpected HTTP answer into the error model (raises)."""
        status = int(response.status_code)
        headers = response.headers
        parts = self._error_parts(operation, entity)
        code, message = sap_error(response.content)
        if status == 401:
            raise AuthError(
                f"logon as user {self.user!r} failed (connection {self.conn_id!r}): check login, password "
                "and sap-client",
                remote_code=code,
                status=status,
                **parts,
            )
        if status == 403 and _header(headers, "x-csrf-token").lower() == "required":
            raise _CsrfRequired()
        if status in RETRIABLE_STATUS or status >= 500:
            raise RetriableError(
                message or f"HTTP {status}",
                retry_after=retry_after_of(headers),
                remote_code=code,
                status=status,
                **parts,
            )
        if status == 403:
            raise AuthError(
                f"user {self.user!r} is not authorised (connection {self.conn_id!r}): {message}",
                remote_code=code,
                status=status,
                **parts,
            )
        if reading:
            raise ConfigError(message or f"HTTP {status}", remote_code=code, status=status, **parts)
        raise RecordError(message or f"HTTP {status}", remote_code=code, status=status, **parts)

    def _attempt(
        self,
        operation: str,
        fn: Callable[[], T],
        entity: str | None,
        reading: bool,
        uncounted: Callable[[], bool] | None = None,
    ) -> T:
        """One HTTP call, counted; transport failures and HTTP errors mapped to the error model.

        ``uncounted`` says when ``fn`` will make no call this time (nothing left to send)."""
        if uncounted is None or not uncounted():
            self._count(operation)
        parts = self._error_parts(operation, entity)
        try:
            return fn()
        except requests.exceptions.SSLError as exc:
            raise ConfigError(
                f"TLS verification of {self.base_url} failed (connection {self.conn_id!r}; name the CA "
                f"in the ca_bundle extra): {type(exc).__name__}",
                **parts,
            ) from None
        except requests.Timeout:
            raise RetriableError(
                f"no answer within {self.settings.timeout:g}s", remote_code="TIMEOUT", **parts
            ) from None
        except requests.ConnectionError as exc:
            raise RetriableError(
                f"connection failed: {type(exc).__name__}", remote_code="CONNECTION", **parts
            ) from None
        except HttpError as exc:
            self._raise_for(exc.response, operation, entity, reading=reading)
            raise  # pragma: no cover - _raise_for always raises

    def _call(
        self,
        operation: str,
        fn: Callable[[], T],
        *,
        service: Gateway | None = None,
        entity: str | None = None,
        reading: bool = True,
        on_retry: Callable[[RetriableError], None] | None = None,
        uncounted: Callable[[], bool] | None = None,
    ) -> T:
        """``fn`` (one HTTP call) with retries, and one CSRF token refresh when SAP asks for it."""

        def retrying(error: RetriableError, attempt: int, delay: float) -> None:
            log.warning(
                "sap %s %s: attempt %d failed (%s); retrying in %.1fs",
                operation,
                entity or "",
                attempt,
                error,
                delay,
            )
            if on_retry is not None:
                on_retry(error)

        refreshed = False
        while True:
            try:
                return call_with_retry(
                    lambda: self._attempt(operation, fn, entity, reading, uncounted),
                    self.settings.retry,
                    on_retry=retrying,
                )
            except _CsrfRequired:
                if refreshed or service is None:
                    raise AuthError(
                        "SAP rejected a freshly fetched CSRF token", **self._error_parts(operation, entity)
                    ) from None
                refreshed = True
                log.info("sap: CSRF token expired; fetching a new one")
                self._fetch_csrf(service)

    def _service(self, name: str, entity: str | None = None) -> Gateway:
        """The pyodata client of a service, built once from its ``$metadata``."""
        with self._lock:
            cached = self._services.get(name)
            if cached is not None:
                return cached
            url = self.service_url(name)

            def fetch() -> bytes:
                response = self.session.get(url + "$metadata", headers={"Accept": "application/xml"})
                if response.status_code != 200:
                    raise HttpError(f"$metadata answered {response.status_code}", response)
                return response.content

            metadata = self._call("metadata", fetch, entity=entity)
            try:
                # retain_null: a null stays None instead of becoming a type default ('' or 1753-01-01).
                client = pyodata.Client(
                    url, self.session, metadata=metadata, config=odata_model.Config(retain_null=True)
                )
            except (PyODataException, etree.XMLSyntaxError) as exc:
                raise ConfigError(
                    f"$metadata of {name} cannot be read: {redact(str(exc))[:300]}",
                    system=SYSTEM,
                    operation="metadata",
                    entity=entity,
                ) from None
            service = Gateway(name, url, client, _etag_types(metadata))
            self._services[name] = service
            return service

    def _fetch_csrf(self, service: Gateway) -> None:
        """Fetch a CSRF token (bound to the session cookie) and send it with every later request."""

        def fetch() -> str:
            response = self.session.head(service.url, headers={"X-CSRF-Token": "Fetch"})
            token = response.headers.get("x-csrf-token")
            if response.status_code < 400 and not token:  # some Gateways answer HEAD without one
                response = self.session.get(
                    service.url, headers={"X-CSRF-Token": "Fetch", "Accept": "application/json"}
                )
                token = response.headers.get("x-csrf-token")
            if response.status_code >= 400:
                raise HttpError(f"CSRF token fetch answered {response.status_code}", response)
            if not token or token.lower() == "required":
                raise ConfigError(
                    "SAP sent no CSRF token", system=SYSTEM, operation="csrf", entity=service.name
                )
            return token

        token = self._call("csrf", fetch, entity=service.name)
        with self._lock:
            self._csrf_token = token
            self.session.headers["X-CSRF-Token"] = token

    def _ensure_csrf(self, service: Gateway) -> None:
        if self._csrf_token is None:
            self._fetch_csrf(service)
