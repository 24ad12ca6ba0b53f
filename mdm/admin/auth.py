"""Who is acting: every page needs a user, and every action is recorded under that user's name.

Two ways to know the user, each a FastAPI dependency returning the actor's name:

- inside Airflow (``airflow_actor``): the Airflow user of the request, through Airflow's own
  ``airflow.api_fastapi.core_api.security.get_user``: the JWT of ``Authorization: Bearer`` or the
  ``_token`` cookie the Airflow UI sets at login, validated by the configured auth manager;
- standalone (``standalone_actor``): one configured user name. With a password, the browser must send
  it by HTTP basic auth; without one, whoever can reach the (loopback-only) port acts as that user.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, status

ActorDependency = Callable[[Request], Awaitable[str]]


class NotSignedIn(HTTPException):
    def __init__(self, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status.HTTP_401_UNAUTHORIZED, detail=detail, headers=headers)


def standalone_actor(user: str, password: str | None = None) -> ActorDependency:
    """The dependency for ``synchub ui``: ``user`` acts; with ``password``, only after HTTP basic auth."""
    user = user.strip()
    if not user:
        raise ValueError("a user name is required")

    async def actor(request: Request) -> str:
        if not password:
            return user
        challenge = {"WWW-Authenticate": 'Basic realm="SyncHub admin", charset="UTF-8"'}
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise NotSignedIn("Sign in with the SyncHub admin user.", challenge)
        try:
            given_user, _, given_password = base64.b64decode(encoded).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise NotSignedIn("Malformed basic credentials.", challenge) from None
        # Compare both in constant time; never echo what was sent.
        user_ok = secrets.compare_digest(given_user.encode(), user.encode())
        password_ok = secrets.compare_digest(given_password.encode(), password.encode())
        if not (user_ok and password_ok):
            raise NotSignedIn("Wrong user name or password.", challenge)
        return user

    return actor


async def airflow_actor(request: Request) -> str:
    """The signed-in Airflow user's name, validated by Airflow's auth manager (401 when there is none)."""
    # Imported here: the plugin module is loaded by every Airflow process, the API server alone needs this.
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    credentials = await bearer_scheme(request)
    try:
        user = await get_user(request, None, credentials)
    except HTTPException as exc:
        raise NotSignedIn(f"Sign in to Airflow first ({exc.detail}).") from None
    return user.get_name()


def same_origin(request: Request) -> bool:
    """Whether a state-changing request comes from this app's own pages (no cross-site form posts).

    Browsers send ``Origin`` (or at least ``Referer``) with a form POST; a request with neither comes
    from a non-browser client, which cannot ride on someone's cookie or remembered basic credentials.
    """
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return source is None
    host = request.headers.get("host", "")
    return urlsplit(source).netloc.lower() == host.lower()
