"""OData V2 wire rules of the SAP sandbox: SAP's error body, the JSON value codec, literals and entities.

Values are stored as Python natives (``str``, ``bool``, ``Decimal``, ``int``, naive-UTC ``datetime``
for ``Edm.DateTime``, aware-UTC ``datetime`` for ``Edm.DateTimeOffset``, ``time`` for ``Edm.Time``);
this module turns them into SAP Gateway's JSON (``/Date(ms)/``, decimals as strings, ``PT..H..M..S``)
and back, and writes literals, key paths, ETags and entities; ``sandbox.sap.odata_query`` compiles
``$filter``/``$orderby``/``$select``/``$expand``. Errors are :class:`ODataError` with SAP Gateway's JSON
error shape.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from sandbox.sap.model import EntitySet, Property

# Codes SAP Gateway answers with. Parser errors of the Gateway's OData library (/IWCOR/) carry the
# 32-hex text id of the exception rather than a message class; the ids below are the ones seen in
# real responses for a bad request / a segment that does not exist.
CODE_BAD_REQUEST = "005056A509B11EE1B9A8FEC11C21578E"
CODE_RESOURCE_NOT_FOUND = "005056A509B11EE1B9A8FEC11C21D78E"
CODE_MALFORMED = "005056A509B11ED1B9BF94F386DD82E6"  # "...could not be understood due to malformed syntax"
CODE_BUSINESS = "/IWBEP/CM_MGW_RT/022"  # generic business error raised by an application

_EPOCH = datetime(1970, 1, 1)
_ERROR_RESOLUTION = {
    "SAP_Transaction": (
        'For backend administrators: use ADT feed reader "SAP Gateway Error Log" or run transaction '
        "/IWFND/ERROR_LOG on SAP Gateway hub system and search for entries with the timestamp above "
        "for more details"
    ),
    "SAP_Note": "See SAP Note 1797736 for error analysis (https://service.sap.com/sap/support/notes/1797736)",
}


class ODataError(Exception):
    """An HTTP status plus SAP Gateway's error: a code (``/IWBEP/CM_MGW_RT/022``, ``SY/530`` or a
    32-hex text id), a message and optional error details (one per offending property).

    ``to_json()`` renders SAP's body ``{"error": {"code", "message": {"lang", "value"}, "innererror":
    {"application", "transactionid", "timestamp", "Error_Resolution", "errordetails"}}}``.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict] | None = None,
        *,
        service: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = [self._detail(d) for d in details or []]
        self.service = service
        self.transaction_id = uuid.uuid4().hex.upper()
        now = datetime.now(UTC)
        self.timestamp = now.strftime("%Y%m%d%H%M%S") + f".{now.microsecond:06d}0"

    def _detail(self, detail: dict) -> dict:
        return {
            "code": detail.get("code", self.code),
            "message": detail.get("message", self.message),
            "propertyref": detail.get("propertyref", ""),
            "severity": detail.get("severity", "error"),
            "target": detail.get("target", ""),
        }

    def to_json(self) -> dict:
        """SAP Gateway's JSON error body."""
        return {
            "error": {
                "code": self.code,
                "message": {"lang": "en", "value": self.message},
                "innererror": {
                    "application": {
                        "component_id": "",
                        "service_namespace": "/SAP/",
                        "service_id": self.service or "",
                        "service_version": "0001",
                    },
                    "transactionid": self.transaction_id,
                    "timestamp": self.timestamp,
                    "Error_Resolution": dict(_ERROR_RESOLUTION),
                    "errordetails": [dict(d) for d in self.details],
                },
            }
        }


def bad_request(message: str, code: str = CODE_BAD_REQUEST) -> ODataError:
    return ODataError(400, code, message)


def _invalid_value(prop: Property, raw: object, reason: str) -> ODataError:
    message = f"Invalid value '{raw}' for property '{prop.name}' ({prop.edm_type}): {reason}"
    return ODataError(
        400,
        CODE_MALFORMED,
        message,
        [{"message": message, "propertyref": prop.name, "target": prop.name}],
    )


