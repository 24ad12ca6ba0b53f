"""The Bulk API 2.0 routes of the sandbox (``/services/data/vXX.X/jobs/...``) over a ``Bulk2Service``."""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.salesforce.bulk2 import Bulk2Service
from sandbox.salesforce.bulk2_jobs import MAX_UPLOAD_BYTES, Bulk2Error, Handler, JobKind
from sandbox.salesforce.org import SalesforceOrg
from sandbox.salesforce.org_model import SalesforceApiError

# --- HTTP layer ---------------------------------------------------------------------------------


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except json.JSONDecodeError as exc:
        raise Bulk2Error(
            400,
            "JSON_PARSER_ERROR",
            f"Unexpected character: {exc.msg} at [line:{exc.lineno}, column:{exc.colno}]",
        ) from None
    if not isinstance(body, dict):
        raise Bulk2Error(400, "JSON_PARSER_ERROR", "Expected a JSON object as the request body")
    return body


def _dispatch(handlers: dict[str, Handler]) -> Handler:
    """One endpoint per path: unknown methods answer 405 in the Salesforce error shape."""

    async def endpoint(request: Request) -> Response:
        handler = handlers.get(request.method)
        if handler is None and request.method == "HEAD":
            handler = handlers.get("GET")
        if handler is None:
            allowed = ",".join(handlers)
            return JSONResponse(
                [
                    {
                        "errorCode": "METHOD_NOT_ALLOWED",
                        "message": f"HTTP Method '{request.method}' not allowed. Allowed are {allowed}",
                    }
                ],
                405,
            )
        try:
            return await handler(request)
        except Bulk2Error as exc:
            return exc.response()
        except SalesforceApiError as exc:
            # Bulk 2.0 errors carry no "fields" member, unlike REST DML errors.
            return JSONResponse([{"errorCode": exc.error_code, "message": exc.message}], exc.status)

    return endpoint


def _csv_response(body: str, headers: dict[str, str] | None = None) -> Response:
    return Response(body.encode("utf-8"), 200, headers=headers, media_type="text/csv; charset=UTF-8")


def bulk2_routes(org: SalesforceOrg, service: Bulk2Service | None = None) -> list[Route]:
    """Routes relative to ``/services/data/v62.0`` (auth and limit accounting are the app's job)."""
    bulk = service or Bulk2Service(org)

    def job_id(request: Request) -> str:
        return str(request.path_params["job_id"])

    async def create_ingest(request: Request) -> Response:
        body = await _json_body(request)
        return JSONResponse(bulk.create_ingest_job(body))

    async def list_ingest(request: Request) -> Response:
        return JSONResponse(bulk.list_page("ingest", request))

    async def create_query(request: Request) -> Response:
        body = await _json_body(request)
        return JSONResponse(await run_in_threadpool(bulk.create_query_job, body))

    async def list_query(request: Request) -> Response:
        return JSONResponse(bulk.list_page("query", request))

    def job_endpoints(kind: JobKind) -> dict[str, Handler]:
        async def info(request: Request) -> Response:
            return JSONResponse(bulk.info(job_id(request), kind))

        async def patch(request: Request) -> Response:
            body = await _json_body(request)
            return JSONResponse(bulk.change_state(job_id(request), kind, body))

        async def delete(request: Request) -> Response:
            bulk.delete(job_id(request), kind)
            return Response(status_code=204)

        return {"GET": info, "PATCH": patch, "DELETE": delete}

    async def upload(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in ("text/csv", ""):
            raise Bulk2Error(400, "INVALIDCONTENTTYPE", f"Unsupported Content-Type: {content_type}")
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_UPLOAD_BYTES:
            raise Bulk2Error(
                400, "BULK_API_ERROR", f"Exceeded max size limit of {MAX_UPLOAD_BYTES} bytes for job data"
            )
        bulk.upload(job_id(request), await request.body())
        return Response(status_code=201)

    def results(which: str) -> Handler:
        async def endpoint(request: Request) -> Response:
            return _csv_response(bulk.ingest_results(job_id(request), which))

        return endpoint

    async def query_results(request: Request) -> Response:
        params = request.query_params
        body, locator, count = bulk.query_results(
            job_id(request), params.get("locator"), params.get("maxRecords")
        )
        return _csv_response(body, {"Sforce-Locator": locator, "Sforce-NumberOfRecords": str(count)})

    table: list[tuple[str, dict[str, Handler]]] = [
        ("/jobs/ingest", {"POST": create_ingest, "GET": list_ingest}),
        ("/jobs/ingest/{job_id}", job_endpoints("ingest")),
        ("/jobs/ingest/{job_id}/batches", {"PUT": upload}),
        ("/jobs/ingest/{job_id}/successfulResults", {"GET": results("successfulResults")}),
        ("/jobs/ingest/{job_id}/failedResults", {"GET": results("failedResults")}),
        # The documented path is lower-case; simple-salesforce asks for unprocessedRecords.
        ("/jobs/ingest/{job_id}/unprocessedrecords", {"GET": results("unprocessedrecords")}),
        ("/jobs/ingest/{job_id}/unprocessedRecords", {"GET": results("unprocessedrecords")}),
        ("/jobs/query", {"POST": create_query, "GET": list_query}),
        ("/jobs/query/{job_id}", job_endpoints("query")),
        ("/jobs/query/{job_id}/results", {"GET": query_results}),
    ]
    routes: list[Route] = []
    for path, handlers in table:
        endpoint = _dispatch(handlers)
        methods = [*handlers, "HEAD", "PUT", "POST", "PATCH", "DELETE", "GET"]
        unique = list(dict.fromkeys(methods))
        # The docs spell several of these URIs with a trailing slash; accept both spellings.
        routes.append(Route(path, endpoint, methods=unique))
        routes.append(Route(path + "/", endpoint, methods=unique))
    return routes
