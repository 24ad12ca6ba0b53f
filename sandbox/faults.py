"""Fault injection shared by both sandboxes: 429s, 503s, timeouts, expired sessions, latency.

Configured at start (``synchub sandbox up --fault-429 0.1 ...``) and at run time, either in
process (``injector.update(rate_429=0.1)``) or over HTTP::

    curl --cacert var/sandbox/tls/ca.pem -X PUT https://127.0.0.1:8443/__sandbox/faults \\
         -H 'Content-Type: application/json' -d '{"rate_503": 0.1, "latency_ms": 50}'

Each sandbox answers a fault in its own system's shape through a ``FaultResponder``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import threading
from dataclasses import dataclass
from typing import Literal, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

FaultKind = Literal["429", "503", "timeout", "expired_session"]
ADMIN_PREFIX = "/__sandbox"


@dataclass
class FaultConfig:
    """Rates are probabilities per request (0..1); latency is added to every request."""

    rate_429: float = 0.0
    rate_503: float = 0.0
    rate_timeout: float = 0.0
    rate_expired_session: float = 0.0
    latency_ms: int = 0
    timeout_seconds: float = 5.0
    seed: int | None = None

    def validate(self) -> None:
        for field in ("rate_429", "rate_503", "rate_timeout", "rate_expired_session"):
            value = getattr(self, field)
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"fault option {field} must be between 0 and 1, got {value!r}")
        total = self.rate_429 + self.rate_503 + self.rate_timeout + self.rate_expired_session
        if total > 1.0:
            raise ValueError(f"fault rates add up to {total:.3f}; their sum must not exceed 1")
        if self.latency_ms < 0 or self.timeout_seconds < 0:
            raise ValueError("latency_ms and timeout_seconds must not be negative")


class FaultInjector:
    """Thread-safe holder of the current fault configuration; draws one fault per request."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.config = config or FaultConfig()
        self.config.validate()
        self._rng = random.Random(self.config.seed)
        self.injected: dict[str, int] = {"429": 0, "503": 0, "timeout": 0, "expired_session": 0}

    def update(self, **changes: object) -> FaultConfig:
        """Change some options; unknown names and bad values raise ValueError."""
        names = {f.name for f in dataclasses.fields(FaultConfig)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(
                f"unknown fault option(s): {', '.join(unknown)}; known: {', '.join(sorted(names))}"
            )
        with self._lock:
            candidate = dataclasses.replace(self.config, **changes)  # type: ignore[arg-type]
            candidate.validate()
            self.config = candidate
            if "seed" in changes:
                self._rng = random.Random(candidate.seed)
        return candidate

    def reset(self) -> None:
        self.update(**dataclasses.asdict(FaultConfig()))

    def draw(self) -> FaultKind | None:
        with self._lock:
            c = self.config
            x = self._rng.random()
            for kind, rate in (
                ("429", c.rate_429),
                ("503", c.rate_503),
                ("timeout", c.rate_timeout),
                ("expired_session", c.rate_expired_session),
            ):
                if x < rate:
                    self.injected[kind] += 1
                    return kind  # type: ignore[return-value]
                x -= rate
        return None


class FaultResponder(Protocol):
    """How one sandbox answers an injected fault, in its system's error shape."""

    def too_many_requests(self, request: Request) -> Response: ...
    def unavailable(self, request: Request) -> Response: ...
    def gateway_timeout(self, request: Request) -> Response: ...
    def expired_session(self, request: Request) -> Response | None:
        """Answer as for an expired session, or None where the request carries none."""


class FaultMiddleware:
    """ASGI middleware: serves ``/__sandbox/faults`` and injects faults into every other request."""

    def __init__(self, app: ASGIApp, injector: FaultInjector, responder: FaultResponder) -> None:
        self.app = app
        self.injector = injector
        self.responder = responder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(ADMIN_PREFIX):
            if path == f"{ADMIN_PREFIX}/faults":
                await _AdminFaults(self.injector)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return

        config = self.injector.config
        if config.latency_ms:
            await asyncio.sleep(config.latency_ms / 1000)
        kind = self.injector.draw()
        response: Response | None = None
        request = Request(scope)
        if kind == "429":
            response = self.responder.too_many_requests(request)
        elif kind == "503":
            response = self.responder.unavailable(request)
        elif kind == "timeout":
            # Hold the request long enough for a client's read timeout to fire, then give up
            # the way a gateway would.
            await asyncio.sleep(config.timeout_seconds)
            response = self.responder.gateway_timeout(request)
        elif kind == "expired_session":
            response = self.responder.expired_session(request)
        if response is not None:
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class _AdminFaults:
    """GET shows the fault configuration and counters; PUT/PATCH changes it; DELETE resets it."""

    def __init__(self, injector: FaultInjector) -> None:
        self.injector = injector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            if request.method in ("PUT", "PATCH", "POST"):
                body = await request.body()
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object of fault options")
                self.injector.update(**changes)
            elif request.method == "DELETE":
                self.injector.reset()
            elif request.method != "GET":
                response: Response = JSONResponse({"error": "method not allowed"}, status_code=405)
                await response(scope, receive, send)
                return
        except (ValueError, TypeError) as exc:
            response = JSONResponse({"error": str(exc)}, status_code=400)
            await response(scope, receive, send)
            return
        response = JSONResponse(
            {"config": dataclasses.asdict(self.injector.config), "injected": dict(self.injector.injected)}
        )
        await response(scope, receive, send)