# --------------------------------------------------------------------------------------------------
# Value codec


_DATE_JSON = re.compile(r"^/Date\((-?\d+)([+-]\d{1,4})?\)/$")
DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?$")
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_FRACTION = re.compile(r"\.(\d+)")
_INT_TYPES = {"Edm.Byte", "Edm.SByte", "Edm.Int16", "Edm.Int32", "Edm.Int64"}
_FLOAT_TYPES = {"Edm.Double", "Edm.Single", "Edm.Float"}


def parse_iso_datetime(text: str) -> datetime:
    """ISO date or date-time, with up to 7 fractional digits (SAP's timestamps) and Z or an offset."""
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    value = datetime.fromisoformat(text)
    return value


def _ms(value: datetime) -> int:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _as_datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    raise TypeError(f"not a date/datetime: {value!r}")


def naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def aware_utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _duration(value: time) -> str:
    text = f"PT{value.hour:02d}H{value.minute:02d}M{value.second:02d}"
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "S"


def _decimal_text(prop: Property, value: Decimal) -> str:
    if prop.scale is not None:
        value = value.quantize(Decimal(1).scaleb(-prop.scale))
    return format(value, "f")


def encode_value(prop: Property, value: object) -> object:
    """A stored native value as SAP Gateway writes it in OData V2 JSON."""
    if value is None:
        return None
    edm = prop.edm_type
    if edm == "Edm.DateTime":
        return f"/Date({_ms(_as_datetime(value))})/"
    if edm == "Edm.DateTimeOffset":
        return f"/Date({_ms(aware_utc(_as_datetime(value)))}+0000)/"
    if edm == "Edm.Time":
        return _duration(value)  # type: ignore[arg-type]
    if edm == "Edm.Decimal":
        return _decimal_text(prop, value if isinstance(value, Decimal) else Decimal(str(value)))
    if edm == "Edm.Boolean":
        return bool(value)
    if edm == "Edm.Int64":
        return str(int(value))  # type: ignore[call-overload]
    if edm in _INT_TYPES:
        return int(value)  # type: ignore[call-overload]
    if edm in _FLOAT_TYPES:
        return float(value)  # type: ignore[arg-type]
    return str(value)


_NULL_GUID = "00000000-0000-0000-0000-000000000000"


def initial_value(prop: Property) -> object:
    """ABAP's initial value of a property as stored: S/4 has no null for character, numeric or flag
    fields (``""``, ``0``, ``Decimal("0.000")``, ``False``); dates, timestamps and times stay None,
    which the Gateway renders as null."""
    edm = prop.edm_type
    if edm == "Edm.String":
        return ""
    if edm == "Edm.Boolean":
        return False
    if edm == "Edm.Decimal":
        return Decimal(0).quantize(Decimal(1).scaleb(-(prop.scale or 0)))
    if edm in _INT_TYPES:
        return 0
    if edm in _FLOAT_TYPES:
        return 0.0
    if edm == "Edm.Guid":
        return _NULL_GUID
    return None


def _decode_datetime(prop: Property, raw: object) -> datetime:
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, date):
        value = datetime(raw.year, raw.month, raw.day)
    elif isinstance(raw, str):
        m = _DATE_JSON.match(raw)
        if m:
            # pyodata's convention: ticks are wall-clock milliseconds, the suffix the offset in minutes
            wall = _EPOCH + timedelta(milliseconds=int(m.group(1)))
            offset = int(m.group(2) or 0)
            if prop.edm_type == "Edm.DateTime":
                value = wall + timedelta(minutes=offset)
            else:
                value = wall.replace(tzinfo=timezone(timedelta(minutes=offset)))
        else:
            try:
                value = parse_iso_datetime(raw)
            except ValueError:
                raise _invalid_value(prop, raw, "expected /Date(<ms>)/ or an ISO 8601 date/time") from None
    else:
        raise _invalid_value(prop, raw, "expected a date/time string")
    if prop.edm_type == "Edm.DateTimeOffset":
        return aware_utc(value)
    value = naive_utc(value)
    if prop.display_format == "date":
        # A DATS field: the Gateway keeps the date and drops the time of day.
        value = datetime(value.year, value.month, value.day)
    return value


