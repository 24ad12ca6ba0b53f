"""The SAP sandbox's HTTP face: SAP Gateway's OData V2 protocol over a ``SapSystem``.

Serves ``/sap/opu/odata/sap/<SERVICE>/`` for the modelled services with what clients of a real
S/4HANA meet: Basic auth (or the session cookie), ``sap-client``, CSRF tokens bound to the session
(``X-CSRF-Token: Fetch``; writes without a valid token get 403 ``x-csrf-token: Required``), the
service document and ``$metadata``, queries with ``$filter/$select/$orderby/$top/$skip/$expand/
$inlinecount`` and ``/$count``, server-driven paging with ``__next``/``$skiptoken``, creates with
deep insert, MERGE/PATCH/PUT/DELETE (204), ETags with If-Match (428/412), ``$batch`` with atomic
changesets, and errors in SAP's JSON.

Entity data is JSON only: where a real Gateway would answer Atom XML (no ``$format=json`` and no
``Accept: application/json``) the sandbox answers 406, so a client cannot pass here by luck and
then meet XML on a real system. ``$metadata``, the service document, ``/$count`` and ``$value``
keep their own formats.
"""

from __future__ import annotations

import base64
import binascii
import http
import json
import re
import secrets
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.faults import FaultInjector, FaultMiddleware
from sandbox.sap.metadata import metadata_xml
from sandbox.sap.model import SERVICE_ROOT, SERVICES, EntitySet, Navigation
from sandbox.sap.odata import (
    CODE_BAD_REQUEST,
    CODE_RESOURCE_NOT_FOUND,
    ODataError,
    encode_entity,
    encode_value,
    entity_key_path,
)
from sandbox.sap.odata_query import (
    parse_expand,
    parse_filter,
    parse_key_predicate,
    parse_orderby,
    parse_select,
    sort_records,
)
from sandbox.sap.system import SapSystem
from sandbox.sap.system_model import Created, Record

SYSTEM_ID = "S4H"
MODIFYING = {"POST", "PUT", "MERGE", "PATCH", "DELETE"}
_METHODS = ["GET", "HEAD", *sorted(MODIFYING)]
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


def _json_response(status: int, payload: object, headers: dict[str, str] | None = None) -> ODataResponse:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return ODataResponse(
        status, {"content-type": JSON_TYPE, "dataserviceversion": "2.0", **(headers or {})}, body
    )


def error_response(error: ODataError, service: str | None = None) -> ODataResponse:
    """An ODataError as SAP Gateway answers it: its status and the JSON error body."""
    if service and not error.service:
        error.service = service
    return _json_response(error.status, error.to_json())


# ---------------------------------------------------------------------------------------------- sessions


class SessionRegistry:
    """Logon sessions and their CSRF tokens, as the ICM keeps them: a token is valid for one session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[str, str]] = {}  # session id -> (user, csrf token)

    def fetch(self, user: str, session_id: str | None) -> tuple[str, str]:
        """(session id, token) for ``user``: the current session's token, or a new session."""
        with self._lock:
            if session_id and self._sessions.get(session_id, ("",))[0] == user:
                return session_id, self._sessions[session_id][1]
            new_id = secrets.token_urlsafe(32)
            token = base64.b64encode(secrets.token_bytes(18)).decode()
            self._sessions[new_id] = (user, token)
            return new_id, token

    def user_of(self, session_id: str | None) -> str | None:
        with self._lock:
            entry = self._sessions.get(session_id or "")
            return entry[0] if entry else None

    def token_valid(self, user: str, session_id: str | None, token: str | None) -> bool:
        with self._lock:
            entry = self._sessions.get(session_id or "")
            return entry is not None and bool(token) and entry == (user, token)

    def expire(self, session_id: str | None) -> None:
        """End one logon session: its cookie and CSRF token stop working, other sessions go on."""
        with self._lock:
            self._sessions.pop(session_id or "", None)


def _csrf_failed() -> Response:
    return Response(
        "CSRF token validation failed",
        status_code=403,
        media_type="text/plain",
        headers={"x-csrf-token": "Required"},
    )


def _is_write(request: Request) -> bool:
    method = request.method.upper()
    override = request.headers.get("x-http-method", "").upper()
    return method in MODIFYING or (method == "POST" and override in MODIFYING)


