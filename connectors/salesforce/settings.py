"""The Salesforce connector's settings: constants, the knobs of the connection's extras."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from connectors.errors import (
    ConfigError,
    RetryPolicy,
)
from connectors.extras import PREFIX, ExtrasReader

log = logging.getLogger(__name__)


SYSTEM = "salesforce"
DEFAULT_CONN_ID = "synchub_crm"
EXTRA_PREFIX = PREFIX  # every SyncHub knob of the connection is synchub_<knob> (connectors.extras)


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
        reader = ExtrasReader(extras, conn_id, SYSTEM)
        values: dict[str, Any] = {}
        for f in fields(cls):
            kind = str(f.type)
            if "int" in kind:
                value: Any = reader.integer(f.name)
            elif "float" in kind:
                value = reader.number(f.name, percent=True)
            else:
                value = reader.text(f.name)
            if value is not None:
                values[f.name] = value  # ranges are checked by the settings themselves
        try:
            return cls(**values)
        except ValueError as exc:
            raise ConfigError(
                f"connection {conn_id!r}: extra {EXTRA_PREFIX}{exc}", system=SYSTEM, operation="configure"
            ) from None


# The metadata package of SyncHub's custom fields and the integration user's permission set.
SETUP_KIT = (
    "setup/salesforce (deploy: sf project deploy start --source-dir setup/salesforce/force-app; "
    "then assign the permission set SyncHub_Integration to the integration user)"
)