def _decode_time(prop: Property, raw: object) -> time:
    if isinstance(raw, time):
        return raw
    if isinstance(raw, str):
        m = DURATION.match(raw)
        if m and raw != "PT":
            hours, minutes, seconds = int(m.group(1) or 0), int(m.group(2) or 0), Decimal(m.group(3) or 0)
            whole = int(seconds)
            micro = int((seconds - whole) * 1_000_000)
            if hours < 24 and minutes < 60 and whole < 60:
                return time(hours, minutes, whole, micro)
        m = _CLOCK.match(raw)
        if m:
            frac = (m.group(4) or "")[:6].ljust(6, "0")
            try:
                return time(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0), int(frac))
            except ValueError:
                pass
    raise _invalid_value(prop, raw, "expected a time of day such as PT15H04M05S")


def _decode_decimal(prop: Property, raw: object) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float, Decimal)):
        raise _invalid_value(prop, raw, "expected a decimal number")
    text = raw.strip().removesuffix("M").removesuffix("m") if isinstance(raw, str) else str(raw)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _invalid_value(prop, raw, "expected a decimal number") from None
    if not value.is_finite():
        raise _invalid_value(prop, raw, "expected a finite decimal number")
    if prop.precision is not None:
        scale = prop.scale or 0
        try:
            quantized = value.quantize(Decimal(1).scaleb(-scale))
        except InvalidOperation:
            raise _invalid_value(prop, raw, f"too many digits for precision {prop.precision}") from None
        if quantized != value:
            raise _invalid_value(prop, raw, f"more than {scale} decimal places")
        integer_digits = len(str(abs(int(quantized)))) if abs(quantized) >= 1 else 0
        if integer_digits > prop.precision - scale:
            raise _invalid_value(
                prop, raw, f"too many digits for precision {prop.precision} and scale {scale}"
            )
        value = quantized
    return value


def decode_value(prop: Property, raw: object) -> object:
    """A value from a JSON payload or a JSON-lines data file as the stored native, validated.

    Accepts SAP's wire forms and ISO strings (``2026-11-23``, ``2026-11-23T10:00:00Z``, ``PT10H``,
    ``10:00:00``), numbers for decimals; a wrong type, a too long string or a decimal outside the
    property's precision/scale is an :class:`ODataError` 400 that names the property.
    """
    if raw is None:
        if prop.is_key:
            raise _invalid_value(prop, raw, "a key property must not be null")
        return None
    edm = prop.edm_type
    if edm == "Edm.String":
        if not isinstance(raw, str):
            raise _invalid_value(prop, raw, "expected a string")
        if prop.max_length is not None and len(raw) > prop.max_length:
            message = (
                f"Value '{raw}' of property '{prop.name}' exceeds the maximum length of "
                f"{prop.max_length} characters"
            )
            detail = {"message": message, "propertyref": prop.name, "target": prop.name}
            raise ODataError(400, CODE_MALFORMED, message, [detail])
        return raw
    if edm == "Edm.Guid":
        if not isinstance(raw, str) or not GUID.match(raw):
            raise _invalid_value(prop, raw, "expected a GUID such as 00000000-0000-0000-0000-000000000000")
        return raw.lower()
    if edm == "Edm.Boolean":
        if isinstance(raw, bool):
            return raw
        if raw in ("true", "false"):
            return raw == "true"
        raise _invalid_value(prop, raw, "expected true or false")
    if edm == "Edm.Decimal":
        return _decode_decimal(prop, raw)
    if edm in _INT_TYPES:
        if isinstance(raw, bool):
            raise _invalid_value(prop, raw, "expected an integer")
        try:
            return int(raw.removesuffix("L") if isinstance(raw, str) else raw)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            raise _invalid_value(prop, raw, "expected an integer") from None
    if edm in _FLOAT_TYPES:
        if isinstance(raw, bool):
            raise _invalid_value(prop, raw, "expected a number")
        try:
            return float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise _invalid_value(prop, raw, "expected a number") from None
    if edm in ("Edm.DateTime", "Edm.DateTimeOffset"):
        return _decode_datetime(prop, raw)
    if edm == "Edm.Time":
        return _decode_time(prop, raw)
    return raw