class SapFaultResponder:
    """Injected faults in SAP's shapes: throttling, an unavailable or slow backend, a lost session."""

    def __init__(self, sessions: SessionRegistry, cookie_name: str) -> None:
        self.sessions = sessions
        self.cookie_name = cookie_name

    def _error(self, status: int, code: str, message: str) -> Response:
        body = ODataError(status, code, message).to_json()
        headers = {"retry-after": "1"} if status in (429, 503) else {}
        return Response(json.dumps(body), status_code=status, media_type=JSON_TYPE, headers=headers)

    def too_many_requests(self, request: Request) -> Response:
        return self._error(429, "/IWFND/CM_CONSUMER/429", "Too many requests; retry later")

    def unavailable(self, request: Request) -> Response:
        return self._error(
            503, "/IWFND/CM_BEC/026", "Service unavailable: the backend system cannot be reached"
        )

    def gateway_timeout(self, request: Request) -> Response:
        return self._error(
            504, "/IWFND/CM_BEC/027", "Gateway timeout: the backend system did not answer in time"
        )

    def expired_session(self, request: Request) -> Response | None:
        if not _is_write(request):
            return None
        # Only the session this request belongs to times out, as when the ICM drops one idle session.
        self.sessions.expire(request.cookies.get(self.cookie_name))
        return _csrf_failed()


# ---------------------------------------------------------------------------------------------- app


def create_app(system: SapSystem, faults: FaultInjector | None = None) -> Starlette:
    """The SAP Gateway in front of ``system``, wrapped in fault injection."""
    sessions = SessionRegistry()
    gateway = _Gateway(system, sessions)
    app = Starlette(
        routes=[
            # Sandbox extra, like the Salesforce sandbox's: the whole state as JSON (`synchub sandbox dump`).
            Route("/__sandbox/dump", gateway.dump, methods=["GET"]),
            Route("/{path:path}", gateway.endpoint, methods=_METHODS),
        ]
    )
    app.state.system = system
    app.state.sessions = sessions
    app.add_middleware(
        FaultMiddleware,
        injector=faults or FaultInjector(),
        responder=SapFaultResponder(sessions, gateway.cookie_name),
    )
    return app


