"""SAP S/4HANA connector: OData V2 through pyodata on a requests session, configured by an Airflow connection.

What it does, and why:

- **Connection.** An Airflow ``http`` connection (default id ``synchub_erp``; env form
  ``AIRFLOW_CONN_SYNCHUB_ERP``): host, port, schema (https, or http), login and password (Basic auth).
  Extras, read by name: ``sap-client``, ``service_paths`` ({service: path}), ``ca_bundle``, and the
  ``SapSettings`` knobs (``page_size``, ``batch_size``, ``timeout``, ``look_back_seconds``,
  ``stamp_timezone``, ``retry_*``). TLS verification is always on; a ``ca_bundle`` named by the
  connection wins over REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment.
- **Reads.** One pyodata client per service (``$metadata`` fetched once). The delta filter follows the
  stamps each entity set really has (``SapSource.stamp``): LastChangeDate + LastChangeTime for partners,
  LastChangeDateTime for products and orders, none for condition records (always a full read). Server
  paging (``__next``) is followed and every server page becomes one ``Page``: memory stays flat.
  Payloads are plain JSON values: dates as ISO strings (``YYYY-MM-DD`` for date-only properties),
  date-times as UTC ISO strings, ``Edm.Time`` as ``HH:MM:SS``, decimals as strings exactly as SAP
  sends them, expanded navigations as lists (to-many) or dicts (to-one); entities with an ETag carry it
  under ``__etag``. SAP has no tombstones: ``extract_all_keys`` gives the live key set to diff.
- **Writes.** ``$batch`` requests of ``batch_size`` records, one changeset per record (a changeset is
  atomic, so one bad record never rolls back another), deep inserts for creates, MERGE of the changed
  properties for updates (diffed against ``expected``), MERGE of changed children that exist and POST
  of new children. An update without ``expected`` (or whose ``expected`` lacks a navigation it writes)
  is diffed against SAP's current state, read first (one GET per 50 records): only so can an existing
  keyless child (the partner's address) be told from a new one and never be added twice.
  Entity sets with an ETag (``ConcurrencyMode="Fixed"`` in
  ``$metadata``, e.g. A_SalesOrder) are written with If-Match: ``expected["__etag"]`` or, without it,
  the ETag read just before. A 412 is resolved by re-reading: if SAP already holds the wanted values
  the record is ``updated``; if none of the changed properties moved since ``expected`` the MERGE is
  retried once with the new ETag; otherwise the record fails with ``ETAG_MISMATCH``.
- **Idempotency.** Creates carry an idempotency value: ``BusinessPartnerIDByExtSystem`` (partners) or
  ``ExternalDocumentID`` (sales orders), set to the SyncHub key when the record does not set it and the
  key fits the property's length. When a ``$batch`` with creates may have landed (timeout, connection
  lost, 500/502/504), the creates are looked up by that value before the retry; those found are
  reported ``created`` with their key and not sent again. Reruns pass ``remote_key`` (the xref), so a
  rerun updates or finds the record unchanged and never creates it again.
- **Errors.** Every HTTP call runs under ``call_with_retry``: 429/5xx/timeouts are retried (honouring
  Retry-After); 401 is an ``AuthError`` naming the connection and user; a 403 ``x-csrf-token: Required``
  refetches the token once; a 4xx on a read is a ``ConfigError`` naming the entity set and SAP's message;
  a 4xx on a record becomes that record's ``failed`` outcome (SAP's error code and message).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import time as clock
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urljoin, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyodata
import requests
from lxml import etree
from pyodata.exceptions import HttpError, PyODataException
from pyodata.v2 import model as odata_model
from pyodata.v2.service import (
    BatchRequest,
    Changeset,
    EntityCreateRequest,
    EntityKey,
    EntityProxy,
    ODataHttpRequest,
    Service,
)

from connectors.base import (
    ApiUsage,
    CheckResult,
    EntitySource,
    ExtractedRecord,
    Page,
    SapSource,
    WriteOutcome,
    WriteRecord,
)
from connectors.errors import (
    RETRIABLE_STATUS,
    AuthError,
    ConfigError,
    ConnectorError,
    RecordError,
    RetriableError,
    RetryPolicy,
    call_with_retry,
    redact,
)

log = logging.getLogger(__name__)


class _NoUnsupportedAnnotations(logging.Filter):
    """SAP's published $metadata (S/4HANA Cloud's API_BUSINESS_PARTNER: several hundred) carries
    vocabulary annotations pyodata does not interpret (Capabilities.*, Common.*); pyodata warns once per
    annotation on every metadata load. SyncHub reads none of them: those warnings are dropped, others kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Unsupported Annotation(")


logging.getLogger("pyodata.model").addFilter(_NoUnsupportedAnnotations())
# pyodata logs every entity it is asked to create or update, whole, at INFO: keep its logs to warnings
# unless someone configured the logger on purpose.
if logging.getLogger("pyodata").level == logging.NOTSET:
    logging.getLogger("pyodata").setLevel(logging.WARNING)

T = TypeVar("T")

SYSTEM = "sap"
DEFAULT_CONN_ID = "synchub_erp"
DEFAULT_SERVICE_PATH = "/sap/opu/odata/sap/{service}/"
ETAG_KEY = "__etag"
# Properties that let a create be found again after a lost response (idempotency values).
IDEMPOTENCY_FIELDS = {
    "A_BusinessPartner": "BusinessPartnerIDByExtSystem",
    "A_SalesOrder": "ExternalDocumentID",
}
# Statuses after which a write may have been applied although no answer came back.
_MAY_HAVE_LANDED = {None, 500, 502, 504}
_LOOKUP_CHUNK = 20  # idempotency values per $filter: keeps URLs well below Gateway limits
_KEY_CHUNK = 50  # entity keys per $filter when reading current state or ETags
_DURATION = re.compile(r"^-?P(?:\d+D)?T?(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d+))?S)?$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?$")
_DATE_JSON = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_NUMERIC = {
    "Edm.Decimal",
    "Edm.Double",
    "Edm.Single",
    "Edm.Float",
    "Edm.Int16",
    "Edm.Int32",
    "Edm.Int64",
    "Edm.Byte",
    "Edm.SByte",
}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


# ---------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class SapSettings:
    """Knobs of the SAP connector; each can be set by an extra of the Airflow connection of the same name.

    - ``look_back``: overlap subtracted from ``since`` (clock skew, same-second writes); extra
      ``look_back_seconds``. Staging skips unchanged payloads by hash, so the overlap is cheap.
    - ``stamp_timezone``: the time zone of LastChangeDate/LastChangeTime (S/4 keeps them in the
      system's time zone; UTC in the sandbox).
    - ``page_size``: client-side ``$top``/``$skip`` windows ordered by the key (each window still
      follows the server's ``__next``). On by default: many on-premise gateway services page nothing
      on the server side, and a full read of partners with their expands would come as one response.
    - ``batch_size``: records per ``$batch`` request (one changeset each).
    - ``timeout``: seconds to wait for an answer.
    - ``inline_count``: ask for ``$inlinecount=allpages`` (logs the total on the first page).
    - ``retry``: backoff policy (extras ``retry_max_attempts``, ``retry_initial_seconds``,
      ``retry_max_seconds``, ``retry_max_retry_after``).
    """

    look_back: dt.timedelta = dt.timedelta(minutes=5)
    stamp_timezone: str = "UTC"
    page_size: int | None = 1000
    batch_size: int = 100
    timeout: float = 60.0
    inline_count: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def with_extras(self, extras: Mapping[str, Any], conn_id: str) -> SapSettings:
        """These settings with every knob the connection's extras set (empty strings count as unset)."""
        reader = _Extras(extras, conn_id)
        changes: dict[str, Any] = {}
        if (seconds := reader.number("look_back_seconds", minimum=0)) is not None:
            changes["look_back"] = dt.timedelta(seconds=seconds)
        if (zone := reader.text("stamp_timezone")) is not None:
            changes["stamp_timezone"] = zone
        if (page_size := reader.integer("page_size", minimum=1)) is not None:
            changes["page_size"] = page_size
        if (batch_size := reader.integer("batch_size", minimum=1)) is not None:
            changes["batch_size"] = batch_size
        if (timeout := reader.number("timeout", minimum=0.001)) is not None:
            changes["timeout"] = timeout
        if (inline := reader.boolean("inline_count")) is not None:
            changes["inline_count"] = inline
        retry: dict[str, Any] = {}
        if (attempts := reader.integer("retry_max_attempts", minimum=1)) is not None:
            retry["max_attempts"] = attempts
        for name in ("initial_seconds", "max_seconds", "max_retry_after"):
            if (value := reader.number(f"retry_{name}", minimum=0)) is not None:
                retry[name] = value
        if retry:
            changes["retry"] = replace(self.retry, **retry)
        settings = replace(self, **changes)
        settings.validate(conn_id)
        return settings

    def validate(self, conn_id: str = DEFAULT_CONN_ID) -> None:
        try:
            ZoneInfo(self.stamp_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise _config_error(
                conn_id, "stamp_timezone", f"unknown time zone {self.stamp_timezone!r}"
            ) from None
        if self.batch_size < 1 or (self.page_size is not None and self.page_size < 1) or self.timeout <= 0:
            raise _config_error(conn_id, "batch_size/page_size/timeout", "must be positive")


def _config_error(conn_id: str, extra: str, reason: str) -> ConfigError:
    return ConfigError(
        f"connection {conn_id!r}, extra {extra!r}: {reason}", system=SYSTEM, operation="config"
    )


class _Extras:
    """Typed, by-name access to a connection's extras; bad values fail naming the connection and extra."""

    def __init__(self, extras: Mapping[str, Any], conn_id: str) -> None:
        self.extras = extras
        self.conn_id = conn_id

    def raw(self, name: str) -> Any:
        value = self.extras.get(name)
        return None if value is None or (isinstance(value, str) and not value.strip()) else value

    def text(self, name: str) -> str | None:
        value = self.raw(name)
        return None if value is None else str(value).strip()

    def number(self, name: str, minimum: float) -> float | None:
        value = self.raw(name)
        if value is None:
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise _config_error(self.conn_id, name, f"expected a number, got {value!r}") from None
        if number < minimum:
            raise _config_error(self.conn_id, name, f"must be at least {minimum}, got {value!r}")
        return number

    def integer(self, name: str, minimum: int) -> int | None:
        value = self.raw(name)
        if value is None:
            return None
        try:
            number = int(str(value).strip())
        except ValueError:
            raise _config_error(self.conn_id, name, f"expected a whole number, got {value!r}") from None
        if number < minimum:
            raise _config_error(self.conn_id, name, f"must be at least {minimum}, got {value!r}")
        return number

    def boolean(self, name: str) -> bool | None:
        value = self.raw(name)
        if value is None or isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise _config_error(self.conn_id, name, f"expected true or false, got {value!r}")


# ---------------------------------------------------------------------------------------------- session


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
class _Service:
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


# ---------------------------------------------------------------------------------------------- values


def _has_property(entity_type: odata_model.EntityType, name: str) -> bool:
    try:
        entity_type.proprty(name)
    except KeyError:
        return False
    return True


def _has_nav(entity_type: odata_model.EntityType, name: str) -> bool:
    try:
        entity_type.nav_proprty(name)
    except KeyError:
        return False
    return True


def _to_utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _parse_datetime(value: Any) -> dt.datetime:
    """A datetime from a datetime, a date, an ISO string or SAP's ``/Date(ms[+offset])/``; UTC aware."""
    if isinstance(value, dt.datetime):
        return _to_utc(value)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    text = str(value).strip()
    match = _DATE_JSON.match(text)
    if match:
        return _EPOCH + dt.timedelta(milliseconds=int(match.group(1)))
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    text = re.sub(r"\.(\d{7,})", lambda m: "." + m.group(1)[:6], text, count=1)
    return _to_utc(dt.datetime.fromisoformat(text))


def _parse_time(value: Any) -> dt.time:
    """A time of day from a ``time``, ``HH:MM[:SS]`` or an ``Edm.Time`` duration ``PT10H05M00S``."""
    if isinstance(value, dt.time):
        return value
    if isinstance(value, dt.timedelta):
        seconds = int(value.total_seconds())
        return dt.time(seconds // 3600 % 24, seconds // 60 % 60, seconds % 60)
    text = str(value).strip()
    match = _DURATION.match(text) if text.upper().startswith(("P", "-P")) else _CLOCK.match(text)
    if not match:
        raise ValueError(f"not a time of day: {text!r}")
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups()[:3])
    return dt.time(hours % 24, minutes, seconds)


def stamp_of(source: SapSource, payload: Mapping[str, Any], timezone: str = "UTC") -> dt.datetime | None:
    """A record's change stamp in UTC: ``LastChangeDateTime`` (``stamp: datetime``), or
    ``LastChangeDate`` + ``LastChangeTime`` read in the system's time zone (``stamp: date+time``; S/4
    keeps them in the system's zone, the connection's ``stamp_timezone``)."""
    if source.stamp == "datetime":
        value = payload.get("LastChangeDateTime")
        return _parse_datetime(value) if value else None
    if source.stamp == "date+time":
        day, at = payload.get("LastChangeDate"), payload.get("LastChangeTime")
        if not day:
            return None
        # An Edm.DateTime date: ISO from the connector, ``/Date(ms)/`` as OData V2 JSON writes it.
        local = dt.datetime.combine(
            _parse_datetime(day).date(),
            _parse_time(at) if at else dt.time(0, 0),
            tzinfo=ZoneInfo(timezone),
        )
        return local.astimezone(dt.UTC)
    return None


def record_of(source: SapSource, payload: Mapping[str, Any], timezone: str = "UTC") -> ExtractedRecord:
    """A payload (the connector's JSON-able form of an entity with its expands) as the connector hands
    records on: its key (the key properties joined by ``|``) and its stamp (``stamp_of``)."""
    key = "|".join(str(payload.get(k)) for k in source.keys)
    return ExtractedRecord(key=key, payload=dict(payload), stamp=stamp_of(source, payload, timezone))


def _payload_value(prop: odata_model.StructTypeProperty, value: Any) -> Any:
    """A value as pyodata parsed it, in the connector's JSON-able payload form."""
    if value is None:
        return None
    edm = prop.typ.name
    if edm == "Edm.DateTime":
        moment = _parse_datetime(value)
        return moment.date().isoformat() if prop.date else moment.isoformat()
    if edm == "Edm.DateTimeOffset":
        return _parse_datetime(value).isoformat()
    if edm == "Edm.Time":
        return _parse_time(value).strftime("%H:%M:%S")
    if edm == "Edm.Decimal":
        return value if isinstance(value, str) else format(Decimal(str(value)), "f")
    if edm == "Edm.Int64":
        return int(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _same(prop: odata_model.StructTypeProperty, left: Any, right: Any) -> bool:
    """Whether two values of a property are equal, whatever form each is in (native, payload, wire)."""
    if left is None or right is None:
        return left is None and right is None
    try:
        a, b = _payload_value(prop, left), _payload_value(prop, right)
        if prop.typ.name in _NUMERIC:
            return Decimal(str(a)) == Decimal(str(b))
    except (ValueError, InvalidOperation, TypeError):
        return left == right
    return bool(a == b)


def _wire_value(prop: odata_model.StructTypeProperty, value: Any) -> Any:
    """A caller's value as pyodata's ``set()`` takes it (pyodata then renders the OData JSON)."""
    if value is None:
        return None
    edm = prop.typ.name
    try:
        if edm == "Edm.DateTime":
            return _parse_datetime(value)
        if edm == "Edm.DateTimeOffset":
            return _parse_datetime(value)
        if edm == "Edm.Time":
            t = _parse_time(value)
            return f"PT{t.hour:02d}H{t.minute:02d}M{t.second:02d}S"
        if edm == "Edm.Decimal":
            return format(Decimal(str(value)), "f")
        if edm == "Edm.Int64":
            return str(int(value))
        if edm in ("Edm.Int16", "Edm.Int32", "Edm.Byte", "Edm.SByte"):
            return int(value)
        if edm in ("Edm.Double", "Edm.Single", "Edm.Float"):
            return float(value)
        if edm == "Edm.Boolean":
            return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "x")
    except (ValueError, InvalidOperation, TypeError) as exc:
        raise RecordError(
            f"value for {prop.name} is not a valid {edm}: {exc}", system=SYSTEM, operation="write"
        ) from None
    return str(value)


def _key_value(prop: odata_model.StructTypeProperty, value: Any) -> Any:
    """A key value as pyodata's literal rendering wants it."""
    if prop.typ.name in ("Edm.DateTime", "Edm.DateTimeOffset"):
        return _parse_datetime(value)
    return str(value)


def _literal(prop: odata_model.StructTypeProperty, value: Any) -> str:
    """A value as an OData URI literal (``'x'``, ``datetime'...'``), quotes escaped by pyodata."""
    return prop.to_literal(_key_value(prop, value))


def _children_of(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        results = value.get("results")
        return list(results) if isinstance(results, list) else [dict(value)]
    return [dict(v) for v in value]


# ---------------------------------------------------------------------------------------------- write plans


@dataclass
class _Plan:
    """One record's write: the requests of its changeset and what is needed to judge the answer."""

    index: int
    record: WriteRecord
    kind: Literal["create", "update"]
    entity_set: odata_model.EntitySet
    key: dict[str, Any] = field(default_factory=dict)  # update: the entity's key values
    wire: dict[str, Any] = field(default_factory=dict)  # create: the deep-insert payload
    changed: dict[str, Any] = field(default_factory=dict)  # update: root properties to MERGE
    children: list[tuple[str, ODataHttpRequest]] = field(default_factory=list)  # update: (op, request)
    id_value: str | None = None  # create: idempotency value
    etag: str | None = None
    etag_retried: bool = False


@dataclass
class _Answer:
    """One HTTP answer inside a ``$batch`` response (the fields pyodata's ODataHttpResponse has)."""

    status_code: int
    headers: dict[str, str]
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content) if self.content.strip() else None


@dataclass
class _ChangesetResult:
    ok: bool
    responses: list[_Answer]  # every operation's answer when ok, else the one error answer


# ---------------------------------------------------------------------------------------------- connector


class SapConnector:
    """The Connector for SAP S/4HANA (OData V2); see the module docstring for the behaviour."""

    system = SYSTEM

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        *,
        sap_client: str | None = None,
        service_paths: Mapping[str, str] | None = None,
        ca_bundle: str | None = None,
        settings: SapSettings | None = None,
        conn_id: str = DEFAULT_CONN_ID,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.user = user
        self.conn_id = conn_id
        self.settings = settings or SapSettings()
        self.settings.validate(conn_id)
        self.service_paths = dict(service_paths or {})
        self.usage = ApiUsage()
        self._password = password
        self._lock = threading.RLock()
        self._services: dict[str, _Service] = {}
        self._csrf_token: str | None = None
        self.session = SapSession(timeout=self.settings.timeout, ca_bundle=ca_bundle)
        self.session.auth = (user, password)
        if sap_client:
            # SAP's ICF takes the client as a header as well as the sap-client URL parameter; a header
            # survives __next links and $batch parts unchanged.
            self.session.headers["sap-client"] = str(sap_client)

    def __repr__(self) -> str:
        return f"SapConnector({self.base_url!r}, user={self.user!r}, conn_id={self.conn_id!r})"

    # ------------------------------------------------------------------------------ construction

    @classmethod
    def from_airflow(
        cls, conn_id: str = DEFAULT_CONN_ID, settings: SapSettings | None = None
    ) -> SapConnector:
        """Build the connector from the Airflow ``http`` connection ``conn_id`` (extras read by name)."""
        from airflow.sdk import BaseHook  # imported here: Airflow is heavy and only needed for this

        try:
            conn = BaseHook.get_connection(conn_id)
        except Exception as exc:  # AirflowNotFoundException and backend errors
            raise ConfigError(
                f"connection {conn_id!r} cannot be read: {type(exc).__name__}: {redact(str(exc))}",
                system=SYSTEM,
                operation="config",
            ) from None
        extras = conn.extra_dejson or {}
        reader = _Extras(extras, conn_id)
        host = (conn.host or "").strip()
        if not host:
            raise _config_error(conn_id, "host", "the connection has no host")
        scheme = (conn.schema or "").strip().lower() or "https"
        if "://" in host:  # some people put the whole URL into the host field
            parts = urlsplit(host)
            scheme, host = parts.scheme.lower(), parts.netloc
        if scheme not in ("https", "http"):
            raise _config_error(conn_id, "schema", f"expected https or http, got {conn.schema!r}")
        if reader.boolean("verify") is False:
            raise _config_error(conn_id, "verify", "TLS verification cannot be turned off; name a ca_bundle")
        ca_bundle = reader.text("ca_bundle")
        if ca_bundle and not Path(ca_bundle).is_file():
            raise _config_error(conn_id, "ca_bundle", f"no such file: {ca_bundle}")
        paths = reader.raw("service_paths")
        if isinstance(paths, str):
            try:
                paths = json.loads(paths)
            except ValueError:
                raise _config_error(conn_id, "service_paths", "expected a JSON object") from None
        if paths is not None and (
            not isinstance(paths, dict)
            or not all(isinstance(v, str) and v.startswith("/") for v in paths.values())
        ):
            raise _config_error(conn_id, "service_paths", "expected {service: '/path/'} with absolute paths")
        if not conn.login:
            raise _config_error(conn_id, "login", "the connection has no login (SAP user)")
        port = f":{conn.port}" if conn.port else ""
        return cls(
            f"{scheme}://{host}{port}",
            conn.login,
            conn.password or "",
            sap_client=reader.text("sap-client"),
            service_paths=paths,
            ca_bundle=ca_bundle,
            settings=(settings or SapSettings()).with_extras(extras, conn_id),
            conn_id=conn_id,
        )

    def service_url(self, service: str) -> str:
        path = self.service_paths.get(service) or DEFAULT_SERVICE_PATH.format(service=service)
        return self.base_url + "/" + path.strip("/") + "/"

    # ------------------------------------------------------------------------------ HTTP plumbing

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
                retry_after=_retry_after(headers),
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
        service: _Service | None = None,
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

    def _service(self, name: str, entity: str | None = None) -> _Service:
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
            service = _Service(name, url, client, _etag_types(metadata))
            self._services[name] = service
            return service

    def _fetch_csrf(self, service: _Service) -> None:
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

    def _ensure_csrf(self, service: _Service) -> None:
        if self._csrf_token is None:
            self._fetch_csrf(service)

    # ------------------------------------------------------------------------------ reads

    def delta_filter(self, source: SapSource, since: dt.datetime | None) -> str | None:
        """The ``$filter`` for records changed at or after ``since`` minus the look-back (None: all)."""
        if since is None or source.stamp == "none":
            return None
        start = _to_utc(since) - self.settings.look_back
        if source.stamp == "datetime":
            text = start.strftime("%Y-%m-%dT%H:%M:%S")
            if start.microsecond:
                text += f".{start.microsecond:06d}"
            return f"LastChangeDateTime ge datetimeoffset'{text}Z'"
        local = start.astimezone(ZoneInfo(self.settings.stamp_timezone))
        day = f"datetime'{local.strftime('%Y-%m-%d')}T00:00:00'"
        at = f"time'PT{local.hour:02d}H{local.minute:02d}M{local.second:02d}S'"
        return f"LastChangeDate gt {day} or (LastChangeDate eq {day} and LastChangeTime ge {at})"

    def extract_changed(self, entity: EntitySource, since: dt.datetime | None) -> Iterator[Page]:
        """Pages of records changed at or after ``since`` (minus the look-back); all records when None."""
        source = entity.sap
        delta = self.delta_filter(source, since)
        query_filter = _and(source.filter, delta)
        log.info(
            "sap extract %s (%s): %s",
            entity.entity,
            source.entity_set,
            f"changed since {since.isoformat()}" if delta and since else "full read",
        )
        service = self._service(source.service, entity.entity)
        entity_set = service.entity_set(source.entity_set, entity.entity)
        tree = _expand_tree(source.expand)
        total = 0
        for number, result in enumerate(
            self._read(service, entity, query_filter, expand=source.expand, select=None), start=1
        ):
            records = [self._record(entity_set, source, proxy, tree) for proxy in result]
            stamps = [r.stamp for r in records if r.stamp is not None]
            total += len(records)
            log.info(
                "sap extract %s: page %d, %d records (%d so far, %d calls)",
                entity.entity,
                number,
                len(records),
                total,
                self.usage.calls,
            )
            yield Page(SYSTEM, entity.entity, records, max(stamps) if stamps else None)

    def extract_all_keys(self, entity: EntitySource) -> Iterator[list[str]]:
        """Pages of the keys of every live record (fixed filter applied), for reconciliation and deletes."""
        source = entity.sap
        service = self._service(source.service, entity.entity)
        for result in self._read(service, entity, source.filter, expand=(), select=source.keys):
            yield ["|".join(str(_parsed(p, k)) for k in source.keys) for p in result]

    def read_keys(self, entity: EntitySource, keys: Sequence[str]) -> list[ExtractedRecord]:
        """The records with these keys (fixed filter applied), with the mapping's expands, as
        ``extract_changed`` gives them: e.g. partners SyncHub just created, with the customer number
        SAP gave them."""
        source = entity.sap
        service = self._service(source.service, entity.entity)
        entity_set = service.entity_set(source.entity_set, entity.entity)
        tree = _expand_tree(source.expand)
        out: list[ExtractedRecord] = []
        wanted = sorted({str(k) for k in keys if k})
        for start in range(0, len(wanted), _KEY_CHUNK):
            by_key = _keys_filter(entity_set.entity_type, wanted[start : start + _KEY_CHUNK])
            expr = _and(source.filter, by_key)
            assert expr is not None
            expand = ",".join(source.expand) or None
            for proxy in self._query_all(service, entity_set, expr, expand=expand):
                out.append(self._record(entity_set, source, proxy, tree))
        return out

    def _read(
        self,
        service: _Service,
        entity: EntitySource,
        query_filter: str | None,
        *,
        expand: Sequence[str],
        select: Sequence[str] | None,
    ) -> Iterator[list[EntityProxy]]:
        """Every server page of a query, following ``__next`` (and ``$top``/``$skip`` windows if set)."""
        source = entity.sap
        entity_set = service.entity_set(source.entity_set, entity.entity)
        proxy = getattr(service.client.entity_sets, entity_set.name)
        page_size = self.settings.page_size
        offset = 0
        while True:

            def first(skip: int = offset) -> Any:
                query = proxy.get_entities()
                if query_filter:
                    query = query.filter(query_filter)
                if expand:
                    query = query.expand(",".join(expand))
                if select:
                    query = query.select(",".join(select))
                if self.settings.inline_count and skip == 0:
                    query = query.count(inline=True)
                if page_size:
                    # Client windows need a stable order; the key is the natural one.
                    query = query.order_by(",".join(source.keys)).top(page_size).skip(skip)
                return query.execute()

            result = self._call("read", first, service=service, entity=entity_set.name)
            if self.settings.inline_count and offset == 0:
                try:
                    log.info("sap %s: %d records match", entity.entity, result.total_count)
                except PyODataException:
                    pass
            in_window = len(result)
            yield list(result)
            next_url = result.next_url
            while next_url:
                absolute = urljoin(service.url, next_url)  # SAP may send a relative __next
                result = self._call(
                    "read_next",
                    lambda url=absolute: proxy.get_entities().next_url(url).execute(),
                    service=service,
                    entity=entity_set.name,
                )
                in_window += len(result)
                yield list(result)
                next_url = result.next_url
            if not page_size or in_window < page_size:
                return
            offset += page_size

    def _record(
        self, entity_set: odata_model.EntitySet, source: SapSource, proxy: EntityProxy, tree: dict[str, dict]
    ) -> ExtractedRecord:
        return record_of(source, _plain(entity_set.entity_type, proxy, tree), self.settings.stamp_timezone)

    # ------------------------------------------------------------------------------ writes

    def write_batch(self, entity: EntitySource, records: Sequence[WriteRecord]) -> list[WriteOutcome]:
        """Create or update the records; one outcome per record, in order. See the module docstring."""
        source = entity.sap
        outcomes: list[WriteOutcome | None] = [None] * len(records)
        if not records:
            return []
        service = self._service(source.service, entity.entity)
        entity_set = service.entity_set(source.entity_set, entity.entity)
        current = self._current_state(service, entity_set, records, outcomes)
        plans: list[_Plan] = []
        for index, record in enumerate(records):
            if outcomes[index] is not None:
                continue
            if index in current:
                record = replace(record, expected=current[index])
            try:
                plan = self._plan(service, entity_set, index, record)
            except RecordError as exc:
                outcomes[index] = _failed(record, exc.remote_code or "INVALID_RECORD", exc.message)
                continue
            if plan is None:
                outcomes[index] = WriteOutcome(record.key, "unchanged", record.remote_key)
            else:
                plans.append(plan)
        if plans:
            self._ensure_csrf(service)
        size = self.settings.batch_size
        for start in range(0, len(plans), size):
            chunk = plans[start : start + size]
            try:
                self._write_chunk(service, entity, entity_set, chunk, outcomes)
            except RetriableError as exc:
                # SAP stayed unavailable through every retry: nothing later can succeed now. The rest
                # fail with the reason; the caller retries them in a later run.
                for plan in plans[start:]:
                    if outcomes[plan.index] is None:
                        outcomes[plan.index] = _failed(
                            plan.record, exc.remote_code or f"HTTP {exc.status}", exc.message
                        )
                log.error("sap write %s: giving up after retries: %s", entity.entity, exc)
                break
            done = min(start + size, len(plans))
            log.info(
                "sap write %s: %d/%d records sent (%d calls)",
                entity.entity,
                done,
                len(plans),
                self.usage.calls,
            )
        result = [o for o in outcomes if o is not None]
        assert len(result) == len(records)
        return result

    def _query_all(
        self,
        service: _Service,
        entity_set: odata_model.EntitySet,
        expr: str,
        *,
        select: str | None = None,
        expand: str | None = None,
    ) -> list[EntityProxy]:
        """Every entity matching ``expr`` (following ``__next``), for the connector's own lookups."""
        proxy = getattr(service.client.entity_sets, entity_set.name)

        def first() -> Any:
            query = proxy.get_entities().filter(expr)
            if select:
                query = query.select(select)
            if expand:
                query = query.expand(expand)
            return query.execute()

        result = self._call("get", first, service=service, entity=entity_set.name)
        found = list(result)
        while result.next_url:
            url = urljoin(service.url, result.next_url)
            result = self._call(
                "get",
                lambda url=url: proxy.get_entities().next_url(url).execute(),
                service=service,
                entity=entity_set.name,
            )
            found += list(result)
        return found

    def _current_state(
        self,
        service: _Service,
        entity_set: odata_model.EntitySet,
        records: Sequence[WriteRecord],
        outcomes: list[WriteOutcome | None],
    ) -> dict[int, dict[str, Any]]:
        """SAP's current state of updates that come without ``expected`` (or without a navigation they
        write), read in chunks with those navigations expanded: only against it can a child be told new
        from existing, so an update never adds a second copy of a child."""
        entity_type = entity_set.entity_type
        wanted: dict[str, list[int]] = {}
        paths: set[str] = set()
        for index, record in enumerate(records):
            if record.remote_key is None:
                continue
            values = {k: v for k, v in record.fields.items() if not k.startswith("__")}
            _check_names(entity_type, values, entity_set.name)
            navs = _nav_paths(service, entity_set, values)
            if record.expected is not None and all(p.split("/")[0] in record.expected for p in navs):
                continue
            try:
                _split_key(entity_type, record.remote_key)
            except RecordError as exc:
                outcomes[index] = _failed(record, "INVALID_RECORD", exc.message)
                continue
            paths.update(navs)
            wanted.setdefault(record.remote_key, []).append(index)
        if not wanted:
            return {}
        keys = [p.name for p in entity_type.key_proprties]
        tree = _expand_tree(sorted(paths))
        found: dict[str, dict[str, Any]] = {}
        remote_keys = list(wanted)
        for start in range(0, len(remote_keys), _KEY_CHUNK):
            expr = _keys_filter(entity_type, remote_keys[start : start + _KEY_CHUNK])
            for hit in self._query_all(service, entity_set, expr, expand=",".join(sorted(paths)) or None):
                payload = _plain(entity_type, hit, tree)
                found["|".join(str(payload.get(k)) for k in keys)] = payload
        current: dict[int, dict[str, Any]] = {}
        for remote_key, indexes in wanted.items():
            for index in indexes:
                record = records[index]
                if remote_key not in found:
                    outcomes[index] = _failed(
                        record, "NOT_FOUND", f"{entity_set.name} {remote_key} does not exist in SAP"
                    )
                    continue
                current[index] = {**found[remote_key], **(record.expected or {})}
        return current

    def _plan(
        self, service: _Service, entity_set: odata_model.EntitySet, index: int, record: WriteRecord
    ) -> _Plan | None:
        """What to send for one record; None when it equals ``expected`` (no call)."""
        entity_type = entity_set.entity_type
        fields_ = {k: v for k, v in record.fields.items() if not k.startswith("__")}
        _check_names(entity_type, fields_, entity_set.name)
        if record.expected is not None and _subset_equal(service, entity_set, fields_, record.expected):
            return None
        if record.remote_key is None:
            wire = _wire_entity(service, entity_set, fields_)
            id_field = IDEMPOTENCY_FIELDS.get(entity_set.name)
            id_value = None
            if id_field and _has_property(entity_type, id_field):
                id_value = wire.get(id_field)
                limit = entity_type.proprty(id_field).max_length
                if id_value is None and (not limit or limit < 0 or len(record.key) <= limit):
                    id_value = wire[id_field] = record.key
            return _Plan(index, record, "create", entity_set, wire=wire, id_value=id_value)

        key = _split_key(entity_type, record.remote_key)
        expected = record.expected or {}
        changed = {
            name: value
            for name, value in fields_.items()
            if _has_property(entity_type, name)
            and name not in key
            and (record.expected is None or not _same(entity_type.proprty(name), value, expected.get(name)))
        }
        parent_values = {
            **{k: v for k, v in expected.items() if not isinstance(v, list | dict)},
            **{k: v for k, v in fields_.items() if not isinstance(v, list | dict)},
            **key,
        }
        children = self._child_requests(
            service,
            entity_set,
            key,
            parent_values,
            fields_,
            record.expected,
            fresh=record.expected is not None,
        )
        if not changed and not children:
            return None
        plan = _Plan(index, record, "update", entity_set, key=key, changed=changed, children=children)
        if service.has_etag(entity_set) and changed:
            plan.etag = expected.get(ETAG_KEY)
        return plan

    def _child_requests(
        self,
        service: _Service,
        entity_set: odata_model.EntitySet,
        key: dict[str, Any],
        parent_values: dict[str, Any],
        fields_: Mapping[str, Any],
        expected: Mapping[str, Any] | None,
        *,
        fresh: bool,
    ) -> list[tuple[str, ODataHttpRequest]]:
        """MERGEs of changed children that exist and POSTs of new ones, below one entity.

        A child is the existing one when it matches an expected child on the keys it carries, or on all
        its values; a lone keyless child facing a lone expected child is taken to be that child (the
        partner's one address). Children that exist in SAP but not in ``fields`` are left alone.
        """
        requests_: list[tuple[str, ODataHttpRequest]] = []
        entity_type = entity_set.entity_type
        for nav_name, value in fields_.items():
            if not _has_nav(entity_type, nav_name):
                continue
            target, many = service.nav_target(entity_set, nav_name)
            target_type = target.entity_type
            wanted = _children_of(value)
            existing = _children_of((expected or {}).get(nav_name))
            unused = list(existing)
            key_names = [p.name for p in target_type.key_proprties]
            own_keys = [k for k in key_names if parent_values.get(k) is None]
            for child in wanted:
                child = {k: v for k, v in child.items() if not k.startswith("__")}
                _check_names(target_type, child, target.name)
                match = _match_child(service, target, child, unused, own_keys, single=len(wanted) == 1)
                if match is not None:
                    unused.remove(match)
                full_key: dict[str, Any] = {}
                for name in key_names:
                    for source in (child, match or {}, parent_values):
                        if source.get(name) not in (None, ""):
                            full_key[name] = source[name]
                            break
                    else:
                        if match is not None and name in match:
                            full_key[name] = match[name]
                complete = all(name in full_key for name in key_names)
                if match is None and (fresh or not complete):
                    child = dict(child)
                    _fill_ordinal_keys(target_type, [child], [e.get("OrdinalNumber") for e in existing])
                    path = f"{entity_set.name}{_key_string(entity_type, key)}/{nav_name}"
                    request = EntityCreateRequest(
                        service.url, self.session, None, target, last_segment=quote(path, safe="/")
                    )
                    request.set(**_wire_entity(service, target, child))
                    requests_.append(("create", request))
                    continue
                if not complete:
                    missing = ", ".join(k for k in key_names if k not in full_key)
                    raise RecordError(
                        f"child {nav_name} lacks its key {missing}",
                        system=SYSTEM,
                        operation="write",
                    )
                changed = {
                    name: _wire_value(target_type.proprty(name), v)
                    for name, v in child.items()
                    if _has_property(target_type, name)
                    and name not in key_names
                    and (match is None or not _same(target_type.proprty(name), v, match.get(name)))
                }
                if changed:
                    child_key = {k: _key_value(target_type.proprty(k), v) for k, v in full_key.items()}
                    request = getattr(service.client.entity_sets, target.name).update_entity(
                        key=EntityKey(target_type, **child_key), method="MERGE"
                    )
                    request.set(**changed)
                    if service.has_etag(target):
                        # A child's own ETag when it was read; otherwise the parent's If-Match guards it.
                        request.add_headers({"If-Match": (match or {}).get(ETAG_KEY) or "*"})
                    requests_.append(("merge", request))
                child_values = {**(match or {}), **child}
                requests_ += self._child_requests(
                    service,
                    target,
                    full_key,
                    {**{k: v for k, v in child_values.items() if not isinstance(v, list | dict)}, **full_key},
                    child,
                    match,
                    fresh=fresh,
                )
        return requests_

    def _requests_of(self, service: _Service, plan: _Plan) -> list[ODataHttpRequest]:
        proxy = getattr(service.client.entity_sets, plan.entity_set.name)
        if plan.kind == "create":
            return [proxy.create_entity().set(**plan.wire)]
        out: list[ODataHttpRequest] = []
        if plan.changed:
            entity_type = plan.entity_set.entity_type
            request = proxy.update_entity(
                key=EntityKey(
                    entity_type, **{k: _key_value(entity_type.proprty(k), v) for k, v in plan.key.items()}
                ),
                method="MERGE",
            )
            request.set(**{k: _wire_value(entity_type.proprty(k), v) for k, v in plan.changed.items()})
            if service.has_etag(plan.entity_set):
                request.add_headers({"If-Match": plan.etag or "*"})
            out.append(request)
        return out + [r for _, r in plan.children]

    def _write_chunk(
        self,
        service: _Service,
        entity: EntitySource,
        entity_set: odata_model.EntitySet,
        plans: list[_Plan],
        outcomes: list[WriteOutcome | None],
    ) -> None:
        """Send one chunk as one ``$batch`` (more only for retried changesets) and record the outcomes."""
        self._fill_etags(
            service,
            entity_set,
            [
                p
                for p in plans
                if p.kind == "update" and p.changed and service.has_etag(entity_set) and not p.etag
            ],
        )
        pending = plans
        round_ = 0
        while pending:
            results = self._send_batch(service, entity, pending, outcomes)
            # A server that stops at the first failed changeset answers only the parts it processed:
            # the changesets after them were not run, and go again at once (no retry round spent).
            answered = {plan.index for plan, _ in results}
            unanswered = [p for p in pending if p.index not in answered and outcomes[p.index] is None]
            again: list[_Plan] = []
            last_error: RetriableError | None = None
            for plan, result in results:
                if result.ok:
                    outcomes[plan.index] = self._success(plan, result)
                    continue
                response = result.responses[0]
                status = int(response.status_code)
                code, message = sap_error(response.content)
                if status == 412 and plan.kind == "update" and not plan.etag_retried:
                    outcome = self._after_conflict(service, plan, code)
                    if outcome is None:
                        again.append(plan)
                    else:
                        outcomes[plan.index] = outcome
                elif status in RETRIABLE_STATUS or status >= 500:
                    again.append(plan)
                    last_error = RetriableError(
                        message or f"HTTP {status}",
                        retry_after=_retry_after(response.headers),
                        remote_code=code,
                        status=status,
                        system=SYSTEM,
                        operation="batch",
                    )
                else:
                    if status == 412:
                        code, message = (
                            "ETAG_MISMATCH",
                            f"changed in SAP since it was read ({code}): {message}",
                        )
                    outcomes[plan.index] = _failed(plan.record, code or f"HTTP {status}", message)
            retried = [p for p in again if outcomes[p.index] is None]
            pending = sorted(retried + unanswered, key=lambda p: p.index)
            if unanswered and results:
                log.info(
                    "sap write %s: $batch answered %d of %d changesets; sending the other %d again",
                    entity.entity,
                    len(results),
                    len(results) + len(unanswered),
                    len(unanswered),
                )
            if not retried and results:
                continue
            round_ += 1
            if round_ >= self.settings.retry.max_attempts:
                break
            if last_error is not None:
                clock.sleep(self.settings.retry.delay(round_, last_error))
        for plan in pending:
            outcomes[plan.index] = _failed(
                plan.record, "RETRIES_EXHAUSTED", "SAP kept refusing the changeset"
            )

    def _send_batch(
        self,
        service: _Service,
        entity: EntitySource,
        plans: list[_Plan],
        outcomes: list[WriteOutcome | None],
    ) -> list[tuple[_Plan, _ChangesetResult]]:
        """One ``$batch`` call (retried as a whole); creates that may have landed are looked up first."""
        state = {"pending": list(plans)}

        def after_failure(error: RetriableError) -> None:
            creates = [p for p in state["pending"] if p.kind == "create" and p.id_value]
            if error.status not in _MAY_HAVE_LANDED or not creates:
                return
            found = self._lookup_created(service, entity, creates)
            for plan in creates:
                if plan.id_value in found:
                    outcomes[plan.index] = WriteOutcome(plan.record.key, "created", found[plan.id_value])
            state["pending"] = [p for p in state["pending"] if outcomes[p.index] is None]
            if found:
                log.warning(
                    "sap write %s: %d creates had landed before the failure; not sent again",
                    entity.entity,
                    len(found),
                )

        def send() -> list[tuple[_Plan, _ChangesetResult]]:
            pending = state["pending"]
            if not pending:
                return []
            # pyodata builds the multipart request; the answer is split here, because pyodata's parser
            # (the email package) takes longer than SAP for large batches and its changeset handler
            # drops every changeset's answer after the first failed one.
            batch = BatchRequest(service.url, self.session, None)
            for plan in pending:
                changeset = Changeset(service.url, self.session, None)
                for request in self._requests_of(service, plan):
                    changeset.add_request(request)
                batch.add_request(changeset)
            response = self.session.post(
                urljoin(service.url, batch.get_path()),
                data=batch.get_body().encode(),
                headers=batch.get_headers(),
            )
            if response.status_code != 202:
                raise HttpError(f"$batch answered {response.status_code}", response)
            results = _batch_results(response.content, response.headers.get("content-type", ""))
            # Parts answer changesets in order. Fewer parts than changesets: the server stopped (at a
            # failed changeset); the unanswered ones were not processed. More, or none: a broken answer.
            if not results or len(results) > len(pending):
                raise RetriableError(
                    f"$batch answered {len(results)} parts for {len(pending)} changesets",
                    system=SYSTEM,
                    operation="batch",
                    entity=entity.sap.entity_set,
                )
            return list(zip(pending[: len(results)], results, strict=True))

        return self._call(
            "batch",
            send,
            service=service,
            entity=entity.sap.entity_set,
            reading=False,
            on_retry=after_failure,
            uncounted=lambda: not state["pending"],
        )

    def _success(self, plan: _Plan, result: _ChangesetResult) -> WriteOutcome:
        if plan.kind == "update":
            return WriteOutcome(plan.record.key, "updated", plan.record.remote_key)
        body = result.responses[0].json() or {}
        created = body.get("d", {})
        keys = [p.name for p in plan.entity_set.entity_type.key_proprties]
        return WriteOutcome(plan.record.key, "created", "|".join(str(created.get(k)) for k in keys))

    def keys_for_external_ids(self, entity: EntitySource, external_ids: Sequence[str]) -> dict[str, str]:
        """Keys of the entities whose idempotency property (``BusinessPartnerIDByExtSystem``, ...) holds
        one of the values, by value: finds what an earlier, interrupted run already created."""
        source = entity.sap
        if source.entity_set not in IDEMPOTENCY_FIELDS:
            raise ConfigError(
                f"{source.entity_set} has no external id property",
                system=SYSTEM,
                operation="lookup",
                entity=source.entity_set,
            )
        values = sorted({str(v) for v in external_ids if v})
        if not values:
            return {}
        service = self._service(source.service, entity.entity)
        return self._lookup_values(service, service.entity_set(source.entity_set, entity.entity), values)

    def _lookup_created(self, service: _Service, entity: EntitySource, plans: list[_Plan]) -> dict[str, str]:
        """Remote keys of entities whose idempotency property holds the plans' values."""
        values = sorted({p.id_value for p in plans if p.id_value})
        return self._lookup_values(service, plans[0].entity_set, values)

    def _lookup_values(
        self, service: _Service, entity_set: odata_model.EntitySet, values: list[str]
    ) -> dict[str, str]:
        id_field = IDEMPOTENCY_FIELDS[entity_set.name]
        prop = entity_set.entity_type.proprty(id_field)
        keys = [p.name for p in entity_set.entity_type.key_proprties]
        found: dict[str, str] = {}
        for start in range(0, len(values), _LOOKUP_CHUNK):
            expr = " or ".join(
                f"{id_field} eq {prop.to_literal(v)}" for v in values[start : start + _LOOKUP_CHUNK]
            )
            for hit in self._query_all(service, entity_set, expr, select=",".join([*keys, id_field])):
                value = _parsed(hit, id_field)
                found.setdefault(value, "|".join(str(_parsed(hit, k)) for k in keys))
        return found

    def _fill_etags(self, service: _Service, entity_set: odata_model.EntitySet, plans: list[_Plan]) -> None:
        """Read the current ETag of entities to update whose ``expected`` did not bring one."""
        if not plans:
            return
        entity_type = entity_set.entity_type
        keys = [p.name for p in entity_type.key_proprties]
        by_key = {"|".join(str(p.key[k]) for k in keys): p for p in plans}
        items = list(by_key.values())
        for start in range(0, len(items), _KEY_CHUNK):
            expr = " or ".join(
                "(" + " and ".join(f"{k} eq {_literal(entity_type.proprty(k), p.key[k])}" for k in keys) + ")"
                for p in items[start : start + _KEY_CHUNK]
            )
            for hit in self._query_all(service, entity_set, expr, select=",".join(keys)):
                plan = by_key.get("|".join(str(_parsed(hit, k)) for k in keys))
                if plan is not None:
                    plan.etag = hit.etag

    def _after_conflict(self, service: _Service, plan: _Plan, code: str | None) -> WriteOutcome | None:
        """After a 412, re-read: ``updated`` if SAP holds our values, None to retry with the new ETag,
        else failed."""
        entity_type = plan.entity_set.entity_type
        proxy = getattr(service.client.entity_sets, plan.entity_set.name)
        key = EntityKey(
            entity_type, **{k: _key_value(entity_type.proprty(k), v) for k, v in plan.key.items()}
        )
        current = self._call(
            "get", lambda: proxy.get_entity(key).execute(), service=service, entity=plan.entity_set.name
        )
        values = _plain(entity_type, current, {})
        if all(_same(entity_type.proprty(k), v, values.get(k)) for k, v in plan.changed.items()):
            return WriteOutcome(plan.record.key, "updated", plan.record.remote_key)
        expected = plan.record.expected
        plan.etag_retried = True
        if expected is not None and all(
            _same(entity_type.proprty(k), values.get(k), expected.get(k)) for k in plan.changed
        ):
            plan.etag = current.etag
            return None
        return _failed(
            plan.record,
            "ETAG_MISMATCH",
            f"{plan.entity_set.name} {plan.record.remote_key} was changed in SAP since it was read ({code}); "
            "re-read it and write again",
        )

    # ------------------------------------------------------------------------------ check

    def check(self, entities: Sequence[EntitySource]) -> list[CheckResult]:
        """Auth and reachability, ``$metadata`` per service, and that mapped fields exist and are writable."""
        results: list[CheckResult] = []
        services: dict[str, _Service | None] = {}
        for name in dict.fromkeys(e.sap.service for e in entities):
            try:
                services[name] = self._service(name)
                results.append(
                    CheckResult(SYSTEM, f"metadata:{name}", True, f"{self.service_url(name)}$metadata")
                )
            except AuthError as exc:
                services[name] = None
                results.append(CheckResult(SYSTEM, f"metadata:{name}", False, str(exc)))
            except ConnectorError as exc:
                services[name] = None
                results.append(CheckResult(SYSTEM, f"metadata:{name}", False, str(exc)))
        reached = [s for s in services.values() if s is not None]
        auth_detail = f"user {self.user} on {self.base_url}"
        results.insert(
            0,
            CheckResult(
                SYSTEM,
                "auth",
                bool(reached),
                auth_detail
                if reached
                else next((r.detail for r in results if not r.ok), "no service reached"),
            ),
        )
        for entity in entities:
            service = services.get(entity.sap.service)
            if service is None:
                results.append(CheckResult(SYSTEM, f"fields:{entity.entity}", False, "service not reachable"))
                continue
            problems = self._field_problems(service, entity)
            results.append(
                CheckResult(
                    SYSTEM,
                    f"fields:{entity.entity}",
                    not problems,
                    "; ".join(problems)
                    or f"{entity.sap.entity_set}: keys, stamps, expands and "
                    f"{len(entity.sap.writable)} writable fields resolve",
                )
            )
            if not problems:
                results.append(self._read_check(service, entity))
        return results

    def _field_problems(self, service: _Service, entity: EntitySource) -> list[str]:
        source = entity.sap
        try:
            entity_set = service.entity_set(source.entity_set, entity.entity)
        except ConfigError as exc:
            return [exc.message]
        entity_type = entity_set.entity_type
        problems = [
            f"{source.entity_set} has no property {name}"
            for name in (*source.keys, *source.stamp_fields)
            if not _has_property(entity_type, name)
        ]
        for path in source.expand:
            try:
                _resolve(service, entity_set, path.split("/"), last_is_property=False)
            except KeyError as exc:
                problems.append(f"expand {path}: {exc.args[0]}")
        for path in source.writable:
            try:
                prop = _resolve(service, entity_set, path.split("/"), last_is_property=True)
            except KeyError as exc:
                problems.append(f"writable {path}: {exc.args[0]}")
                continue
            if not (prop.creatable or prop.updatable):
                problems.append(f"writable {path}: SAP marks it neither creatable nor updatable")
        return problems

    def any_match(self, service_name: str, entity_set_name: str, query_filter: str) -> bool:
        """Whether any entity of the set matches the ``$filter`` (one ``$top=1`` read of its keys)."""
        service = self._service(service_name)
        entity_set = service.entity_set(entity_set_name)
        proxy = getattr(service.client.entity_sets, entity_set.name)
        keys = ",".join(p.name for p in entity_set.entity_type.key_proprties)

        def fetch() -> Any:
            return proxy.get_entities().select(keys).filter(query_filter).top(1).execute()

        return bool(list(self._call("read", fetch, service=service, entity=entity_set.name)))

    def _read_check(self, service: _Service, entity: EntitySource) -> CheckResult:
        """One ``$top=1`` read with the mapping's filter: authorisation to read, and a filter SAP accepts."""
        source = entity.sap
        proxy = getattr(service.client.entity_sets, source.entity_set)

        def fetch() -> Any:
            query = proxy.get_entities().select(",".join(source.keys)).top(1)
            return (query.filter(source.filter) if source.filter else query).execute()

        try:
            self._call("read", fetch, service=service, entity=source.entity_set)
        except ConnectorError as exc:
            return CheckResult(SYSTEM, f"read:{entity.entity}", False, str(exc))
        return CheckResult(SYSTEM, f"read:{entity.entity}", True, f"{source.entity_set} readable")


# --------------------------------------------------------------------------------------------- module helpers


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


def _retry_after(headers: Any) -> float | None:
    value = _header(headers, "retry-after")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _failed(record: WriteRecord, code: str, message: str) -> WriteOutcome:
    return WriteOutcome(record.key, "failed", record.remote_key, code, redact(message))


def _and(*expressions: str | None) -> str | None:
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


def _parsed(proxy: EntityProxy, name: str) -> Any:
    """A property pyodata already parsed from the answer.

    ``getattr`` on an EntityProxy fetches a missing property lazily over HTTP; the connector never
    wants that, so it reads pyodata's parsed values only.
    """
    return proxy._cache.get(name)  # noqa: SLF001 - see the docstring


def _nav_paths(service: _Service, entity_set: odata_model.EntitySet, values: Mapping[str, Any]) -> list[str]:
    """The navigation paths (``to_A/to_B``) that a write's values reach into."""
    paths: list[str] = []
    for name, value in values.items():
        if name.startswith("__") or not _has_nav(entity_set.entity_type, name):
            continue
        target, _ = service.nav_target(entity_set, name)
        below = {p for child in _children_of(value) for p in _nav_paths(service, target, child)}
        paths += [f"{name}/{p}" for p in sorted(below)] or [name]
    return paths


def _expand_tree(paths: Sequence[str]) -> dict[str, dict]:
    """``to_A/to_B`` paths as a tree of navigation names."""
    tree: dict[str, dict] = {}
    for path in paths:
        node = tree
        for step in path.split("/"):
            node = node.setdefault(step, {})
    return tree


def _plain(entity_type: odata_model.EntityType, proxy: EntityProxy | None, tree: Mapping[str, Any]) -> dict:
    """An entity and its expanded navigations (``tree``) as plain JSON values, no pyodata proxies.

    Only expanded navigations are taken: pyodata turns a deferred to-many navigation into an empty
    list, which would claim "no children" for children that were never read.
    """
    if proxy is None:
        return {}
    cache = proxy._cache  # noqa: SLF001 - parsed values only; see getattr_cached
    payload: dict[str, Any] = {}
    for prop in entity_type.proprties():
        if prop.name in cache:
            payload[prop.name] = _payload_value(prop, cache[prop.name])
    for nav_name, subtree in tree.items():
        if nav_name not in cache:
            continue
        value = cache[nav_name]
        target = entity_type.nav_proprty(nav_name).typ
        if isinstance(value, list):
            payload[nav_name] = [_plain(target, child, subtree) for child in value]
        else:
            payload[nav_name] = _plain(target, value, subtree) if value is not None else None
    if proxy.etag:
        payload[ETAG_KEY] = proxy.etag
    return payload


def _check_names(entity_type: odata_model.EntityType, values: Mapping[str, Any], set_name: str) -> None:
    unknown = [n for n in values if not _has_property(entity_type, n) and not _has_nav(entity_type, n)]
    if unknown:
        raise ConfigError(
            f"{set_name} has no property or navigation {', '.join(sorted(unknown))}",
            system=SYSTEM,
            operation="write",
            entity=set_name,
        )


def _fill_ordinal_keys(
    entity_type: odata_model.EntityType, items: list[dict[str, Any]], taken: Iterable[Any]
) -> None:
    """Give new address communication items (phone, e-mail, fax) the keys the client sends.

    Their entity types key on AddressID, Person and OrdinalNumber, all non-nullable and creatable
    (API_BUSINESS_PARTNER $metadata, A_AddressPhoneNumberType, A_AddressEmailAddressType): the address
    comes from the parent, Person is initial for an organisation's own address, and OrdinalNumber
    numbers the items after those ``taken`` already. Where the live $metadata keys them otherwise or
    marks a key not creatable (the server assigns it), nothing is filled.
    """
    keys = {p.name: p for p in entity_type.key_proprties}
    if "OrdinalNumber" not in keys or not keys["OrdinalNumber"].creatable:
        return
    used = {int(v) for v in taken if str(v or "").isdigit()}
    used |= {int(i["OrdinalNumber"]) for i in items if str(i.get("OrdinalNumber") or "").isdigit()}
    for item in items:
        if "Person" in keys and keys["Person"].creatable and item.get("Person") is None:
            item["Person"] = ""
        if item.get("OrdinalNumber") in (None, ""):
            number = max(used, default=0) + 1
            used.add(number)
            item["OrdinalNumber"] = str(number)


def _wire_entity(
    service: _Service, entity_set: odata_model.EntitySet, values: Mapping[str, Any]
) -> dict[str, Any]:
    """A deep-insert payload: properties in wire form, navigations as nested payloads."""
    entity_type = entity_set.entity_type
    _check_names(entity_type, {k: v for k, v in values.items() if not k.startswith("__")}, entity_set.name)
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name.startswith("__"):
            continue
        if _has_property(entity_type, name):
            out[name] = _wire_value(entity_type.proprty(name), value)
            continue
        target, many = service.nav_target(entity_set, name)
        items = [dict(child) for child in _children_of(value)]
        _fill_ordinal_keys(target.entity_type, items, ())
        children = [_wire_entity(service, target, child) for child in items]
        if many:
            out[name] = children
        elif children:
            out[name] = children[0]
    return out


def _subset_equal(
    service: _Service,
    entity_set: odata_model.EntitySet,
    values: Mapping[str, Any],
    expected: Mapping[str, Any],
) -> bool:
    """Whether every value given (children included) already holds in ``expected``."""
    entity_type = entity_set.entity_type
    for name, value in values.items():
        if name.startswith("__"):
            continue
        if _has_property(entity_type, name):
            if not _same(entity_type.proprty(name), value, expected.get(name)):
                return False
            continue
        target, many = service.nav_target(entity_set, name)
        if not many and value is None:
            if expected.get(name):
                return False
            continue
        unused = _children_of(expected.get(name))
        for child in _children_of(value):
            match = next((e for e in unused if _subset_equal(service, target, child, e)), None)
            if match is None:
                return False
            unused.remove(match)
    return True


def _match_child(
    service: _Service,
    entity_set: odata_model.EntitySet,
    child: Mapping[str, Any],
    candidates: list[dict[str, Any]],
    own_keys: list[str],
    *,
    single: bool,
) -> dict[str, Any] | None:
    entity_type = entity_set.entity_type
    carried = [k for k in own_keys if child.get(k) not in (None, "")]
    if carried:
        return next(
            (
                c
                for c in candidates
                if all(_same(entity_type.proprty(k), child[k], c.get(k)) for k in carried)
            ),
            None,
        )
    match = next((c for c in candidates if _subset_equal(service, entity_set, child, c)), None)
    if match is None and single and len(candidates) == 1:
        return candidates[0]
    return match


def _split_key(entity_type: odata_model.EntityType, remote_key: str) -> dict[str, Any]:
    names = [p.name for p in entity_type.key_proprties]
    values = remote_key.split("|") if len(names) > 1 else [remote_key]
    if len(values) != len(names):
        raise RecordError(
            f"remote key {remote_key!r} does not have the parts {'|'.join(names)}",
            system=SYSTEM,
            operation="write",
        )
    return dict(zip(names, values, strict=True))


def _keys_filter(entity_type: odata_model.EntityType, remote_keys: Sequence[str]) -> str:
    """A ``$filter`` matching exactly these entities: ``(K1 eq 'a' and K2 eq 'b') or (...)``."""
    return " or ".join(
        "("
        + " and ".join(
            f"{name} eq {_literal(entity_type.proprty(name), value)}"
            for name, value in _split_key(entity_type, remote_key).items()
        )
        + ")"
        for remote_key in remote_keys
    )


def _key_string(entity_type: odata_model.EntityType, key: Mapping[str, Any]) -> str:
    return EntityKey(
        entity_type,
        **{k: _key_value(entity_type.proprty(k), v) for k, v in key.items() if _has_property(entity_type, k)},
    ).to_key_string()


def _resolve(
    service: _Service, entity_set: odata_model.EntitySet, path: list[str], *, last_is_property: bool
) -> Any:
    """Follow a ``to_A/to_B[/Prop]`` path through the metadata; KeyError names the broken step."""
    current = entity_set
    steps = path[:-1] if last_is_property else path
    for step in steps:
        if not _has_nav(current.entity_type, step):
            raise KeyError(f"{current.name} has no navigation {step}")
        current, _ = service.nav_target(current, step)
    if last_is_property:
        if not _has_property(current.entity_type, path[-1]):
            raise KeyError(f"{current.name} has no property {path[-1]}")
        return current.entity_type.proprty(path[-1])
    return current


_BOUNDARY = re.compile(r'boundary\s*=\s*"?([^";\s]+)"?', re.IGNORECASE)
_HEAD_END = re.compile(rb"\r?\n\r?\n")


def _multipart(body: bytes, content_type: str) -> list[bytes]:
    """The body parts of a multipart/mixed body (RFC 2046), without their delimiters."""
    match = _BOUNDARY.search(content_type)
    if not match:
        raise ValueError(f"multipart answer without a boundary: {content_type!r}")
    delimiter = b"--" + match.group(1).encode()
    parts = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        parts.append(chunk[2:] if chunk.startswith(b"\r\n") else chunk.lstrip(b"\n"))
    return parts


def _head(block: bytes) -> tuple[list[str], bytes]:
    """The header lines of a block up to the first empty line, and what follows."""
    match = _HEAD_END.search(block)
    if match is None:
        return block.decode("utf-8", "replace").splitlines(), b""
    return block[: match.start()].decode("utf-8", "replace").splitlines(), block[match.end() :]


def _headers(lines: list[str]) -> dict[str, str]:
    pairs = (line.partition(":") for line in lines)
    return {name.strip().lower(): value.strip() for name, sep, value in pairs if sep}


def _http_answer(part: bytes) -> _Answer:
    """An ``application/http`` body part: its MIME headers, then status line, headers and body."""
    _, message = _head(part)
    lines, body = _head(message)
    status_line = lines[0].split() if lines else []
    status = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 500
    headers = _headers(lines[1:])
    length = headers.get("content-length")
    if length and length.isdigit():
        body = body[: int(length)]
    else:
        body = body.rstrip(b"\r\n")
    return _Answer(status, headers, body)


def _batch_results(body: bytes, content_type: str) -> list[_ChangesetResult]:
    """Per changeset: every operation's answer, or the one error answer SAP gives for a failed changeset."""
    results = []
    for part in _multipart(body, content_type):
        lines, inner = _head(part)
        part_type = _headers(lines).get("content-type", "")
        if part_type.lower().startswith("multipart/mixed"):
            answers = [_http_answer(p) for p in _multipart(inner, part_type)]
            results.append(_ChangesetResult(all(200 <= a.status_code < 300 for a in answers), answers))
        else:
            answer = _http_answer(part)
            results.append(_ChangesetResult(200 <= answer.status_code < 300, [answer]))
    return results


__all__ = ["DEFAULT_CONN_ID", "IDEMPOTENCY_FIELDS", "SapConnector", "SapSession", "SapSettings", "sap_error"]