# --------------------------------------------------------------------------------------------------
# Literals, keys, entities


def _datetime_text(value: datetime, fraction_digits: int | None = None) -> str:
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction_digits:
        text += f".{value.microsecond:06d}".ljust(fraction_digits + 1, "0")
    elif value.microsecond:
        text += f".{value.microsecond:06d}"
    return text


def literal_of(prop: Property, value: object) -> str:
    """A stored value as an OData V2 URI literal (key predicates, ETags): ``'x'``, ``datetime'...'``."""
    edm = prop.edm_type
    if value is None:
        return "null"
    if edm == "Edm.String":
        return "'" + str(value).replace("'", "''") + "'"
    if edm == "Edm.Guid":
        return f"guid'{value}'"
    if edm == "Edm.DateTime":
        return f"datetime'{_datetime_text(naive_utc(_as_datetime(value)))}'"
    if edm == "Edm.DateTimeOffset":
        return f"datetimeoffset'{_datetime_text(naive_utc(_as_datetime(value)), 7)}Z'"
    if edm == "Edm.Time":
        return f"time'{_duration(value)}'"  # type: ignore[arg-type]
    if edm == "Edm.Boolean":
        return "true" if value else "false"
    if edm == "Edm.Decimal":
        return f"{encode_value(prop, value)}M"
    if edm == "Edm.Int64":
        return f"{int(value)}L"  # type: ignore[call-overload]
    return str(value)


def entity_key_path(entity_set: EntitySet, record: dict) -> str:
    """``A_BusinessPartner('1000001')`` or ``A_BusinessPartnerAddress(BusinessPartner='1',AddressID='2')``,
    with the literals URL-escaped as SAP writes them in ``__metadata.uri``."""
    props = entity_set.properties
    parts = [quote(literal_of(props[k], record.get(k)), safe="'") for k in entity_set.keys]
    if len(parts) == 1:
        return f"{entity_set.name}({parts[0]})"
    pairs = ",".join(f"{k}={p}" for k, p in zip(entity_set.keys, parts, strict=True))
    return f"{entity_set.name}({pairs})"


def etag_of(entity_set: EntitySet, record: dict) -> str | None:
    """The weak ETag S/4 derives from LastChangeDateTime, e.g.
    ``W/"datetimeoffset'2026-11-23T10%3A00%3A00.0000000Z'"``; None for sets without ETag."""
    if not entity_set.has_etag:
        return None
    prop = entity_set.properties.get("LastChangeDateTime")
    value = record.get("LastChangeDateTime")
    if prop is None or value is None:
        return None
    return 'W/"' + quote(literal_of(prop, value), safe="'") + '"'


def encode_entity(entity_set: EntitySet, record: dict, base_url: str, select: list[str] | None) -> dict:
    """One entity in SAP's JSON: ``__metadata`` (id, uri, type, etag), the (selected) properties and,
    when nothing is selected, a ``__deferred`` link per navigation property.

    ``base_url`` is the service root (``https://host/sap/opu/odata/sap/API_BUSINESS_PARTNER/``).
    """
    root = base_url if base_url.endswith("/") else base_url + "/"
    uri = root + entity_key_path(entity_set, record)
    metadata: dict[str, str] = {"id": uri, "uri": uri, "type": f"{entity_set.service}.{entity_set.type_name}"}
    etag = etag_of(entity_set, record)
    if etag is not None:
        metadata["etag"] = etag
    out: dict[str, Any] = {"__metadata": metadata}
    names = entity_set.properties if select is None else select
    for name in names:
        out[name] = encode_value(entity_set.properties[name], record.get(name))
    if select is None:
        for nav in entity_set.navigations:
            out[nav] = {"__deferred": {"uri": f"{uri}/{nav}"}}
    return out