class _Gateway:
    def __init__(self, system: SapSystem, sessions: SessionRegistry) -> None:
        self.system = system
        self.sessions = sessions
        self.cookie_name = f"SAP_SESSIONID_{SYSTEM_ID}_{system.sap_client}"
        self.realm = f'Basic realm="SAP NetWeaver Application Server [{SYSTEM_ID}/{system.sap_client}]"'

    async def dump(self, request: Request) -> Response:
        state = await run_in_threadpool(self.system.dump)
        return Response(json.dumps(state), media_type="application/json")

    async def endpoint(self, request: Request) -> Response:
        path = request.url.path
        if not path.startswith(SERVICE_ROOT):
            return _to_starlette(error_response(ODataError(404, CODE_RESOURCE_NOT_FOUND, "No service found")))
        service_name, _, rest = path[len(SERVICE_ROOT) :].partition("/")
        service = next((s for s in SERVICES if s.upper() == service_name.upper()), None)

        user = self._authenticate(request)
        if user is None:
            return Response(
                "<html><head><title>Logon Error Message</title></head><body>Logon failed</body></html>",
                status_code=401,
                media_type="text/html",
                headers={"www-authenticate": self.realm},
            )
        if service is None:
            message = f"No service found for namespace '/SAP/', name '{service_name}', version '0001'"
            return _to_starlette(error_response(ODataError(404, "/IWFND/MED/170", message)))

        method = request.method.upper()
        override = request.headers.get("x-http-method", "").upper()
        if method == "POST" and override in ("MERGE", "PUT", "PATCH", "DELETE"):
            method = override
        session_id = request.cookies.get(self.cookie_name)
        if method in MODIFYING and not self.sessions.token_valid(
            user, session_id, request.headers.get("x-csrf-token")
        ):
            return _csrf_failed()

        extra_headers: dict[str, str] = {}
        cookies: list[str] = []
        if method in ("GET", "HEAD") and request.headers.get("x-csrf-token", "").lower() == "fetch":
            session_id, token = self.sessions.fetch(user, session_id)
            extra_headers["x-csrf-token"] = token
            secure = "; secure" if request.url.scheme == "https" else ""  # browsers drop secure on http
            cookies.append(f"{self.cookie_name}={session_id}; path=/{secure}; HttpOnly")
            cookies.append(f"sap-usercontext=sap-client={self.system.sap_client}; path=/")

        body = await request.body()
        root = str(request.base_url).rstrip("/") + SERVICE_ROOT + service + "/"
        odata_request = ODataRequest(
            method="GET" if method == "HEAD" else method,
            service=service,
            path=rest,
            query=parse_qsl(request.url.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            root=root,
            user=user,
            head=method == "HEAD",
        )
        if rest == "$batch":
            result = await run_in_threadpool(self._batch, odata_request)
        else:
            result = await run_in_threadpool(self.handle, odata_request)
        result.headers.update(extra_headers)
        response = _to_starlette(result)
        for cookie in cookies:
            response.headers.append("set-cookie", cookie)
        return response

    def _authenticate(self, request: Request) -> str | None:
        client = request.query_params.get("sap-client") or request.headers.get("sap-client")
        if client is not None and client != self.system.sap_client:
            return None
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            user = user.upper()  # SAP user names are case-insensitive
            known = {u.upper(): p for u, p in self.system.users.items()}
            if user in known and secrets.compare_digest(known[user].encode(), password.encode()):
                return user
            return None
        return self.sessions.user_of(request.cookies.get(self.cookie_name))

    # ------------------------------------------------------------------------------ one operation

    def handle(self, request: ODataRequest) -> ODataResponse:
        """Run one operation; ODataErrors become SAP error responses."""
        try:
            return self.execute(request)
        except ODataError as exc:
            return error_response(exc, request.service)
        except Exception as exc:  # a sandbox bug still answers in SAP's shape
            return error_response(_internal_error(exc), request.service)

    def execute(self, request: ODataRequest) -> ODataResponse:
        """Run one operation; raises ODataError (so a changeset can roll back)."""
        segments = _split_path(request.path)
        method = request.method
        if not segments:
            self._only(method, "GET")
            return self._service_document(request)
        if segments == ["$metadata"]:
            self._only(method, "GET")
            return ODataResponse(
                200,
                {"content-type": "application/xml", "dataserviceversion": "2.0"},
                self.system.metadata.get(request.service) or metadata_xml(request.service),
            )
        if segments[0] == "$batch":
            raise ODataError(400, CODE_BAD_REQUEST, "A $batch request cannot be nested")

        name, predicate = _parse_segment(segments[0])
        entity_set = self.system.entity_set(request.service, name)
        rest = segments[1:]
        if predicate is None:
            if not rest:
                if method == "GET":
                    return self._collection(request, entity_set, self.system.records(entity_set))
                if method == "POST":
                    return self._create(request, entity_set, None)
                raise _method_not_allowed(method)
            if rest == ["$count"]:
                self._only(method, "GET")
                return self._count(request, entity_set, self.system.records(entity_set))
            raise _segment_not_found(rest[0])

        key = parse_key_predicate(entity_set, predicate)
        if not rest:
            return self._entity(request, entity_set, key)
        record = self.system.get(entity_set, key)
        nav_name, nav_predicate = _parse_segment(rest[0])
        if nav_name in entity_set.properties and nav_predicate is None:
            self._only(method, "GET")
            prop = entity_set.properties[nav_name]
            if rest[1:] == ["$value"]:
                value = record.get(nav_name)
                text = "" if value is None else str(encode_value(prop, value))
                return ODataResponse(200, {"content-type": "text/plain;charset=utf-8"}, text.encode())
            if rest[1:]:
                raise _segment_not_found(rest[1])
            _require_json(request)
            return _json_response(200, {"d": {nav_name: encode_value(prop, record.get(nav_name))}})
        nav = entity_set.navigations.get(nav_name)
        if nav is None:
            raise _segment_not_found(rest[0])
        target = self.system.entity_set(request.service, nav.target_set)
        related = self.system.related(entity_set, [record], nav.name)[0]
        tail = rest[1:]
        if nav_predicate is not None:
            child_key = parse_key_predicate(target, nav_predicate)
            if not any(
                self.system.key_of(target, r) == self.system.key_of(target, child_key) for r in related
            ):
                raise ODataError(
                    404, "/IWBEP/CM_MGW_RT/020", f"Resource not found for segment '{target.type_name}'"
                )
            if tail:
                raise _segment_not_found(tail[0])
            return self._entity(request, target, child_key)
        if tail == ["$count"]:
            self._only(method, "GET")
            return self._count(request, target, related)
        if tail:
            raise _segment_not_found(tail[0])
        if method == "POST":
            return self._create(request, target, (entity_set, record, nav.name))
        self._only(method, "GET")
        if nav.many:
            return self._collection(request, target, related)
        if not related:
            raise ODataError(
                404, "/IWBEP/CM_MGW_RT/020", f"Resource not found for segment '{target.type_name}'"
            )
        return self._single(request, target, related[0])

    @staticmethod
    def _only(method: str, allowed: str) -> None:
        if method != allowed:
            raise _method_not_allowed(method)

    def _service_document(self, request: ODataRequest) -> ODataResponse:
        names = list(self.system.model[request.service])
        accept = request.headers.get("accept", "")
        if request.option("$format") == "json" or "json" in accept:
            return _json_response(200, {"d": {"EntitySets": names}})
        collections = "".join(
            f'<app:collection href="{n}"><atom:title type="text">{n}</atom:title></app:collection>'
            for n in names
        )
        xml = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<app:service xml:lang="en" xml:base="{request.root}" xmlns:app="http://www.w3.org/2007/app" '
            'xmlns:atom="http://www.w3.org/2005/Atom">'
            f'<app:workspace><atom:title type="text">Data</atom:title>{collections}</app:workspace>'
            "</app:service>"
        )
        return ODataResponse(
            200, {"content-type": "application/xml;charset=utf-8", "dataserviceversion": "1.0"}, xml.encode()
        )

    # ------------------------------------------------------------------------------ reads

    def _filtered(self, request: ODataRequest, entity_set: EntitySet, records: list[Record]) -> list[Record]:
        expr = request.option("$filter")
        if expr is not None:
            predicate = parse_filter(expr, entity_set)
            records = [r for r in records if predicate(r)]
        orderby = request.option("$orderby")
        if orderby is not None:
            records = sort_records(records, parse_orderby(orderby, entity_set))
        return records

    def _count(self, request: ODataRequest, entity_set: EntitySet, records: list[Record]) -> ODataResponse:
        records = self._filtered(request, entity_set, records)
        skip = _non_negative(request, "$skip") or 0
        top = _non_negative(request, "$top")
        window = records[skip:] if top is None else records[skip : skip + top]
        return ODataResponse(
            200,
            {"content-type": "text/plain;charset=utf-8", "dataserviceversion": "2.0"},
            str(len(window)).encode(),
        )

    def _collection(
        self, request: ODataRequest, entity_set: EntitySet, records: list[Record]
    ) -> ODataResponse:
        inlinecount = request.option("$inlinecount")
        if inlinecount not in (None, "allpages", "none"):
            raise ODataError(400, CODE_BAD_REQUEST, f"Invalid value '{inlinecount}' for $inlinecount")
        _require_json(request)
        records = self._filtered(request, entity_set, records)
        total = len(records)
        skip = _non_negative(request, "$skip") or 0
        top = _non_negative(request, "$top")
        delivered = _non_negative(request, "$skiptoken") or 0
        window = records[skip:] if top is None else records[skip : skip + top]
        remaining = window[delivered:]
        # No server paging (page_size 0): many on-premise gateway services answer the whole result in
        # one response unless the client pages with $top/$skip (server-side paging is each service's
        # own implementation of $skiptoken in SAP Gateway, not a framework default).
        limit = self.system.page_size or len(remaining)
        page = remaining[:limit]
        select, expand = self._shape(request, entity_set)
        results = self._encode(request.root, entity_set, page, *select, expand, "")
        payload: dict[str, Any] = {"results": results}
        if inlinecount == "allpages":
            payload["__count"] = str(total)
        if len(remaining) > limit:
            params = [(k, v) for k, v in request.query if k != "$skiptoken"]
            params.append(("$skiptoken", str(delivered + limit)))
            link_path = quote(request.path, safe="/()',=@$")
            query = urlencode(params, quote_via=quote, safe="$',()/")
            payload["__next"] = f"{request.root}{link_path}?{query}"
        return _json_response(200, {"d": payload})

    def _shape(
        self, request: ODataRequest, entity_set: EntitySet
    ) -> tuple[tuple[list[str] | None, dict[str, list[str]]], dict[str, Any]]:
        """($select of the set and of navigation paths, $expand as a tree of navigation names)."""
        select_expr = request.option("$select")
        own: list[str] | None = None
        nested: dict[str, list[str]] = {}
        if select_expr is not None:
            own, nested = parse_select(select_expr, entity_set)
        tree: dict[str, Any] = {}
        expand_expr = request.option("$expand")
        if expand_expr is not None:
            for path in parse_expand(expand_expr, entity_set):
                node = tree
                for nav in path:
                    node = node.setdefault(nav.name, {})
        return (own, nested), tree

    def _encode(
        self,
        root: str,
        entity_set: EntitySet,
        records: list[Record],
        select: list[str] | None,
        nested: dict[str, list[str]],
        tree: dict[str, Any],
        prefix: str,
    ) -> list[dict]:
        """SAP's JSON; expanded navigations inline ("results" for to-many, an object for to-one)."""
        out = [encode_entity(entity_set, r, root, select) for r in records]
        if select is not None:
            # Navigations named in $select but not expanded stay deferred links.
            for path in nested:
                if "/" not in path and path in entity_set.navigations and path not in tree:
                    for entity in out:
                        entity[path] = {"__deferred": {"uri": f"{entity['__metadata']['uri']}/{path}"}}
        for nav_name, subtree in tree.items():
            nav: Navigation = entity_set.navigations[nav_name]
            target = self.system.entity_set(entity_set.service, nav.target_set)
            groups = self.system.related(entity_set, records, nav_name)
            path = prefix + nav_name
            sub_select = nested.get(path) or None
            flat = [child for group in groups for child in group]
            encoded = self._encode(root, target, flat, sub_select, nested, subtree, path + "/")
            position = 0
            for entity, group in zip(out, groups, strict=True):
                chunk = encoded[position : position + len(group)]
                position += len(group)
                entity[nav_name] = {"results": chunk} if nav.many else (chunk[0] if chunk else None)
        return out

    def _single(self, request: ODataRequest, entity_set: EntitySet, record: Record) -> ODataResponse:
        _require_json(request)
        (own, nested), tree = self._shape(request, entity_set)
        entity = self._encode(request.root, entity_set, [record], own, nested, tree, "")[0]
        headers = {}
        etag = self.system.etag(entity_set, record)
        if etag:
            headers["etag"] = etag
        return _json_response(200, {"d": entity}, headers)

    # ------------------------------------------------------------------------------ writes

    def _entity(self, request: ODataRequest, entity_set: EntitySet, key: dict) -> ODataResponse:
        method = request.method
        if method == "GET":
            return self._single(request, entity_set, self.system.get(entity_set, key))
        if method in ("MERGE", "PATCH", "PUT"):
            record = self.system.update(
                entity_set,
                key,
                _json_body(request),
                user=request.user,
                replace=method == "PUT",
                if_match=request.headers.get("if-match"),
            )
            headers = {"dataserviceversion": "1.0"}
            etag = self.system.etag(entity_set, record)
            if etag:
                headers["etag"] = etag
            return ODataResponse(204, headers)
        if method == "DELETE":
            self.system.delete(entity_set, key, user=request.user, if_match=request.headers.get("if-match"))
            return ODataResponse(204, {"dataserviceversion": "1.0"})
        raise _method_not_allowed(method)

    def _create(
        self, request: ODataRequest, entity_set: EntitySet, parent: tuple[EntitySet, Record, str] | None
    ) -> ODataResponse:
        _require_json(request)  # before the create: a rejected request must change nothing
        created = self.system.create(entity_set, _json_body(request), user=request.user, parent=parent)
        entity = self._encode_created(request.root, created)
        path = entity_key_path(entity_set, created.record)
        headers = {"location": request.root + path}
        etag = self.system.etag(entity_set, created.record)
        if etag:
            headers["etag"] = etag
        response = _json_response(201, {"d": entity}, headers)
        response.created_path = path
        return response

    def _encode_created(self, root: str, created: Created) -> dict:
        entity = encode_entity(created.entity_set, created.record, root, None)
        for nav_name, children in created.children.items():
            encoded = [self._encode_created(root, child) for child in children]
            many = created.entity_set.navigations[nav_name].many
            entity[nav_name] = {"results": encoded} if many else (encoded[0] if encoded else None)
        return entity

    # ------------------------------------------------------------------------------ $batch

    def _batch(self, request: ODataRequest) -> ODataResponse:
        try:
            if request.method != "POST":
                raise _method_not_allowed(request.method)
            boundary = _boundary(request.headers.get("content-type", ""))
            parts = list(_split_multipart(request.body, boundary))
        except ODataError as exc:
            return error_response(exc, request.service)

        out_boundary = f"batch_{uuid.uuid4()}"
        chunks: list[bytes] = []
        for headers, payload in parts:
            content_type = headers.get("content-type", "")
            if content_type.lower().startswith("multipart/mixed"):
                chunk, failed = self._changeset(request, headers, payload)
                chunks.append(chunk)
                if failed and self.system.batch_stops_at_failure:
                    break  # the rest of the batch is not processed, and not answered
            else:
                sub = _parse_http_part(request, payload)
                if sub.method != "GET":
                    error = ODataError(
                        400, CODE_BAD_REQUEST, f"Operation '{sub.method}' is only allowed in a changeset"
                    )
                    response = error_response(error, request.service)
                else:
                    response = self.handle(sub)
                chunks.append(_http_part(response))
        body = b"".join(f"--{out_boundary}\r\n".encode() + chunk + b"\r\n" for chunk in chunks)
        body += f"--{out_boundary}--\r\n".encode()
        return ODataResponse(
            202,
            {"content-type": f"multipart/mixed; boundary={out_boundary}", "dataserviceversion": "2.0"},
            body,
        )

    def _changeset(
        self, request: ODataRequest, headers: dict[str, str], payload: bytes
    ) -> tuple[bytes, bool]:
        """All operations of a changeset or none: the failing one's error stands for the whole set.
        Returns the answer part and whether the changeset failed."""
        responses: list[ODataResponse] = []
        created: dict[str, str] = {}
        try:
            boundary = _boundary(headers.get("content-type", ""))
            with self.system.transaction():
                for part_headers, part_payload in _split_multipart(payload, boundary):
                    sub = _parse_http_part(request, part_payload, created)
                    if sub.method == "GET":
                        raise ODataError(400, CODE_BAD_REQUEST, "A changeset must not contain GET requests")
                    response = self.execute(sub)
                    content_id = part_headers.get("content-id") or sub.headers.get("content-id")
                    if content_id and response.created_path:
                        created[content_id] = response.created_path
                    if content_id:
                        response.headers["content-id"] = content_id
                    responses.append(response)
        except ODataError as exc:
            return _http_part(error_response(exc, request.service)), True
        except Exception as exc:  # rolled back like any failed changeset
            return _http_part(error_response(_internal_error(exc), request.service)), True
        inner = f"changeset_{uuid.uuid4()}"
        body = b"".join(f"--{inner}\r\n".encode() + _http_part(r) + b"\r\n" for r in responses)
        body += f"--{inner}--".encode()
        return f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n".encode() + body, False


