"""The Salesforce REST API of the sandbox org: OAuth, sObjects, SOQL paging, collections, limits.

Routes and wire shapes follow the real REST API so simple-salesforce (and Airflow's SalesforceHook)
work unmodified. Authentication, the daily API budget and the ``Sforce-Limit-Info`` header live in
one ASGI middleware (``rest_wire.ApiGate``) that also covers the Bulk API 2.0 routes mounted from ``bulk2``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from sandbox.faults import FaultInjector, FaultMiddleware
from sandbox.salesforce.org import SalesforceOrg
from sandbox.salesforce.org_model import SalesforceApiError, normalize_id
from sandbox.salesforce.rest_wire import (
    MAX_COLLECTION,
    ROLLED_BACK,
    SUPPORTED_VERSIONS,
    ApiGate,
    Call,
    QueryCursors,
    SalesforceFaults,
    bool_param,
    collection_failure,
    collection_id,
    collection_records,
    endpoint,
    method_not_allowed,
    not_found,
    oauth_error,
    parse_stamp,
    query_batch_size,
    release_label,
    split_list,
    too_many,
    unexpected,
    window_bound,
)


# ---------------------------------------------------------------------------------------------- the API
class RestApi:
    """The REST resources of one org; each handler is synchronous and runs in the thread pool."""

    def __init__(self, org: SalesforceOrg) -> None:
        self.org = org
        self.cursors = QueryCursors()

    # -- discovery and limits ----------------------------------------------------------------
    def versions(self, call: Call) -> Response:
        return JSONResponse(
            [
                {"label": release_label(int(float(v))), "url": f"/services/data/v{v}", "version": v}
                for v in SUPPORTED_VERSIONS
            ]
        )

    def resources(self, call: Call) -> Response:
        names = ["sobjects", "query", "queryAll", "limits", "composite", "jobs"]
        return JSONResponse({name: f"{call.base}/{name}" for name in names})

    def limits(self, call: Call) -> Response:
        used, limit = self.org.api_usage()

        def pair(maximum: int, remaining: int | None = None) -> dict[str, int]:
            return {"Max": maximum, "Remaining": maximum if remaining is None else remaining}

        return JSONResponse(
            {
                "ConcurrentAsyncGetReportInstances": pair(200),
                "DailyApiRequests": pair(limit, max(limit - used, 0)),
                "DailyAsyncApexExecutions": pair(250000),
                "DailyBulkApiBatches": pair(15000),
                "DailyBulkV2QueryFileStorageMB": pair(976562),
                "DailyBulkV2QueryJobs": pair(10000),
                "DataStorageMB": pair(1024),
                "FileStorageMB": pair(1024),
                "HourlyTimeBasedWorkflow": pair(1000),
                "SingleEmail": pair(15),
            }
        )

    # -- describe ------------------------------------------------------------------------------
    def describe_global(self, call: Call) -> Response:
        return JSONResponse(
            {
                "encoding": "UTF-8",
                "maxBatchSize": MAX_COLLECTION,
                "sobjects": [od.summary(call.base) for od in self.org.schema.values()],
            }
        )

    def sobject_basic(self, call: Call) -> Response:
        od = self.org.object_def(call.param("obj"))
        if call.request.method == "POST":
            return self.create(call)
        return JSONResponse({"objectDescribe": od.summary(call.base), "recentItems": []})

    def describe(self, call: Call) -> Response:
        od = self.org.object_def(call.param("obj"))
        return JSONResponse(od.describe(call.base))

    # -- records -------------------------------------------------------------------------------
    def create(self, call: Call) -> Response:
        od = self.org.object_def(call.param("obj"))
        body = {k: v for k, v in call.json_object().items() if k != "attributes"}
        self.org.check_json_types(od.name, body)
        record_id = self.org.insert(od.name, body)
        return JSONResponse({"id": record_id, "success": True, "errors": []}, status_code=201)

    def record(self, call: Call) -> Response:
        od = self.org.object_def(call.param("obj"))
        raw_id = call.param("record_id")
        record_id = normalize_id(raw_id)
        if record_id is None:
            raise SalesforceApiError(
                404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {raw_id}"
            )
        method = call.request.method
        if method in ("GET", "HEAD"):
            fields = call.request.query_params.get("fields")
            names = split_list(fields) if fields is not None else None
            return JSONResponse(self.org.retrieve(od.name, record_id, names, base_url=call.base))
        if method == "PATCH":
            body = {k: v for k, v in call.json_object().items() if k != "attributes"}
            self.org.check_json_types(od.name, body)
            self.org.update(od.name, record_id, body)
            return Response(status_code=204)
        if method == "DELETE":
            self.org.delete(od.name, record_id)
            return Response(status_code=204)
        raise method_not_allowed(method, "GET,HEAD,PATCH,DELETE")

    def by_external_id(self, call: Call) -> Response:
        od = self.org.object_def(call.param("obj"))
        ext_field, value = call.param("ext_field"), call.param("value")
        method = call.request.method
        if method == "PATCH":
            body = {k: v for k, v in call.json_object().items() if k != "attributes"}
            self.org.check_json_types(od.name, body)
            if bool_param(call.request.query_params.get("updateOnly")) and not self.org.find_by_external_id(
                od.name, ext_field, value
            ):
                raise SalesforceApiError(404, "NOT_FOUND", "The requested resource does not exist")
            try:
                record_id, created = self.org.upsert(od.name, ext_field, value, body)
            except SalesforceApiError as exc:
                if exc.error_code == "MULTIPLE_CHOICES":
                    return self._choices(call, od.name, exc.fields or [])
                raise
            if created:
                return JSONResponse(
                    {"id": record_id, "success": True, "errors": [], "created": True}, status_code=201
                )
            return Response(status_code=204)
        if method not in ("GET", "HEAD", "DELETE"):
            raise method_not_allowed(method, "GET,HEAD,PATCH,DELETE")
        matches = self.org.find_by_external_id(od.name, ext_field, value)
        if len(matches) > 1:
            return self._choices(call, od.name, matches)
        if not matches:
            raise SalesforceApiError(404, "NOT_FOUND", "The requested resource does not exist")
        if method == "DELETE":
            self.org.delete(od.name, matches[0])
            return Response(status_code=204)
        fields = call.request.query_params.get("fields")
        names = split_list(fields) if fields is not None else None
        return JSONResponse(self.org.retrieve(od.name, matches[0], names, base_url=call.base))

    def _choices(self, call: Call, obj: str, ids: list[str]) -> Response:
        """300 Multiple Choices: the URLs of every record the external id matched."""
        return JSONResponse([f"{call.base}/sobjects/{obj}/{i}" for i in ids], status_code=300)

    def changed(self, call: Call) -> Response:
        """``sobjects/X/updated`` and ``sobjects/X/deleted``: Ids changed in a time window (getUpdated)."""
        od = self.org.object_def(call.param("obj"))
        params = call.request.query_params
        start, end = window_bound(params.get("start"), "start"), window_bound(params.get("end"), "end")
        if end <= start:
            raise SalesforceApiError(
                400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate"
            )
        latest = end.replace(second=0, microsecond=0)
        deleted_view = call.request.url.path.rstrip("/").endswith("/deleted")
        stamps = []
        for rec in self.org.live_records(od.name, include_deleted=True):
            stamp = parse_stamp(rec["SystemModstamp"])
            if rec["IsDeleted"] == deleted_view and start <= stamp < latest:
                stamps.append((rec["Id"], rec["SystemModstamp"]))
        covered = latest.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        if deleted_view:
            return JSONResponse(
                {
                    "deletedRecords": [{"id": i, "deletedDate": s} for i, s in stamps],
                    "earliestDateAvailable": start.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
                    "latestDateCovered": covered,
                }
            )
        return JSONResponse({"ids": [i for i, _ in stamps], "latestDateCovered": covered})

    # -- query -----------------------------------------------------------------------------------
    def query(self, call: Call) -> Response:
        soql = call.request.query_params.get("q")
        if not soql:
            raise SalesforceApiError(400, "MALFORMED_QUERY", "A query string is required (parameter q)")
        include_deleted = call.request.url.path.rstrip("/").endswith("/queryAll")
        result = self.org.run_query(soql, include_deleted=include_deleted, base_url=call.base)
        batch = query_batch_size(call.request.headers.get("sforce-query-options"))
        first = result.records[:batch]
        if len(result.records) <= batch:
            return JSONResponse({"totalSize": result.total_size, "done": True, "records": first})
        locator = self.cursors.open(result.records, result.total_size, batch)
        return self._page(call, locator, result.total_size, first, batch, done=False)

    def query_more(self, call: Call) -> Response:
        locator, _, offset_text = call.param("locator").partition("-")
        if not offset_text.isdigit():
            raise SalesforceApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        cursor = self.cursors.take(locator)
        offset = int(offset_text)
        page = cursor.records[offset : offset + cursor.batch]
        done = offset + cursor.batch >= len(cursor.records)
        if done:
            self.cursors.close(locator)
        return self._page(call, locator, cursor.total_size, page, offset + cursor.batch, done=done)

    def _page(
        self,
        call: Call,
        locator: str,
        total: int,
        records: list[dict[str, Any]],
        next_offset: int,
        *,
        done: bool,
    ) -> Response:
        body: dict[str, Any] = {"totalSize": total, "done": done}
        if not done:
            # queryAll cursors are also continued through /query/ (as a real org reports them).
            body["nextRecordsUrl"] = f"{call.base}/query/{locator}-{next_offset}"
        body["records"] = records
        return JSONResponse(body)

    # -- sObject Collections ---------------------------------------------------------------------
    def collection(self, call: Call) -> Response:
        method = call.request.method
        if method == "DELETE":
            return self._collection_delete(call)
        if method not in ("POST", "PATCH"):
            raise method_not_allowed(method, "POST,PATCH,DELETE")
        body = call.json_object()
        all_or_none = bool_param(body.get("allOrNone"))
        records = collection_records(body)
        typed = []
        for rec in records:
            obj = (
                (rec.get("attributes") or {}).get("type") if isinstance(rec.get("attributes"), dict) else None
            )
            if not obj:
                raise SalesforceApiError(
                    400, "INVALID_TYPE", "Each record must have an attributes map with a type"
                )
            od = self.org.object_def(obj)
            fields = {k: v for k, v in rec.items() if k != "attributes"}
            self.org.check_json_types(od.name, fields)
            typed.append((od.name, fields))
        creating = method == "POST"

        def save(obj: str, fields: dict[str, Any]) -> dict[str, Any]:
            if creating:
                return {"id": self.org.insert(obj, fields), "success": True, "errors": []}
            raw_id = next((v for k, v in fields.items() if k.lower() == "id"), None)
            if not raw_id:
                raise SalesforceApiError(400, "MISSING_ARGUMENT", "Id not specified in an update call", [])
            record_id = collection_id(str(raw_id))
            self.org.update(obj, record_id, fields)
            return {"id": record_id, "success": True, "errors": []}

        def failed(obj: str, fields: dict[str, Any], exc: SalesforceApiError) -> dict[str, Any]:
            out: dict[str, Any] = {"success": False, "errors": [collection_failure(exc).collection_error()]}
            if not creating and fields.get("Id"):
                out = {"id": fields["Id"], **out}
            return out

        return self._run_collection(
            [(lambda o=o, f=f: save(o, f)) for o, f in typed],
            [(lambda e, o=o, f=f: failed(o, f, e)) for o, f in typed],
            all_or_none,
        )

    def collection_upsert(self, call: Call) -> Response:
        if call.request.method != "PATCH":
            raise method_not_allowed(call.request.method, "PATCH")
        od = self.org.object_def(call.param("obj"))
        ext = od.field(call.param("ext_field"))
        if ext is not None and ext.name == "Id":
            # "Only external ids are supported. Don't use record ids." (REST API Developer Guide, "Upsert
            # Records Using sObject Collections"): known records go through PATCH /composite/sobjects.
            raise SalesforceApiError(
                400, "INVALID_FIELD", "Only external ids are supported in an sObject Collections upsert"
            )
        if ext is None or not ext.external_id:
            raise SalesforceApiError(404, "NOT_FOUND", "The requested resource does not exist")
        body = call.json_object()
        all_or_none = bool_param(body.get("allOrNone"))
        records = collection_records(body)
        prepared = []
        for rec in records:
            attrs = rec.get("attributes") if isinstance(rec.get("attributes"), dict) else {}
            if attrs.get("type") and attrs["type"].lower() != od.name.lower():
                raise SalesforceApiError(
                    400, "INVALID_TYPE", f"Record type {attrs['type']} does not match {od.name}"
                )
            fields = {k: v for k, v in rec.items() if k != "attributes"}
            self.org.check_json_types(od.name, fields)
            value = next((v for k, v in fields.items() if k.lower() == ext.name.lower()), None)
            prepared.append((fields, None if value in (None, "") else str(value)))
        counts: dict[str, int] = {}
        for _, value in prepared:
            if value is not None:
                counts[value.lower()] = counts.get(value.lower(), 0) + 1

        def save(fields: dict[str, Any], value: str | None) -> dict[str, Any]:
            if value is None:
                raise SalesforceApiError(400, "MISSING_ARGUMENT", f"{ext.name} not specified", [])
            if counts[value.lower()] > 1:
                raise SalesforceApiError(
                    400, "DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {value}", [ext.name]
                )
            record_id, created = self.org.upsert(od.name, ext.name, value, fields)
            return {"id": record_id, "success": True, "errors": [], "created": created}

        def failed(exc: SalesforceApiError) -> dict[str, Any]:
            return {
                "success": False,
                "errors": [collection_failure(exc, ext.name).collection_error()],
                "created": False,
            }

        return self._run_collection(
            [(lambda f=f, v=v: save(f, v)) for f, v in prepared], [failed for _ in prepared], all_or_none
        )

    def _collection_delete(self, call: Call) -> Response:
        params = call.request.query_params
        ids = split_list(params.get("ids"))
        if not ids:
            raise SalesforceApiError(400, "MISSING_ARGUMENT", "ids parameter is required")
        if len(ids) > MAX_COLLECTION:
            raise too_many()
        all_or_none = bool_param(params.get("allOrNone"))

        def remove(raw_id: str) -> dict[str, Any]:
            record_id = collection_id(raw_id)
            obj = self.org.object_for_id(record_id)
            if obj is None:
                raise SalesforceApiError(400, "ENTITY_IS_DELETED", "entity is deleted", [])
            self.org.delete(obj, record_id)
            return {"id": record_id, "success": True, "errors": []}

        def failed(raw_id: str, exc: SalesforceApiError) -> dict[str, Any]:
            out: dict[str, Any] = {"success": False, "errors": [collection_failure(exc).collection_error()]}
            if normalize_id(raw_id):
                out = {"id": normalize_id(raw_id), **out}
            return out

        return self._run_collection(
            [(lambda i=i: remove(i)) for i in ids], [(lambda e, i=i: failed(i, e)) for i in ids], all_or_none
        )

    def _run_collection(
        self,
        operations: list[Callable[[], dict[str, Any]]],
        on_error: list[Callable[[SalesforceApiError], dict[str, Any]]],
        all_or_none: bool,
    ) -> Response:
        """Run each record's operation; with allOrNone one failure rolls every record back."""
        results: list[dict[str, Any]] = []
        failures = 0
        with self.org.atomic() as tx:
            for operation, fail in zip(operations, on_error, strict=True):
                try:
                    results.append(operation())
                except SalesforceApiError as exc:
                    failures += 1
                    results.append(fail(exc))
            if all_or_none and failures:
                tx.rollback()
                for i, result in enumerate(results):
                    if result["success"]:
                        # The rolled-back record keeps the Id it briefly had, as a real org reports it.
                        results[i] = {**on_error[i](ROLLED_BACK), "id": result["id"]}
        return JSONResponse(results)

    def collection_retrieve(self, call: Call) -> Response:
        od = self.org.object_def(call.param("obj"))
        if call.request.method == "POST":
            body = call.json_object()
            ids = [str(i) for i in body.get("ids") or []]
            fields = [str(f) for f in body.get("fields") or []]
        else:
            ids = split_list(call.request.query_params.get("ids"))
            fields = split_list(call.request.query_params.get("fields"))
        if not ids or not fields:
            raise SalesforceApiError(400, "MISSING_ARGUMENT", "Both ids and fields are required")
        if len(ids) > 2000:
            raise too_many()
        out: list[dict[str, Any] | None] = []
        for raw_id in ids:
            try:
                out.append(self.org.retrieve(od.name, collection_id(raw_id), fields, base_url=call.base))
            except SalesforceApiError as exc:
                if exc.error_code == "INVALID_FIELD":
                    raise
                out.append(None)
        return JSONResponse(out)

    # -- sandbox extras --------------------------------------------------------------------------
    async def dump(self, request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(self.org.dump))

    async def token(self, request: Request) -> Response:
        """OAuth 2.0 token endpoint: username-password and client-credentials flows."""
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            try:
                client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
            except ValueError:
                return oauth_error("invalid_client", "invalid client credentials")
        grant = form.get("grant_type")
        if grant not in ("password", "client_credentials"):
            return oauth_error("unsupported_grant_type", "grant type not supported")
        if client_id != self.org.consumer_key:
            return oauth_error("invalid_client_id", "client identifier invalid")
        if client_secret != self.org.consumer_secret:
            return oauth_error("invalid_client", "invalid client credentials")
        if grant == "password" and (form.get("username"), form.get("password")) != (
            self.org.username,
            self.org.password,
        ):
            return oauth_error("invalid_grant", "authentication failure")
        instance_url = f"{request.url.scheme}://{request.url.netloc}"
        issued_at = str(int(time.time() * 1000))
        identity = f"{instance_url}/id/{self.org.org_id}/{self.org.user_id}"
        signature = base64.b64encode(
            hmac.new(
                self.org.consumer_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
            ).digest()
        ).decode()
        return JSONResponse(
            {
                "access_token": self.org.issue_session(),
                "instance_url": instance_url,
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued_at,
                "signature": signature,
            }
        )


