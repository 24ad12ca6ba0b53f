"""The SAP sandbox app on the wire: injected timeouts and latency, faults changed at run time over
``/__sandbox/faults``, and the same app served over plain HTTP, all through the unmodified pyodata
client (and plain requests for the admin endpoint)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pyodata
import pytest
import requests

from sandbox.faults import FaultInjector
from sandbox.sap.app import create_app
from sandbox.sap.system import SapSystem
from sandbox.server import ServerHandle, serve
from sandbox.tls import ensure_tls

USER, PASSWORD = "SYNCHUB", "sandbox-password"
BP_SRV = "API_BUSINESS_PARTNER"
SEED = {
    BP_SRV: {
        "A_BusinessPartner": [
            {"BusinessPartner": "1000001", "BusinessPartnerCategory": "2", "OrganizationBPName1": "Alpha"}
        ]
    }
}


class TimeoutSession(requests.Session):
    """A session with a default read timeout, as a connector configures one (pyodata passes none)."""

    def __init__(self, read_timeout: float) -> None:
        super().__init__()
        self.read_timeout = read_timeout

    def request(self, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        kwargs.setdefault("timeout", (5, self.read_timeout))
        return super().request(*args, **kwargs)


@dataclass
class Gateway:
    handle: ServerHandle
    faults: FaultInjector
    verify: str | bool
    sessions: list[requests.Session]

    @property
    def service_url(self) -> str:
        return f"{self.handle.url}/sap/opu/odata/sap/{BP_SRV}/"

    def session(self, read_timeout: float = 30) -> requests.Session:
        session = TimeoutSession(read_timeout)
        session.auth = (USER, PASSWORD)
        session.verify = self.verify
        session.trust_env = False
        self.sessions.append(session)
        return session

    def client(self, session: requests.Session | None = None) -> pyodata.Client:
        return pyodata.Client(self.service_url, session or self.session())

    def admin(self, method: str, body: dict | None = None) -> requests.Response:
        return requests.request(
            method, f"{self.handle.url}/__sandbox/faults", json=body, verify=self.verify, timeout=10
        )

    def stop(self) -> None:
        for session in self.sessions:
            session.close()
        self.handle.stop()


def _start(tls: object | None) -> Gateway:
    system = SapSystem(standard_grouping="BP02", assigns_ordinal_numbers=True)  # protocol, not rules
    system.load(SEED)
    faults = FaultInjector()
    handle = serve(create_app(system, faults), tls=tls)  # type: ignore[arg-type]
    verify: str | bool = str(tls.ca_cert) if tls is not None else True  # type: ignore[attr-defined]
    return Gateway(handle, faults, verify, [])


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = _start(ensure_tls(tmp_path_factory.getbasetemp() / "tls"))
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def plain_http() -> Iterator[Gateway]:
    gateway = _start(None)
    yield gateway
    gateway.stop()


@pytest.fixture(autouse=True)
def no_faults_left(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    for name in ("https", "plain_http"):
        if name in request.fixturenames:
            request.getfixturevalue(name).faults.reset()


def _fetch_token(gateway: Gateway, session: requests.Session) -> None:
    response = session.head(gateway.service_url, headers={"X-CSRF-Token": "Fetch"})
    session.headers["X-CSRF-Token"] = response.headers["x-csrf-token"]


# ------------------------------------------------------------------------------------------ timeout, latency


def test_timeout_fault_makes_the_client_read_timeout_fire(https: Gateway) -> None:
    client = https.client(https.session(read_timeout=0.3))
    https.faults.update(rate_timeout=1.0, timeout_seconds=3.0)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.entity_sets.A_BusinessPartner.get_entities().execute()
    assert time.monotonic() - started < 2.5  # the client gave up, it did not wait for the gateway's 504


def test_timeout_fault_ends_in_a_504_for_a_patient_client(https: Gateway) -> None:
    https.faults.update(rate_timeout=1.0, timeout_seconds=0.2)
    response = https.session().get(https.service_url + "A_BusinessPartner", params={"$format": "json"})
    assert response.status_code == 504 and response.json()["error"]["code"]


def test_latency_fault_delays_each_request_by_at_least_latency_ms(https: Gateway) -> None:
    client = https.client()
    https.faults.update(latency_ms=250)
    started = time.monotonic()
    partner = client.entity_sets.A_BusinessPartner.get_entity("1000001").execute()
    assert time.monotonic() - started >= 0.25
    assert partner.OrganizationBPName1 == "Alpha"


# ------------------------------------------------------------------------------------------ run-time faults


def test_faults_put_over_http_take_effect_at_once_and_delete_resets_them(https: Gateway) -> None:
    client = https.client()
    changed = https.admin("PUT", {"rate_503": 1.0})
    assert changed.status_code == 200 and changed.json()["config"]["rate_503"] == 1.0
    with pytest.raises(pyodata.exceptions.HttpError) as failed:
        client.entity_sets.A_BusinessPartner.get_entity("1000001").execute()
    assert failed.value.response.status_code == 503
    assert failed.value.response.headers["retry-after"] == "1"
    assert https.admin("DELETE").json()["config"]["rate_503"] == 0.0
    assert client.entity_sets.A_BusinessPartner.get_entity("1000001").execute().BusinessPartner == "1000001"


def test_faults_get_shows_config_and_counts_injected_faults(https: Gateway) -> None:
    https.admin("PUT", {"rate_429": 1.0})
    before = https.admin("GET").json()["injected"]["429"]
    response = https.session().get(https.service_url + "A_BusinessPartner", params={"$format": "json"})
    assert response.status_code == 429
    assert https.admin("GET").json()["injected"]["429"] == before + 1


def test_unknown_fault_option_is_400_and_changes_nothing(https: Gateway) -> None:
    response = https.admin("PUT", {"rate_teapot": 0.5})
    assert response.status_code == 400 and "rate_teapot" in response.json()["error"]
    assert https.admin("GET").json()["config"]["rate_429"] == 0.0


# ------------------------------------------------------------------------------------------ plain HTTP


def test_plain_http_serves_pyodata_reads(plain_http: Gateway) -> None:
    assert plain_http.handle.url.startswith("http://")
    client = plain_http.client()
    assert client.entity_sets.A_BusinessPartner.get_entity("1000001").execute().OrganizationBPName1 == "Alpha"


def test_plain_http_session_cookie_is_not_secure_so_csrf_works(plain_http: Gateway) -> None:
    session = plain_http.session()
    response = session.get(plain_http.service_url, headers={"X-CSRF-Token": "Fetch"})
    cookie = next(c for c in response.raw.headers.getlist("set-cookie") if c.startswith("SAP_SESSIONID"))
    assert "secure" not in cookie.lower()
    session.headers["X-CSRF-Token"] = response.headers["x-csrf-token"]
    client = plain_http.client(session)
    created = (
        client.entity_sets.A_BusinessPartner.create_entity()
        .set(BusinessPartnerCategory="2", OrganizationBPName1="Plain GmbH")
        .execute()
    )
    fetched = client.entity_sets.A_BusinessPartner.get_entity(created.BusinessPartner).execute()
    assert fetched.BusinessPartnerFullName == "Plain GmbH"


def test_plain_http_write_without_token_is_403(plain_http: Gateway) -> None:
    client = plain_http.client()
    with pytest.raises(pyodata.exceptions.HttpError) as failed:
        client.entity_sets.A_BusinessPartner.create_entity().set(
            BusinessPartnerCategory="2", OrganizationBPName1="No token"
        ).execute()
    assert failed.value.response.status_code == 403
    assert failed.value.response.headers["x-csrf-token"] == "Required"


def test_plain_http_batch_changeset_with_csrf(plain_http: Gateway) -> None:
    session = plain_http.session()
    _fetch_token(plain_http, session)
    client = plain_http.client(session)
    batch = client.create_batch()
    changeset = client.create_changeset()
    changeset.add_request(
        client.entity_sets.A_BusinessPartnerRole.create_entity().set(
            BusinessPartner="1000001", BusinessPartnerRole="FLCU01"
        )
    )
    batch.add_request(changeset)
    ((role,),) = batch.execute()
    assert (role.BusinessPartner, role.BusinessPartnerRole) == ("1000001", "FLCU01")
    number = client.entity_sets.A_BusinessPartner.get_entity("1000001").execute().Customer
    customer = client.entity_sets.A_Customer.get_entity(number).execute()
    assert customer.Customer == number != "1000001"