# ---------------------------------------------------------------------------------------------- wire helpers


def _to_starlette(result: ODataResponse) -> Response:
    """A Starlette response; for HEAD the server sends the headers of the GET and no body."""
    headers = {k: v for k, v in result.headers.items() if k != "content-type"}
    return Response(
        result.body, status_code=result.status, headers=headers, media_type=result.headers.get("content-type")
    )


def _split_path(path: str) -> list[str]:
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


def _parse_segment(segment: str) -> tuple[str, str | None]:
    match = _SEGMENT.match(segment)
    if not match:
        raise _segment_not_found(segment)
    return match.group(1), match.group(2)


def _segment_not_found(segment: str) -> ODataError:
    return ODataError(404, CODE_RESOURCE_NOT_FOUND, f"Resource not found for segment '{segment}'")


def _internal_error(exc: Exception) -> ODataError:
    return ODataError(500, "SY/530", f"Internal error in the sandbox: {type(exc).__name__}: {exc}")


def _method_not_allowed(method: str) -> ODataError:
    return ODataError(
        405, CODE_BAD_REQUEST, f"The request method '{method}' is not allowed for this resource"
    )


def _non_negative(request: ODataRequest, name: str) -> int | None:
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


def _require_json(request: ODataRequest) -> None:
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


def _json_body(request: ODataRequest) -> dict:
    try:
        payload = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ODataError(400, CODE_BAD_REQUEST, "The request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise ODataError(400, CODE_BAD_REQUEST, "The request body must be a JSON object")
    return payload


def _boundary(content_type: str) -> str:
    match = re.search(r'boundary\s*=\s*"?([^";]+)"?', content_type, re.IGNORECASE)
    if not match:
        raise ODataError(400, CODE_BAD_REQUEST, "A multipart/mixed request needs a boundary")
    return match.group(1).strip()


def _split_multipart(body: bytes, boundary: str) -> Iterator[tuple[dict[str, str], bytes]]:
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


def _parse_http_part(
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


def _http_part(response: ODataResponse) -> bytes:
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