def _bulk2_routes(org: SalesforceOrg) -> list[BaseRoute]:
    if importlib.util.find_spec("sandbox.salesforce.bulk2") is None:
        return []
    from sandbox.salesforce.bulk2_http import bulk2_routes

    return list(bulk2_routes(org))


def create_app(org: SalesforceOrg, faults: FaultInjector | None = None) -> Starlette:
    """The sandbox org's HTTPS API: OAuth, REST (+ Bulk API 2.0 when present), faults, admin dump."""
    api = RestApi(org)
    injector = faults or FaultInjector()
    e = endpoint
    data_routes: list[BaseRoute] = [
        Route("/", e(api.resources), methods=["GET", "HEAD"]),
        Route("/limits", e(api.limits), methods=["GET", "HEAD"]),
        Route("/limits/", e(api.limits), methods=["GET", "HEAD"]),
        Route("/sobjects", e(api.describe_global), methods=["GET", "HEAD"]),
        Route("/sobjects/", e(api.describe_global), methods=["GET", "HEAD"]),
        Route("/sobjects/{obj}", e(api.sobject_basic), methods=["GET", "HEAD", "POST"]),
        Route("/sobjects/{obj}/", e(api.sobject_basic), methods=["GET", "HEAD", "POST"]),
        Route("/sobjects/{obj}/describe", e(api.describe), methods=["GET", "HEAD"]),
        Route("/sobjects/{obj}/describe/", e(api.describe), methods=["GET", "HEAD"]),
        Route("/sobjects/{obj}/updated", e(api.changed), methods=["GET"]),
        Route("/sobjects/{obj}/updated/", e(api.changed), methods=["GET"]),
        Route("/sobjects/{obj}/deleted", e(api.changed), methods=["GET"]),
        Route("/sobjects/{obj}/deleted/", e(api.changed), methods=["GET"]),
        Route("/sobjects/{obj}/{record_id}", e(api.record), methods=["GET", "HEAD", "PATCH", "DELETE"]),
        Route(
            "/sobjects/{obj}/{ext_field}/{value:path}",
            e(api.by_external_id),
            methods=["GET", "HEAD", "PATCH", "DELETE"],
        ),
        Route("/query", e(api.query), methods=["GET"]),
        Route("/query/", e(api.query), methods=["GET"]),
        Route("/queryAll", e(api.query), methods=["GET"]),
        Route("/queryAll/", e(api.query), methods=["GET"]),
        Route("/query/{locator}", e(api.query_more), methods=["GET"]),
        Route("/queryAll/{locator}", e(api.query_more), methods=["GET"]),
        Route("/composite/sobjects", e(api.collection), methods=["POST", "PATCH", "DELETE"]),
        Route("/composite/sobjects/{obj}", e(api.collection_retrieve), methods=["GET", "POST"]),
        Route("/composite/sobjects/{obj}/{ext_field}", e(api.collection_upsert), methods=["PATCH"]),
        *_bulk2_routes(org),
    ]
    routes: list[BaseRoute] = [
        Route("/services/oauth2/token", api.token, methods=["POST"]),
        Route("/services/data", e(api.versions), methods=["GET", "HEAD"]),
        Route("/services/data/", e(api.versions), methods=["GET", "HEAD"]),
        Route("/services/data/v{version}", e(api.resources), methods=["GET", "HEAD"]),
        Mount("/services/data/v{version}", routes=data_routes),
        Route("/__sandbox/dump", api.dump, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(FaultMiddleware, injector=injector, responder=SalesforceFaults(org)),
            Middleware(ApiGate, org=org),
        ],
        exception_handlers={404: not_found, 405: not_found, Exception: unexpected},
    )
    app.state.org = org
    app.state.faults = injector
    app.state.api = api
    return app
