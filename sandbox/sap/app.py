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
import json
import secrets
import uuid
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

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
from sandbox.sap.sessions import SapFaultResponder, SessionRegistry, csrf_failed
from sandbox.sap.system import SapSystem
from sandbox.sap.system_model import Created, Record
from sandbox.sap.wire import (
    METHODS,
    MODIFYING,
    SYSTEM_ID,
    ODataRequest,
    ODataResponse,
    error_response,
    http_part,
    internal_error,
    json_body,
    json_response,
    method_not_allowed,
    multipart_boundary,
    non_negative,
    parse_http_part,
    parse_segment,
    require_json,
    segment_not_found,
    split_multipart,
    split_path,
    to_starlette,
)

# ---------------------------------------------------------------------------------------------- app


def create_app(system: SapSystem, faults: FaultInjector | None = None) -> Starlette:
    """The SAP Gateway in front of ``system``, wrapped in fault injection."""
    sessions = SessionRegistry()
    gateway = _Gateway(system, sessions)
    app = Starlette(
        routes=[
            # Sandbox extra, like the Salesforce sandbox's: the whole state as JSON (`synchub sandbox dump`).
            Route("/__sandbox/dump", gateway.dump, methods=["GET"]),
            Route("/{path:path}", gateway.endpoint, methods=METHODS),
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
            return to_starlette(error_response(ODataError(404, CODE_RESOURCE_NOT_FOUND, "No service found")))
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
            return to_starlette(error_response(ODataError(404, "/IWFND/MED/170", message)))

        method = request.method.upper()
        override = request.headers.get("x-http-method", "").upper()
        if method == "POST" and override in ("MERGE", "PUT", "PATCH", "DELETE"):
            method = override
        session_id = request.cookies.get(self.cookie_name)
        if method in MODIFYING and not self.sessions.token_valid(
            user, session_id, request.headers.get("x-csrf-token")
        ):
            return csrf_failed()

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
        response = to_starlette(result)
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
            return error_response(internal_error(exc), request.service)

    def execute(self, request: ODataRequest) -> ODataResponse:
        """Run one operation; raises ODataError (so a changeset can roll back)."""
        segments = split_path(request.path)
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

        name, predicate = parse_segment(segments[0])
        entity_set = self.system.entity_set(request.service, name)
        rest = segments[1:]
        if predicate is None:
            if not rest:
                if method == "GET":
                    return self._collection(request, entity_set, self.system.records(entity_set))
                if method == "POST":
                    return self._create(request, entity_set, None)
                raise method_not_allowed(method)
            if rest == ["$count"]:
                self._only(method, "GET")
                return self._count(request, entity_set, self.system.records(entity_set))
            raise segment_not_found(rest[0])

        key = parse_key_predicate(entity_set, predicate)
        if not rest:
            return self._entity(request, entity_set, key)
        record = self.system.get(entity_set, key)
        nav_name, nav_predicate = parse_segment(rest[0])
        if nav_name in entity_set.properties and nav_predicate is None:
            self._only(method, "GET")
            prop = entity_set.properties[nav_name]
            if rest[1:] == ["$value"]:
                value = record.get(nav_name)
                text = "" if value is None else str(encode_value(prop, value))
                return ODataResponse(200, {"content-type": "text/plain;charset=utf-8"}, text.encode())
            if rest[1:]:
                raise segment_not_found(rest[1])
            require_json(request)
            return json_response(200, {"d": {nav_name: encode_value(prop, record.get(nav_name))}})
        nav = entity_set.navigations.get(nav_name)
        if nav is None:
            raise segment_not_found(rest[0])
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
                raise segment_not_found(tail[0])
            return self._entity(request, target, child_key)
        if tail == ["$count"]:
            self._only(method, "GET")
            return self._count(request, target, related)
        if tail:
            raise segment_not_found(tail[0])
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
            raise method_not_allowed(method)

    def _service_document(self, request: ODataRequest) -> ODataResponse:
        names = list(self.system.model[request.service])
        accept = request.headers.get("accept", "")
        if request.option("$format") == "json" or "json" in accept:
            return json_response(200, {"d": {"EntitySets": names}})
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
        skip = non_negative(request, "$skip") or 0
        top = non_negative(request, "$top")
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
        require_json(request)
        records = self._filtered(request, entity_set, records)
        total = len(records)
        skip = non_negative(request, "$skip") or 0
        top = non_negative(request, "$top")
        delivered = non_negative(request, "$skiptoken") or 0
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
        return json_response(200, {"d": payload})

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
        require_json(request)
        (own, nested), tree = self._shape(request, entity_set)
        entity = self._encode(request.root, entity_set, [record], own, nested, tree, "")[0]
        headers = {}
        etag = self.system.etag(entity_set, record)
        if etag:
            headers["etag"] = etag
        return json_response(200, {"d": entity}, headers)

    # ------------------------------------------------------------------------------ writes

    def _entity(self, request: ODataRequest, entity_set: EntitySet, key: dict) -> ODataResponse:
        method = request.method
        if method == "GET":
            return self._single(request, entity_set, self.system.get(entity_set, key))
        if method in ("MERGE", "PATCH", "PUT"):
            record = self.system.update(
                entity_set,
                key,
                json_body(request),
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
        raise method_not_allowed(method)

    def _create(
        self, request: ODataRequest, entity_set: EntitySet, parent: tuple[EntitySet, Record, str] | None
    ) -> ODataResponse:
        require_json(request)  # before the create: a rejected request must change nothing
        created = self.system.create(entity_set, json_body(request), user=request.user, parent=parent)
        entity = self._encode_created(request.root, created)
        path = entity_key_path(entity_set, created.record)
        headers = {"location": request.root + path}
        etag = self.system.etag(entity_set, created.record)
        if etag:
            headers["etag"] = etag
        response = json_response(201, {"d": entity}, headers)
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
                raise method_not_allowed(request.method)
            boundary = multipart_boundary(request.headers.get("content-type", ""))
            parts = list(split_multipart(request.body, boundary))
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
                sub = parse_http_part(request, payload)
                if sub.method != "GET":
                    error = ODataError(
                        400, CODE_BAD_REQUEST, f"Operation '{sub.method}' is only allowed in a changeset"
                    )
                    response = error_response(error, request.service)
                else:
                    response = self.handle(sub)
                chunks.append(http_part(response))
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
            boundary = multipart_boundary(headers.get("content-type", ""))
            with self.system.transaction():
                for part_headers, part_payload in split_multipart(payload, boundary):
                    sub = parse_http_part(request, part_payload, created)
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
            return http_part(error_response(exc, request.service)), True
        except Exception as exc:  # rolled back like any failed changeset
            return http_part(error_response(internal_error(exc), request.service)), True
        inner = f"changeset_{uuid.uuid4()}"
        body = b"".join(f"--{inner}\r\n".encode() + http_part(r) + b"\r\n" for r in responses)
        body += f"--{inner}--".encode()
        return f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n".encode() + body, False
