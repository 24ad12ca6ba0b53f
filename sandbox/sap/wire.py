"""SAP Gateway's HTTP side for the sandbox: request and response values, URL path segments, JSON content
negotiation (406 where a real Gateway would answer Atom XML) and the ``$batch`` multipart format."""

from __future__ import annotations

import http
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from starlette.responses import Response

from sandbox.sap.model import SERVICE_ROOT
from sandbox.sap.odata import (
    CODE_BAD_REQUEST,
    CODE_RESOURCE_NOT_FOUND,
    ODataError,
)

SYSTEM_ID = "S4H"
MODIFYING = {"POST", "PUT", "MERGE", "PATCH", "DELETE"}
METHODS = ["GET", "HEAD", *sorted(MODIFYING)]
JSON_TYPE = "application/json;charset=utf-8"
_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\(.*\))?$", re.DOTALL)


@dataclass
class ODataRequest:
    """One OData operation, from the wire or from a ``$batch`` part."""

    method: str
    service: str
    path: str  # below the service root, percent-decoded, e.g. "A_BusinessPartner('1')/to_Customer"
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    root: str  # service root URL, ending in "/"
    user: str
    head: bool = False  # a HEAD request, answered as its GET without the body

    def option(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None


@dataclass
class ODataResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    created_path: str | None = None  # entity path of a 201, for $batch Content-ID references


def json_response(status: int, payload: object, headers: dict[str, str] | None = None) -> ODataResponse:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return ODataResponse(
        status, {"content-type": JSON_TYPE, "dataserviceversion": "2.0", **(headers or {})}, body
    )


def error_response(error: ODataError, service: str | None = None) -> ODataResponse:
    """An ODataError as SAP Gateway answers it: its status and the JSON error body."""
    if service and not error.service:
        error.service = service
    return json_response(error.status, error.to_json())


# ---------------------------------------------------------------------------------------------- wire helpers


def to_starlette(result: ODataResponse) -> Response:
    """A Starlette response; for HEAD the server sends the headers of the GET and no body."""
    headers = {k: v for k, v in result.headers.items() if k != "content-type"}
    return Response(
        result.body, status_code=result.status, headers=headers, media_type=result.headers.get("content-type")
    )


def split_path(path: str) -> list[str]:
    """Path segments, keeping slashes inside quoted key values."""
    segments: list[str] = []
    current: list[str] = []
    quoted = False
    for char in path:
        if char == "'":
            quoted = not quoted
        if char == "/" and not quoted:
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
    segments.append("".join(current))
    return [s for s in segments if s != ""]


def parse_segment(segment: str) -> tuple[str, str | None]:
    match = _SEGMENT.match(segment)
    if not match:
        raise segment_not_found(segment)
    return match.group(1), match.group(2)


def segment_not_found(segment: str) -> ODataError:
    return ODataError(404, CODE_RESOURCE_NOT_FOUND, f"Resource not found for segment '{segment}'")


def internal_error(exc: Exception) -> ODataError:
    return ODataError(500, "SY/530", f"Internal error in the sandbox: {type(exc).__name__}: {exc}")


def method_not_allowed(method: str) -> ODataError:
    return ODataError(
        405, CODE_BAD_REQUEST, f"The request method '{method}' is not allowed for this resource"
    )


def non_negative(request: ODataRequest, name: str) -> int | None:
    raw = request.option(name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise ODataError(400, CODE_BAD_REQUEST, f"Invalid value '{raw}' for system query option {name}")
    return int(raw)


def _accepts_json(accept: str) -> bool:
    """Whether an Accept header names application/json (with a non-zero quality)."""
    for media_range in accept.split(","):
        media_type, *params = (part.strip() for part in media_range.split(";"))
        if media_type.lower() != "application/json":
            continue
        quality = next((p.partition("=")[2] for p in params if p.lower().startswith("q=")), "1")
        try:
            if float(quality) > 0:
                return True
        except ValueError:
            continue
    return False


def require_json(request: ODataRequest) -> None:
    """406 unless the client asked for JSON: SAP Gateway answers entity data as Atom XML by default
    (no ``$format``, ``Accept: */*`` or XML), which this sandbox does not speak. A client that works
    here only by luck would get XML from a real system."""
    fmt = request.option("$format")
    if fmt in ("json", "application/json") or (request.head and fmt is None):
        return  # HEAD (a CSRF token fetch) sends no body, so its format does not matter
    if fmt is None and _accepts_json(request.headers.get("accept", "")):
        return
    asked = f"$format={fmt}" if fmt is not None else f"Accept: {request.headers.get('accept') or '(none)'}"
    raise ODataError(
        406,
        CODE_BAD_REQUEST,
        f"Not acceptable ({asked}): SAP Gateway would answer Atom XML here; this sandbox speaks JSON "
        "only: send 'Accept: application/json' or add '$format=json'",
    )


def json_body(request: ODataRequest) -> dict:
    try:
        payload = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ODataError(400, CODE_BAD_REQUEST, "The request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise ODataError(400, CODE_BAD_REQUEST, "The request body must be a JSON object")
    return payload


def multipart_boundary(content_type: str) -> str:
    match = re.search(r'boundary\s*=\s*"?([^";]+)"?', content_type, re.IGNORECASE)
    if not match:
        raise ODataError(400, CODE_BAD_REQUEST, "A multipart/mixed request needs a boundary")
    return match.group(1).strip()


def split_multipart(body: bytes, boundary: str) -> Iterator[tuple[dict[str, str], bytes]]:
    """(headers, payload) of each body part between ``--boundary`` delimiters (RFC 2046)."""
    delimiter = re.compile(rb"(?:^|\r?\n)--" + re.escape(boundary.encode()) + rb"(--)?[ \t]*(?=\r?\n|$)")
    matches = list(delimiter.finditer(body))
    if not matches or not matches[-1].group(1):
        raise ODataError(400, CODE_BAD_REQUEST, f"Multipart body without closing delimiter '--{boundary}--'")
    for current, following in zip(matches, matches[1:], strict=False):
        if current.group(1):
            break
        part = body[current.end() : following.start()]
        part = part[2:] if part.startswith(b"\r\n") else part[1:] if part.startswith(b"\n") else part
        yield _split_headers(part)


def _split_headers(block: bytes) -> tuple[dict[str, str], bytes]:
    """Headers up to the first empty line, and what follows."""
    match = re.search(rb"\r?\n\r?\n", block)
    if block.startswith((b"\r\n", b"\n")):
        head, rest = b"", block.split(b"\n", 1)[1]
    elif match:
        head, rest = block[: match.start()], block[match.end() :]
    else:
        head, rest = block, b""
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", "replace").splitlines():
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, rest


def parse_http_part(
    batch: ODataRequest, payload: bytes, content_ids: dict[str, str] | None = None
) -> ODataRequest:
    """An ``application/http`` part as an operation of the batch's service and user."""
    line, _, rest = payload.partition(b"\n")
    fields = line.decode("utf-8", "replace").strip().split()
    if len(fields) < 2:
        raise ODataError(400, CODE_BAD_REQUEST, "Batch part without a request line")
    method, target = fields[0].upper(), fields[1]
    headers, body = _split_headers(rest)
    body = body[:-2] if body.endswith(b"\r\n") else body
    url = urlsplit(target)
    path = unquote(url.path)
    service_prefix = f"{SERVICE_ROOT}{batch.service}/"
    if path.startswith(service_prefix):
        path = path[len(service_prefix) :]
    path = path.lstrip("/")
    if content_ids and path.startswith("$"):
        reference, _, tail = path[1:].partition("/")
        if reference in content_ids:
            path = content_ids[reference] + ("/" + tail if tail else "")
    override = headers.get("x-http-method", "").upper()
    if method == "POST" and override in ("MERGE", "PUT", "PATCH", "DELETE"):
        method = override
    return ODataRequest(
        method=method,
        service=batch.service,
        path=unquote(path),
        query=parse_qsl(url.query, keep_blank_values=True),
        headers=headers,
        body=body if body.strip() else b"",
        root=batch.root,
        user=batch.user,
    )


def http_part(response: ODataResponse) -> bytes:
    """An operation's response as an ``application/http`` body part."""
    reason = http.HTTPStatus(response.status).phrase
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    headers = dict(response.headers)
    headers["content-length"] = str(len(response.body))
    lines += [f"{name}: {value}" for name, value in headers.items()]
    message = "\r\n".join(lines).encode() + b"\r\n\r\n" + response.body
    head = (
        f"Content-Type: application/http\r\nContent-Length: {len(message)}\r\n"
        "content-transfer-encoding: binary\r\n\r\n"
    )
    return head.encode() + message
