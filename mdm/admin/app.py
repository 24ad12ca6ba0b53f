"""The admin web app: dashboard, review queue, golden records, error queue, audit log.

Server-rendered HTML (Jinja2) with one local stylesheet: it works offline and inside Airflow's UI.
Reads go through ``mdm.admin.queries`` and the stewardship services; every action goes through the
services with the acting user's name, and the services write the audit log.
"""

# No ``from __future__ import annotations`` here: FastAPI must see the ``Actor`` dependency type that
# ``create_app`` builds at run time, which postponed (string) annotations would hide from it.
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from mdm.admin import queries
from mdm.admin.auth import ActorDependency, NotSignedIn, same_origin

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")
ReviewAction = Literal["approve", "reject", "new"]


def _plain(value: Any) -> Any:
    """A service result as plain data for the templates (dataclasses and pydantic models alike)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def create_app(
    actor: ActorDependency,
    sessions: sessionmaker[Session] | None = None,
    *,
    title: str = "SyncHub admin",
) -> FastAPI:
    """The admin app. ``actor`` says who the request's user is (or raises 401); ``sessions`` defaults to
    the store of ``SYNCHUB_DATABASE_URL``, opened on first use."""
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sessions = sessions
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    Actor = Annotated[str, Depends(actor)]

    def store() -> sessionmaker[Session]:
        if app.state.sessions is None:
            from mdm.store.db import make_engine, session_factory

            app.state.sessions = session_factory(make_engine())
        return app.state.sessions

    @contextmanager
    def reading() -> Iterator[Session]:
        with store()() as session:
            yield session

    def page(request: Request, name: str, user: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("message", request.query_params.get("done"))
        return templates.TemplateResponse(
            request, name, {"user": user, "title": title, **context}, status_code=status_code
        )

    def back_to(request: Request, route: str, message: str, **params: Any) -> RedirectResponse:
        url = request.url_for(route, **params).path + "?" + urlencode({"done": message})
        return RedirectResponse(url, status_code=303)

    def check_origin(request: Request) -> None:
        if not same_origin(request):
            raise HTTPException(403, "Cross-site form posts are refused.")

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        return templates.TemplateResponse(
            request,
            "error_page.html",
            {"user": None, "title": title, "status": 401, "detail": exc.detail},
            status_code=401,
            headers=exc.headers,
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return templates.TemplateResponse(
            request,
            "error_page.html",
            {"user": None, "title": title, "status": exc.status_code, "detail": exc.detail},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.get("/", response_class=HTMLResponse, name="dashboard")
    def dashboard(request: Request, user: Actor) -> HTMLResponse:
        with reading() as session:
            overview = queries.dashboard(session)
        return page(request, "dashboard.html", user, overview=overview)

    # --- the review queue -------------------------------------------------------------------------
    @app.get("/reviews", response_class=HTMLResponse, name="reviews")
    def reviews(request: Request, user: Actor, entity: str | None = None, limit: int = 50) -> HTMLResponse:
        from mdm.stewardship import review

        with reading() as session:
            items = review.list_reviews(session, entity=entity or None, status="review", limit=limit)
            details = [_plain(review.get_review(session, _id(item))) for item in items]
        return page(request, "reviews.html", user, details=details, entity=entity or "")

    @app.get("/reviews/{decision_id}", response_class=HTMLResponse, name="review")
    def review_page(request: Request, user: Actor, decision_id: int) -> HTMLResponse:
        from mdm.stewardship import review

        with reading() as session:
            detail = _plain(_found(lambda: review.get_review(session, decision_id)))
        return page(request, "review.html", user, detail=detail)

    @app.post("/reviews/{decision_id}", name="decide")
    def decide(
        request: Request, user: Actor, decision_id: int, action: Annotated[ReviewAction, Form()]
    ) -> RedirectResponse:
        from mdm.stewardship import review

        check_origin(request)
        with store().begin() as session:
            _found(lambda: review.decide(session, decision_id, action, actor=user))
        verb = {"approve": "approved", "reject": "rejected", "new": "kept as new"}[action]
        return back_to(request, "reviews", f"Review {decision_id} {verb} by {user}.")

    # --- golden records ---------------------------------------------------------------------------
    @app.get("/golden", response_class=HTMLResponse, name="golden_list")
    def golden_list(
        request: Request, user: Actor, entity: str | None = None, q: str | None = None, limit: int = 50
    ) -> HTMLResponse:
        with reading() as session:
            found = queries.search_golden(session, entity=entity or None, name=q, limit=limit)
            entities = queries.golden_entities(session)
        return page(
            request, "golden_list.html", user, found=found, entities=entities, entity=entity or "", q=q or ""
        )

    @app.get("/golden/{golden_id}", response_class=HTMLResponse, name="golden")
    def golden(request: Request, user: Actor, golden_id: str) -> HTMLResponse:
        with reading() as session:
            detail = queries.golden_detail(session, golden_id)
        if detail is None:
            raise HTTPException(404, f"No golden record {golden_id}.")
        return page(request, "golden.html", user, golden=detail)

    # --- the error queue --------------------------------------------------------------------------
    @app.get("/errors", response_class=HTMLResponse, name="errors")
    def errors(
        request: Request, user: Actor, entity: str | None = None, status: str = "open", limit: int = 100
    ) -> HTMLResponse:
        from mdm.stewardship import errors as error_queue

        with reading() as session:
            items = error_queue.list_errors(session, entity=entity or None, status=status, limit=limit)
        return page(
            request, "errors.html", user, items=_plain(items), entity=entity or "", status_filter=status
        )

    @app.get("/errors/{letter_id}", response_class=HTMLResponse, name="error")
    def error(request: Request, user: Actor, letter_id: int) -> HTMLResponse:
        from mdm.stewardship import errors as error_queue

        with reading() as session:
            item = _plain(_found(lambda: error_queue.get_error(session, letter_id)))
        return page(request, "error.html", user, item=item)

    @app.post("/errors/replay", name="replay_all")
    def replay_all(request: Request, user: Actor) -> RedirectResponse:
        from mdm.stewardship import errors as error_queue

        check_origin(request)
        results = error_queue.replay(store(), None, actor=user)
        return back_to(request, "errors", _replayed(results, user))

    @app.post("/errors/{letter_id}/replay", name="replay")
    def replay(request: Request, user: Actor, letter_id: int) -> RedirectResponse:
        from mdm.stewardship import errors as error_queue

        check_origin(request)
        results = _found(lambda: error_queue.replay(store(), [letter_id], actor=user))
        return back_to(request, "error", _replayed(results, user), letter_id=letter_id)

    @app.post("/errors/{letter_id}/discard", name="discard")
    def discard(
        request: Request, user: Actor, letter_id: int, reason: Annotated[str, Form(min_length=1)]
    ) -> RedirectResponse:
        from mdm.stewardship import errors as error_queue

        check_origin(request)
        with store().begin() as session:
            _found(lambda: error_queue.discard(session, letter_id, reason.strip(), actor=user))
        return back_to(request, "errors", f"Error {letter_id} discarded by {user}.")

    # --- the audit log ----------------------------------------------------------------------------
    @app.get("/audit", response_class=HTMLResponse, name="audit")
    def audit(request: Request, user: Actor, limit: int = 100) -> HTMLResponse:
        from mdm.stewardship import audit as audit_log

        with reading() as session:
            entries = _plain(audit_log.recent(session, limit=limit))
        return page(request, "audit.html", user, entries=entries)

    return app


def _id(item: Any) -> int:
    for name in ("decision_id", "id"):
        if getattr(item, name, None) is not None:
            return int(getattr(item, name))
    raise TypeError(f"review item without an id: {item!r}")


def _found(call: Any) -> Any:
    """Run a service call; an unknown id becomes a 404 page, a refused action a 409 page."""
    try:
        return call()
    except (LookupError, KeyError) as exc:
        raise HTTPException(404, str(exc) or "Not found.") from None
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None


def _replayed(results: list[Any], user: str) -> str:
    plain = _plain(results)
    ok = sum(1 for result in plain if _succeeded(result))
    return f"Replayed {len(plain)} by {user}: {ok} succeeded, {len(plain) - ok} still failing."


def _succeeded(result: Any) -> bool:
    return isinstance(result, dict) and result.get("status") == "resolved"
