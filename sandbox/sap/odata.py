"""OData V2 wire rules of the SAP sandbox: SAP's error body, the JSON value codec and the query options.

Values are stored as Python natives (``str``, ``bool``, ``Decimal``, ``int``, naive-UTC ``datetime``
for ``Edm.DateTime``, aware-UTC ``datetime`` for ``Edm.DateTimeOffset``, ``time`` for ``Edm.Time``);
this module turns them into SAP Gateway's JSON (``/Date(ms)/``, decimals as strings, ``PT..H..M..S``)
and back, and compiles ``$filter``/``$orderby``/``$select``/``$expand`` against the entity model.
Errors are :class:`ODataError` with SAP Gateway's JSON error shape.
"""

from __future__ import annotations

import operator
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from sandbox.sap.model import EntitySet, Navigation, Property, load_model

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


def _bad_request(message: str, code: str = CODE_BAD_REQUEST) -> ODataError:
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
_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_FRACTION = re.compile(r"\.(\d+)")
_INT_TYPES = {"Edm.Byte", "Edm.SByte", "Edm.Int16", "Edm.Int32", "Edm.Int64"}
_FLOAT_TYPES = {"Edm.Double", "Edm.Single", "Edm.Float"}


def _parse_iso_datetime(text: str) -> datetime:
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


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _aware_utc(value: datetime) -> datetime:
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
        return f"/Date({_ms(_aware_utc(_as_datetime(value)))}+0000)/"
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
                value = _parse_iso_datetime(raw)
            except ValueError:
                raise _invalid_value(prop, raw, "expected /Date(<ms>)/ or an ISO 8601 date/time") from None
    else:
        raise _invalid_value(prop, raw, "expected a date/time string")
    if prop.edm_type == "Edm.DateTimeOffset":
        return _aware_utc(value)
    value = _naive_utc(value)
    if prop.display_format == "date":
        # A DATS field: the Gateway keeps the date and drops the time of day.
        value = datetime(value.year, value.month, value.day)
    return value


def _decode_time(prop: Property, raw: object) -> time:
    if isinstance(raw, time):
        return raw
    if isinstance(raw, str):
        m = _DURATION.match(raw)
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
        if not isinstance(raw, str) or not _GUID.match(raw):
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
        return f"datetime'{_datetime_text(_naive_utc(_as_datetime(value)))}'"
    if edm == "Edm.DateTimeOffset":
        return f"datetimeoffset'{_datetime_text(_naive_utc(_as_datetime(value)), 7)}Z'"
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


