"""The SAP connector's settings: constants, the knobs of the connection's extras (``SapSettings``)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.errors import (
    ConfigError,
    RetryPolicy,
)
from connectors.extras import ExtrasReader

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
MAY_HAVE_LANDED = {None, 500, 502, 504}
LOOKUP_CHUNK = 20  # idempotency values per $filter: keeps URLs well below Gateway limits
KEY_CHUNK = 50  # entity keys per $filter when reading current state or ETags


@dataclass(frozen=True)
class SapSettings:
    """Knobs of the SAP connector; each can be set by an extra ``synchub_<knob>`` of the Airflow connection
    (``connectors.extras``; the old bare names, e.g. ``look_back_seconds``, are still read, with a warning).

    - ``look_back``: overlap subtracted from ``since`` (clock skew, same-second writes); extra
      ``synchub_lookback_seconds``. Staging skips unchanged payloads by hash, so the overlap is cheap.
    - ``stamp_timezone``: the time zone of LastChangeDate/LastChangeTime (S/4 keeps them in the
      system's time zone; UTC in the sandbox).
    - ``page_size``: client-side ``$top``/``$skip`` windows ordered by the key (each window still
      follows the server's ``__next``). On by default: many on-premise gateway services page nothing
      on the server side, and a full read of partners with their expands would come as one response.
    - ``batch_size``: records per ``$batch`` request (one changeset each).
    - ``timeout``: seconds to wait for an answer (extra ``synchub_request_timeout_seconds``).
    - ``inline_count``: ask for ``$inlinecount=allpages`` (logs the total on the first page).
    - ``retry``: backoff policy (extras ``synchub_retry_max_attempts``, ``synchub_retry_initial_seconds``,
      ``synchub_retry_max_seconds``, ``synchub_retry_max_retry_after``).
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
        reader = extras_reader(extras, conn_id)
        changes: dict[str, Any] = {}
        if (seconds := reader.number("lookback_seconds", minimum=0)) is not None:
            changes["look_back"] = dt.timedelta(seconds=seconds)
        if (zone := reader.text("stamp_timezone")) is not None:
            changes["stamp_timezone"] = zone
        if (page_size := reader.integer("page_size", minimum=1)) is not None:
            changes["page_size"] = page_size
        if (batch_size := reader.integer("batch_size", minimum=1)) is not None:
            changes["batch_size"] = batch_size
        if (timeout := reader.number("request_timeout_seconds", minimum=0.001)) is not None:
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
            raise config_error(
                conn_id, "stamp_timezone", f"unknown time zone {self.stamp_timezone!r}"
            ) from None
        if self.batch_size < 1 or (self.page_size is not None and self.page_size < 1) or self.timeout <= 0:
            raise config_error(conn_id, "batch_size/page_size/timeout", "must be positive")


def config_error(conn_id: str, extra: str, reason: str) -> ConfigError:
    return ConfigError(
        f"connection {conn_id!r}, extra {extra!r}: {reason}", system=SYSTEM, operation="config"
    )


# The extras the connector read under bare names before every SyncHub knob was named synchub_<knob>.
LEGACY_EXTRAS = {
    "lookback_seconds": "look_back_seconds",
    "stamp_timezone": "stamp_timezone",
    "page_size": "page_size",
    "batch_size": "batch_size",
    "request_timeout_seconds": "timeout",
    "inline_count": "inline_count",
    "retry_max_attempts": "retry_max_attempts",
    "retry_initial_seconds": "retry_initial_seconds",
    "retry_max_seconds": "retry_max_seconds",
    "retry_max_retry_after": "retry_max_retry_after",
    "ca_bundle": "ca_bundle",
    "service_paths": "service_paths",
}


def extras_reader(extras: Mapping[str, Any], conn_id: str) -> ExtrasReader:
    """The SAP connection's extras (``synchub_<knob>``, or the knob's old bare name)."""
    return ExtrasReader(extras, conn_id, SYSTEM, legacy=LEGACY_EXTRAS, error=config_error)
