"""Sessions of the SAP sandbox: Basic auth or the session cookie, CSRF tokens bound to a session, and the
fault responder that answers injected faults as SAP Gateway does."""

from __future__ import annotations

import base64
import json
import secrets
import threading

from starlette.requests import Request
from starlette.responses import Response

from sandbox.sap.odata import (
    ODataError,
)
from sandbox.sap.wire import JSON_TYPE, MODIFYING

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


def csrf_failed() -> Response:
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
        return csrf_failed()