# --------------------------------------------------------------------------------------------------
# Tokenizer shared by $filter and key predicates

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<typed>(?:datetimeoffset|datetime|time|guid)'[^']*')
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[MmLlDdFf]?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<punct>[(),=])
    """,
    re.VERBOSE | re.IGNORECASE,
)


class _Tok:
    __slots__ = ("kind", "text", "pos")

    def __init__(self, kind: str, text: str, pos: int) -> None:
        self.kind, self.text, self.pos = kind, text, pos


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise _bad_request(f"Invalid token detected at position {pos}")
        kind = m.lastgroup or ""
        if kind != "ws":
            # `name'..'` not matched as typed (e.g. X'..') is an unknown literal prefix
            if kind == "name" and m.end() < len(text) and text[m.end()] == "'":
                raise _bad_request(f"Invalid token detected at position {pos}")
            tokens.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    tokens.append(_Tok("end", "", len(text)))
    return tokens


# Static kinds of filter operands, for SAP's operand type checks.
_KIND_OF_EDM = {
    "Edm.String": "string",
    "Edm.Guid": "guid",
    "Edm.Boolean": "bool",
    "Edm.Decimal": "number",
    "Edm.Double": "number",
    "Edm.Single": "number",
    "Edm.Float": "number",
    "Edm.Byte": "number",
    "Edm.SByte": "number",
    "Edm.Int16": "number",
    "Edm.Int32": "number",
    "Edm.Int64": "number",
    "Edm.DateTime": "datetime",
    "Edm.DateTimeOffset": "datetimeoffset",
    "Edm.Time": "time",
}


def _literal(tok: _Tok) -> tuple[object, str]:
    """A literal token as (native value, kind); ODataError 400 when malformed."""
    text = tok.text
    try:
        if tok.kind == "string":
            return text[1:-1].replace("''", "'"), "string"
        if tok.kind == "number":
            suffix = text[-1].upper()
            if suffix in "DF":
                return float(text[:-1]), "number"
            if suffix == "L":
                return int(text[:-1]), "number"
            if suffix == "M":
                return Decimal(text[:-1]), "number"
            if re.fullmatch(r"-?\d+", text):
                return int(text), "number"
            return Decimal(text), "number"
        if tok.kind == "typed":
            prefix, _, body = text.partition("'")
            body = body[:-1]
            prefix = prefix.lower()
            if prefix == "datetime":
                if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?Z?", body):
                    raise ValueError(body)
                return _naive_utc(_parse_iso_datetime(body)), "datetime"
            if prefix == "datetimeoffset":
                value = _parse_iso_datetime(body)
                if value.tzinfo is None:
                    raise ValueError(body)
                return _aware_utc(value), "datetimeoffset"
            if prefix == "time":
                m = _DURATION.match(body)
                if not m or body == "PT":
                    raise ValueError(body)
                seconds = Decimal(m.group(3) or 0)
                micro = int((seconds - int(seconds)) * 1_000_000)
                return time(int(m.group(1) or 0), int(m.group(2) or 0), int(seconds), micro), "time"
            if prefix == "guid":
                if not _GUID.match(body):
                    raise ValueError(body)
                return body.lower(), "guid"
    except (ValueError, InvalidOperation):
        pass
    raise _bad_request(f"Invalid token detected at position {tok.pos}")


def parse_key_predicate(entity_set: EntitySet, text: str) -> dict:
    """``('1')``, ``(BusinessPartner='1')`` or ``(A='1',B=datetime'...')`` (already URL-decoded) as
    {key property: stored value}; ODataError 400 for a malformed or incomplete predicate."""
    invalid = _bad_request(f"Invalid key predicate {text} for entity type {entity_set.type_name}")
    try:
        tokens = _tokenize(text)
    except ODataError:
        raise invalid from None
    if len(tokens) < 3 or tokens[0].text != "(" or tokens[-2].text != ")":
        raise invalid
    body = tokens[1:-2]
    values: dict[str, _Tok] = {}
    if len(body) == 1 and len(entity_set.keys) == 1:
        values[entity_set.keys[0]] = body[0]
    else:
        groups: list[list[_Tok]] = [[]]
        for tok in body:
            if tok.kind == "punct" and tok.text == ",":
                groups.append([])
            else:
                groups[-1].append(tok)
        for group in groups:
            if len(group) != 3 or group[0].kind != "name" or group[1].text != "=":
                raise invalid
            name = group[0].text
            if name not in entity_set.keys or name in values:
                raise invalid
            values[name] = group[2]
        if set(values) != set(entity_set.keys):
            raise invalid
    out: dict = {}
    for name, tok in values.items():
        if tok.kind not in ("string", "number", "typed") and tok.text not in ("true", "false"):
            raise invalid
        prop = entity_set.properties[name]
        value, kind = (tok.text == "true", "bool") if tok.kind == "name" else _literal(tok)
        expected = _KIND_OF_EDM.get(prop.edm_type, "string")
        if kind != expected:
            raise invalid
        if kind == "string":
            value = decode_value(prop, value)
        elif kind == "number":
            value = decode_value(prop, str(value))
        elif kind == "datetime" and prop.display_format == "date":
            value = datetime(value.year, value.month, value.day)  # type: ignore[attr-defined]
        out[name] = value
    return out


# --------------------------------------------------------------------------------------------------
# $filter

Getter = Callable[[dict], Any]

_COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
# function name -> (argument kinds, result kind); "any" accepts every kind
_FUNCTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "substringof": (("string", "string"), "bool"),
    "startswith": (("string", "string"), "bool"),
    "endswith": (("string", "string"), "bool"),
    "tolower": (("string",), "string"),
    "toupper": (("string",), "string"),
    "trim": (("string",), "string"),
    "length": (("string",), "number"),
    "indexof": (("string", "string"), "number"),
    "concat": (("string", "string"), "string"),
    "substring": (("string", "number", "number"), "string"),
    "year": (("date",), "number"),
    "month": (("date",), "number"),
    "day": (("date",), "number"),
    "hour": (("date",), "number"),
    "minute": (("date",), "number"),
    "second": (("date",), "number"),
}


def _string_fn(name: str, args: list[Getter]) -> Getter:
    a = args[0]
    b = args[1] if len(args) > 1 else None
    if name == "substringof":
        return lambda r: (x := a(r)) is not None and (y := b(r)) is not None and x in y  # type: ignore[misc]
    if name == "startswith":
        return lambda r: (x := a(r)) is not None and (y := b(r)) is not None and x.startswith(y)  # type: ignore[misc]
    if name == "endswith":
        return lambda r: (x := a(r)) is not None and (y := b(r)) is not None and x.endswith(y)  # type: ignore[misc]
    if name == "tolower":
        return lambda r: None if (x := a(r)) is None else x.lower()
    if name == "toupper":
        return lambda r: None if (x := a(r)) is None else x.upper()
    if name == "trim":
        return lambda r: None if (x := a(r)) is None else x.strip()
    if name == "length":
        return lambda r: None if (x := a(r)) is None else len(x)
    if name == "indexof":
        return lambda r: None if (x := a(r)) is None or (y := b(r)) is None else x.find(y)  # type: ignore[misc]
    if name == "concat":
        return lambda r: (a(r) or "") + (b(r) or "")  # type: ignore[misc]
    if name == "substring":
        c = args[2] if len(args) > 2 else None

        def substring(r: dict) -> Any:
            x, start = a(r), b(r)  # type: ignore[misc]
            if x is None or start is None:
                return None
            return x[start:] if c is None else x[start : start + c(r)]

        return substring
    attr = name
    return lambda r: None if (x := a(r)) is None else getattr(x, attr)


class _FilterParser:
    """Recursive descent over OData V2 $filter; builds closures with static kind checks."""

    def __init__(self, expr: str, entity_set: EntitySet) -> None:
        self.expr = expr
        self.entity_set = entity_set
        self.tokens = _tokenize(expr)
        self.i = 0

    def error(self, tok: _Tok | None = None) -> ODataError:
        tok = tok or self.tokens[self.i]
        return _bad_request(f"Invalid token detected at position {tok.pos}")

    def peek(self) -> _Tok:
        return self.tokens[self.i]

    def take(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        if self.peek().text != text:
            raise self.error()
        self.i += 1

    def parse(self) -> Callable[[dict], bool]:
        fn, kind = self.or_expr()
        if self.peek().kind != "end":
            raise self.error()
        if kind not in ("bool", "any"):
            raise _bad_request(f"Invalid filter expression: '{self.expr}' does not evaluate to a boolean")
        return lambda r: bool(fn(r))

    def require_bool(self, kind: str, tok: _Tok) -> None:
        if kind not in ("bool", "any", "null"):
            raise self.error(tok)

    def or_expr(self) -> tuple[Getter, str]:
        start = self.peek()
        left, kind = self.and_expr()
        while self.peek().kind == "name" and self.peek().text == "or":
            op = self.take()
            self.require_bool(kind, start)
            right, rkind = self.and_expr()
            self.require_bool(rkind, op)
            left = (lambda a, b: lambda r: bool(a(r)) or bool(b(r)))(left, right)
            kind = "bool"
        return left, kind

    def and_expr(self) -> tuple[Getter, str]:
        start = self.peek()
        left, kind = self.comparison()
        while self.peek().kind == "name" and self.peek().text == "and":
            op = self.take()
            self.require_bool(kind, start)
            right, rkind = self.comparison()
            self.require_bool(rkind, op)
            left = (lambda a, b: lambda r: bool(a(r)) and bool(b(r)))(left, right)
            kind = "bool"
        return left, kind

    def comparison(self) -> tuple[Getter, str]:
        left, lkind = self.unary()
        tok = self.peek()
        if tok.kind == "name" and tok.text in _COMPARISONS:
            self.take()
            right_tok = self.peek()
            right, rkind = self.unary()
            return self.compare(tok, left, lkind, right, rkind, right_tok), "bool"
        return left, lkind

    def unary(self) -> tuple[Getter, str]:
        # `not` binds tighter than the comparisons (OData V2 precedence): `not A eq B` is `(not A) eq B`
        tok = self.peek()
        if tok.kind == "name" and tok.text == "not":
            self.take()
            inner, kind = self.unary()
            self.require_bool(kind, tok)
            return (lambda a: lambda r: not a(r))(inner), "bool"
        return self.primary()

    def compare(self, op: _Tok, left: Getter, lkind: str, right: Getter, rkind: str, rtok: _Tok) -> Getter:
        kinds = {lkind, rkind} - {"null", "any"}
        if kinds == {"datetime", "datetimeoffset"}:
            left = (lambda g: lambda r: None if (v := g(r)) is None else _naive_utc(v))(left)
            right = (lambda g: lambda r: None if (v := g(r)) is None else _naive_utc(v))(right)
        elif len(kinds) > 1:
            raise _bad_request(
                f"Invalid filter expression: operator '{op.text}' incompatible with operand types "
                f"at position {rtok.pos}"
            )
        if kinds == {"bool"} and op.text not in ("eq", "ne"):
            raise self.error(op)
        if kinds == {"guid"}:
            left = (lambda g: lambda r: None if (v := g(r)) is None else v.lower())(left)
            right = (lambda g: lambda r: None if (v := g(r)) is None else v.lower())(right)
        name = op.text
        if name == "eq":
            return lambda r: left(r) == right(r)
        if name == "ne":
            return lambda r: left(r) != right(r)
        fn = {"gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le}[name]

        def ordered(r: dict) -> bool:
            a, b = left(r), right(r)
            return a is not None and b is not None and fn(a, b)

        return ordered

    def primary(self) -> tuple[Getter, str]:
        tok = self.take()
        if tok.text == "(":
            inner, kind = self.or_expr()
            self.expect(")")
            return inner, kind
        if tok.kind in ("string", "number", "typed"):
            value, kind = _literal(tok)
            return (lambda v: lambda r: v)(value), kind
        if tok.kind != "name":
            raise self.error(tok)
        if tok.text in ("true", "false"):
            value = tok.text == "true"
            return (lambda v: lambda r: v)(value), "bool"
        if tok.text == "null":
            return (lambda r: None), "null"
        if self.peek().text == "(":
            return self.function(tok)
        if tok.text in _COMPARISONS or tok.text in ("and", "or", "not"):
            raise self.error(tok)
        return self.property(tok)

    def property(self, tok: _Tok) -> tuple[Getter, str]:
        name = tok.text
        if "/" in name:
            raise _bad_request(
                f"Invalid filter expression: navigation path '{name}' at position {tok.pos} is not supported"
            )
        prop = self.entity_set.properties.get(name)
        if prop is None:
            raise _bad_request(f"Property '{name}' not found in type '{self.entity_set.type_name}'")
        return (lambda n: lambda r: r.get(n))(name), _KIND_OF_EDM.get(prop.edm_type, "string")

    def function(self, tok: _Tok) -> tuple[Getter, str]:
        spec = _FUNCTIONS.get(tok.text)
        if spec is None:
            raise _bad_request(f"Invalid filter expression: unknown function '{tok.text}' at {tok.pos}")
        arg_kinds, result = spec
        self.expect("(")
        args: list[Getter] = []
        kinds: list[tuple[str, _Tok]] = []
        while True:
            arg_tok = self.peek()
            fn, kind = self.or_expr()
            args.append(fn)
            kinds.append((kind, arg_tok))
            if self.peek().text == ",":
                self.take()
                continue
            self.expect(")")
            break
        optional = 1 if tok.text == "substring" else 0
        if not len(arg_kinds) - optional <= len(args) <= len(arg_kinds):
            raise _bad_request(
                f"Invalid filter expression: wrong number of parameters for function '{tok.text}' "
                f"at position {tok.pos}"
            )
        for (kind, arg_tok), wanted in zip(kinds, arg_kinds[: len(kinds)], strict=True):
            ok = kind in ("null", "any") or kind == wanted
            if wanted == "date":
                ok = ok or kind in ("datetime", "datetimeoffset")
            if not ok:
                raise _bad_request(
                    f"Invalid parametertype used at function '{tok.text}' (Position: {arg_tok.pos})"
                )
        return _string_fn(tok.text, args), result


def parse_filter(expr: str, entity_set: EntitySet) -> Callable[[dict], bool]:
    """Compile a ``$filter`` expression once into a predicate over stored records.

    Supports eq ne gt ge lt le, and or not, parentheses, substringof/startswith/endswith,
    tolower/toupper/trim/length/indexof/concat/substring, year..second, and the literals
    'string' ('' escapes), 12 / 12.5 / 12.5M / 10L / 1.5d, true/false, null, datetime'...',
    datetimeoffset'...', time'PT..', guid'...'. Unknown properties and syntax errors are
    ODataError 400. Comparisons with null are false except eq/ne.
    """
    if not expr.strip():
        raise _bad_request("Invalid filter expression: the expression is empty")
    return _FilterParser(expr, entity_set).parse()


# --------------------------------------------------------------------------------------------------
# $orderby, $select, $expand


def _unknown_property(entity_set: EntitySet, name: str) -> ODataError:
    return _bad_request(f"Property '{name}' not found in type '{entity_set.type_name}'")


def parse_orderby(expr: str, entity_set: EntitySet) -> list[tuple[str, bool]]:
    """``A, B desc`` as [(property, descending)]; properties of the set itself only."""
    out: list[tuple[str, bool]] = []
    for item in expr.split(","):
        parts = item.split()
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1] not in ("asc", "desc")):
            raise _bad_request(f"Invalid sort expression '{item.strip()}' in $orderby")
        if parts[0] not in entity_set.properties:
            raise _unknown_property(entity_set, parts[0])
        out.append((parts[0], len(parts) == 2 and parts[1] == "desc"))
    return out


def sort_records(records: list[dict], orderby: list[tuple[str, bool]]) -> list[dict]:
    """A sorted copy; null sorts first ascending and last descending (as HANA does)."""
    result = list(records)
    for name, descending in reversed(orderby):
        result.sort(key=lambda r: (0, 0) if r.get(name) is None else (1, r.get(name)), reverse=descending)
    return result


def _target(entity_set: EntitySet, nav: Navigation) -> EntitySet:
    return load_model()[entity_set.service][nav.target_set]


def _walk(entity_set: EntitySet, path: list[str], option: str) -> tuple[list[Navigation], EntitySet]:
    navs: list[Navigation] = []
    current = entity_set
    for step in path:
        nav = current.navigations.get(step)
        if nav is None:
            raise _bad_request(
                f"Invalid {option}: '{step}' is not a navigation property of type '{current.type_name}'"
            )
        navs.append(nav)
        current = _target(current, nav)
    return navs, current


def parse_select(expr: str, entity_set: EntitySet) -> tuple[list[str], dict[str, list[str]]]:
    """``$select`` as (own properties, {navigation path: its selected properties}).

    ``*`` selects all own properties; ``to_X`` or ``to_X/*`` selects every property of the
    navigation target (an empty list); ``to_X/CityName`` selects one. Unknown names are 400.
    """
    own: list[str] = []
    navs: dict[str, list[str]] = {}
    whole: set[str] = set()
    for raw in expr.split(","):
        item = raw.strip()
        if not item:
            raise _bad_request(f"Invalid $select expression '{expr}'")
        if item == "*":
            own.extend(p for p in entity_set.properties if p not in own)
            continue
        parts = item.split("/")
        if len(parts) == 1 and parts[0] in entity_set.properties:
            if parts[0] not in own:
                own.append(parts[0])
            continue
        last = parts[-1]
        _, target = _walk(entity_set, parts[:-1], "$select") if len(parts) > 1 else (None, entity_set)
        if last in target.navigations:
            _walk(target, [last], "$select")
            key = item
            whole.add(key)
            navs[key] = []
        elif len(parts) > 1 and (last == "*" or last in target.properties):
            key = "/".join(parts[:-1])
            if last == "*":
                whole.add(key)
                navs[key] = []
            elif key not in whole and last not in navs.setdefault(key, []):
                navs[key].append(last)
        else:
            raise _unknown_property(target, last)
    return own, navs


def parse_expand(expr: str, entity_set: EntitySet) -> list[list[Navigation]]:
    """``to_A/to_B,to_C`` as navigation paths, each checked against the model (400 otherwise)."""
    paths: list[list[Navigation]] = []
    for raw in expr.split(","):
        item = raw.strip()
        if not item:
            raise _bad_request(f"Invalid $expand expression '{expr}'")
        navs, _ = _walk(entity_set, item.split("/"), "$expand")
        if navs not in paths:
            paths.append(navs)
    return paths
