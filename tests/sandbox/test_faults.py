"""Fault injection shared by both sandboxes, over real HTTPS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from sandbox.faults import FaultConfig, FaultInjector, FaultMiddleware
from sandbox.server import ServerHandle, serve
from sandbox.tls import TlsFiles, ensure_tls


class PlainResponder:
    def too_many_requests(self, request: Request) -> Response:
        return PlainTextResponse("slow down", status_code=429, headers={"Retry-After": "1"})

    def unavailable(self, request: Request) -> Response:
        return PlainTextResponse("unavailable", status_code=503)

    def gateway_timeout(self, request: Request) -> Response:
        return PlainTextResponse("timeout", status_code=504)

    def expired_session(self, request: Request) -> Response | None:
        return PlainTextResponse("expired", status_code=401) if "authorization" in request.headers else None


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return ensure_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def served(tls: TlsFiles) -> Iterator[tuple[ServerHandle, FaultInjector]]:
    injector = FaultInjector(FaultConfig(seed=7))
    app = Starlette(routes=[Route("/ok", lambda r: JSONResponse({"ok": True}))])
    handle = serve(FaultMiddleware(app, injector, PlainResponder()), tls=tls)
    yield handle, injector
    handle.stop()


def test_the_ca_is_generated_once_and_reused(tmp_path) -> None:
    first = ensure_tls(tmp_path)
    ca = first.ca_cert.read_bytes()
    assert ensure_tls(tmp_path).ca_cert.read_bytes() == ca
    assert oct(first.server_key.stat().st_mode & 0o777) == "0o600"


def test_tls_verification_succeeds_with_the_sandbox_ca_and_fails_without(served, tls: TlsFiles) -> None:
    handle, _ = served
    assert requests.get(f"{handle.url}/ok", verify=str(tls.ca_cert), timeout=10).json() == {"ok": True}
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{handle.url}/ok", verify=True, timeout=10)


def test_no_faults_by_default(served, tls: TlsFiles) -> None:
    handle, _ = served
    codes = {
        requests.get(f"{handle.url}/ok", verify=str(tls.ca_cert), timeout=10).status_code for _ in range(20)
    }
    assert codes == {200}


@pytest.mark.parametrize(("option", "status"), [("rate_429", 429), ("rate_503", 503)])
def test_a_rate_of_one_answers_every_request_with_the_fault(served, tls, option: str, status: int) -> None:
    handle, injector = served
    injector.update(**{option: 1.0})
    response = requests.get(f"{handle.url}/ok", verify=str(tls.ca_cert), timeout=10)
    assert response.status_code == status
    assert injector.injected[str(status)] == 1


def test_timeouts_hold_the_request_past_the_client_timeout(served, tls) -> None:
    handle, injector = served
    injector.update(rate_timeout=1.0, timeout_seconds=2.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{handle.url}/ok", verify=str(tls.ca_cert), timeout=0.5)


def test_expired_session_faults_only_hit_requests_with_a_session(served, tls) -> None:
    handle, injector = served
    injector.update(rate_expired_session=1.0)
    assert requests.get(f"{handle.url}/ok", verify=str(tls.ca_cert), timeout=10).status_code == 200
    with_session = requests.get(
        f"{handle.url}/ok", headers={"Authorization": "Bearer x"}, verify=str(tls.ca_cert), timeout=10
    )
    assert with_session.status_code == 401


def test_rates_are_drawn_per_request_at_about_the_configured_share() -> None:
    injector = FaultInjector(FaultConfig(rate_429=0.1, rate_503=0.1, seed=1))
    draws = [injector.draw() for _ in range(5000)]
    assert 400 < draws.count("429") < 600
    assert 400 < draws.count("503") < 600
    assert draws.count(None) > 3500


def test_faults_change_at_run_time_over_http(served, tls) -> None:
    handle, _ = served
    url = f"{handle.url}/__sandbox/faults"
    changed = requests.put(url, json={"rate_503": 1.0}, verify=str(tls.ca_cert), timeout=10)
    assert changed.status_code == 200
    assert changed.json()["config"]["rate_503"] == 1.0
    assert requests.get(f"{handle.url}/ok", verify=str(tls.ca_cert), timeout=10).status_code == 503
    # The admin endpoint itself is never faulted, so faults can always be switched off.
    assert requests.delete(url, verify=str(tls.ca_cert), timeout=10).json()["config"]["rate_503"] == 0.0
    assert requests.get(f"{handle.url}/ok", verify=str(tls.ca_cert), timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rate_429": 1.5}, "between 0 and 1"),
        ({"rate_429": 0.6, "rate_503": 0.6}, "must not exceed 1"),
        ({"bogus": 1}, "unknown fault option"),
    ],
)
def test_bad_fault_settings_are_refused_with_a_reason(served, tls, changes, message: str) -> None:
    handle, injector = served
    response = requests.put(
        f"{handle.url}/__sandbox/faults", json=changes, verify=str(tls.ca_cert), timeout=10
    )
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert injector.config.rate_429 == 0.0
