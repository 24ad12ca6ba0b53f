"""The sandbox org's vocabulary: its error, record shapes, the object constants, and Salesforce's id and
datetime formats."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sandbox.salesforce.schema import (
    make_id,
    to_18,
)

Record = dict[str, Any]

ORG_ID = make_id("00D", 1)
INTEGRATION_USER_ID = make_id("005", 1)
STANDARD_PRICEBOOK_NAME = "Standard Price Book"

# Parents first, so ``load`` can derive fields from already loaded parents.
LOAD_ORDER = ["Pricebook2", "Account", "Contact", "Product2", "PricebookEntry", "Order", "OrderItem"]
# Children that go to the recycle bin with their parent (master-detail and cascading lookups).
CASCADE_DELETE: dict[str, list[tuple[str, str]]] = {
    "Account": [("Contact", "AccountId")],
    "Product2": [("PricebookEntry", "Product2Id")],
    "Pricebook2": [("PricebookEntry", "Pricebook2Id")],
    "Order": [("OrderItem", "OrderId")],
}
# Parent -> children indexes, so roll-ups, cascades and price book checks stay cheap at bulk volumes.
CHILD_INDEXES = [
    ("Contact", "AccountId"),
    ("PricebookEntry", "Product2Id"),
    ("PricebookEntry", "Pricebook2Id"),
    ("OrderItem", "OrderId"),
]
AUTO_NUMBERS = {"Order": ("OrderNumber", 8), "OrderItem": ("OrderItemNumber", 10)}
ADDRESS_PARTS = {
    "street": "Street",
    "city": "City",
    "state": "State",
    "postalCode": "PostalCode",
    "country": "Country",
    "latitude": "Latitude",
    "longitude": "Longitude",
    "geocodeAccuracy": "GeocodeAccuracy",
}
TEXT_TYPES = {"string", "textarea", "phone", "email", "url", "picklist", "multipicklist", "combobox"}
NUMBER_TYPES = {"double", "currency", "percent"}

_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}:?\d{2})?$"
)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SalesforceApiError(Exception):
    """An error as Salesforce reports it: HTTP status, error code, message and affected fields."""

    def __init__(self, status: int, error_code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields

    def body(self) -> list[dict[str, Any]]:
        """The REST error body; DML errors carry ``fields``, request errors do not."""
        item: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            item["fields"] = list(self.fields)
        return [item]

    def collection_error(self) -> dict[str, Any]:
        """One entry of a per-record ``errors`` list (sObject Collections say ``statusCode``)."""
        return {"statusCode": self.error_code, "message": self.message, "fields": list(self.fields or [])}


@dataclass(frozen=True)
class QueryResult:
    records: list[dict[str, Any]]
    total_size: int


def format_datetime(value: dt.datetime) -> str:
    """Salesforce's canonical datetime: UTC, whole seconds, ``2026-11-23T15:04:05.000+0000``."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def parse_datetime(text: str) -> dt.datetime | None:
    """Parse the ISO forms Salesforce accepts (``Z``, ``+00:00``, ``+0000``, no zone = UTC, date only)."""
    m = _DATETIME_RE.match(text.strip())
    if m:
        year, month, day, hour, minute, second, fraction, zone = m.groups()
        try:
            value = dt.datetime(
                int(year),
                int(month),
                int(day),
                int(hour),
                int(minute),
                int(second or 0),
                int((fraction or "0")[:6].ljust(6, "0")),
                tzinfo=dt.UTC,
            )
        except ValueError:
            return None
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            value = value.replace(tzinfo=dt.timezone(sign * offset))
        return value.astimezone(dt.UTC)
    m = DATE_RE.match(text.strip())
    if m:
        try:
            return dt.datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=dt.UTC)
        except ValueError:
            return None
    return None


def normalize_id(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character Id, or None when it is not an Id."""
    if not _ID_RE.match(value):
        return None
    if len(value) == 15:
        return to_18(value)
    return value if to_18(value[:15]) == value else None
