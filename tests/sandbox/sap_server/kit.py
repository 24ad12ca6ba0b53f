"""What the SAP server tests share: the seed, a hand-moved clock, the running sandbox with logged-on
sessions and pyodata clients, and small request helpers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pyodata
import pytest
import requests

from sandbox.faults import FaultInjector
from sandbox.sap.app import create_app
from sandbox.sap.system import SapSystem
from sandbox.server import ServerHandle, serve
from sandbox.tls import TlsFiles, ensure_tls

USER, PASSWORD = "SYNCHUB", "sandbox-password"
BP_SRV = "API_BUSINESS_PARTNER"
SO_SRV = "API_SALES_ORDER_SRV"
PRICE_SRV = "API_SLSPRICINGCONDITIONRECORD_SRV"

SEED = {
    "API_PRODUCT_SRV": {
        "A_Product": [
            {
                "Product": "TG11",
                "ProductType": "HAWA",
                "BaseUnit": "PC",
                "ProductGroup": "L001",
                "LastChangeDateTime": "2026-01-10T08:00:00Z",
            },
            {
                "Product": "TG12",
                "ProductType": "HAWA",
                "BaseUnit": "PC",
                "ProductGroup": "L002",
                "LastChangeDateTime": "2026-06-10T08:00:00Z",
            },
        ],
        "A_ProductDescription": [
            {"Product": "TG11", "Language": "EN", "ProductDescription": "Trading good 11"},
            {"Product": "TG11", "Language": "DE", "ProductDescription": "Handelsware 11"},
        ],
    },
    BP_SRV: {
        "A_BusinessPartner": [
            {
                "BusinessPartner": "1000001",
                "BusinessPartnerCategory": "2",
                "OrganizationBPName1": "Alpha Tools GmbH",
                "SearchTerm1": "ALPHA",
                "LastChangeDate": "/Date(1767225600000)/",  # 2026-01-01
                "LastChangeTime": "PT08H00M00S",
            },
            {
                "BusinessPartner": "1000002",
                "BusinessPartnerCategory": "2",
                "OrganizationBPName1": "Beta Industrial AG",
                "SearchTerm1": "BETA",
                "LastChangeDate": "2026-03-15",
                "LastChangeTime": "10:30:00",
            },
            {
                "BusinessPartner": "1000003",
                "BusinessPartnerCategory": "1",
                "FirstName": "Carla",
                "LastName": "Gamma",
                "SearchTerm1": "GAMMA",
                "LastChangeDate": "2026-06-30",
                "LastChangeTime": "23:59:59",
            },
        ],
        "A_BusinessPartnerAddress": [
            {"BusinessPartner": "1000001", "AddressID": "30001", "CityName": "Berlin", "Country": "DE"},
            {"BusinessPartner": "1000001", "AddressID": "30002", "CityName": "Hamburg", "Country": "DE"},
            {"BusinessPartner": "1000002", "AddressID": "30003", "CityName": "Zurich", "Country": "CH"},
        ],
        "A_AddressEmailAddress": [
            {"AddressID": "30001", "Person": "", "OrdinalNumber": "1", "EmailAddress": "info@alpha.example"},
        ],
        "A_BusinessPartnerRole": [{"BusinessPartner": "1000001", "BusinessPartnerRole": "FLCU01"}],
        "A_Customer": [{"Customer": "1000001", "CustomerName": "Alpha Tools GmbH"}],
        "A_CustomerSalesArea": [
            {
                "Customer": "1000001",
                "SalesOrganization": "1710",
                "DistributionChannel": "10",
                "Division": "00",
                "Currency": "USD",
            }
        ],
    },
    PRICE_SRV: {
        "A_SlsPrcgConditionRecord": [
            {"ConditionRecord": "7001", "ConditionType": "PR00", "ConditionRateValue": "12.50"},
        ],
        "A_SlsPrcgCndnRecdValidity": [
            {
                "ConditionRecord": "7001",
                "ConditionValidityEndDate": "9999-12-31",
                "ConditionValidityStartDate": "2026-01-01",
                "Material": "TG11",
                "SalesOrganization": "1710",
                "DistributionChannel": "10",
            }
        ],
    },
}


@dataclass
class Clock:
    """A clock the tests move by hand, so stamp changes are visible at second resolution."""

    now: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float = 61) -> dt.datetime:
        self.now += dt.timedelta(seconds=seconds)
        return self.now


@dataclass
class Sandbox:
    handle: ServerHandle
    system: SapSystem
    tls: TlsFiles
    clock: Clock
    faults: FaultInjector
    metadata: dict[str, bytes] = field(default_factory=dict)
    sessions: list[requests.Session] = field(default_factory=list)

    def url(self, service: str) -> str:
        return f"{self.handle.url}/sap/opu/odata/sap/{service}/"

    def session(
        self, user: str = USER, password: str = PASSWORD, *, token: bool = True, json: bool = True
    ) -> requests.Session:
        """A logged-on requests session; ``json`` asks for JSON on every request, as a raw OData client
        must (SAP Gateway answers Atom XML otherwise); pyodata gets a bare one and asks itself."""
        session = requests.Session()
        self.sessions.append(session)
        session.auth = (user, password)
        session.verify = str(self.tls.ca_cert)
        session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override `verify`
        if json:
            session.headers["Accept"] = "application/json"
        if token:
            response = session.get(self.url(BP_SRV), headers={"X-CSRF-Token": "Fetch"})
            session.headers["X-CSRF-Token"] = response.headers["x-csrf-token"]
        return session

    def client(self, service: str, session: requests.Session | None = None) -> pyodata.Client:
        session = session or self.session(json=False)
        if service not in self.metadata:
            self.metadata[service] = session.get(self.url(service) + "$metadata").content
        client = pyodata.Client(self.url(service), session, metadata=self.metadata[service])
        client.config["http"]["update_method"] = "MERGE"
        return client

    def stop(self) -> None:
        # Open keep-alive connections would hold up the server's graceful shutdown.
        for session in self.sessions:
            session.close()
        self.handle.stop()


def start_sap_sandbox(tmp_path_factory: pytest.TempPathFactory, page_size: int) -> Sandbox:
    tls = ensure_tls(tmp_path_factory.getbasetemp() / "tls")
    clock = Clock(dt.datetime(2026, 11, 2, 9, 0, 0, tzinfo=dt.UTC))
    # The protocol under test; the create rules of real systems have their own tests (test_sap_system).
    system = SapSystem(
        page_size=page_size, clock=clock, standard_grouping="BP02", assigns_ordinal_numbers=True
    )
    system.load(SEED)
    faults = FaultInjector()
    handle = serve(create_app(system, faults), tls=tls)
    return Sandbox(handle, system, tls, clock, faults)


def new_partner(bp: pyodata.Client, name: str, **extra: object) -> object:
    return (
        bp.entity_sets.A_BusinessPartner.create_entity()
        .set(BusinessPartnerCategory="2", OrganizationBPName1=name, **extra)
        .execute()
    )


# What S/4 requires of a new sales order header.
ORDER_HEADER = {
    "SalesOrderType": "OR",
    "SalesOrganization": "1710",
    "DistributionChannel": "10",
    "OrganizationDivision": "00",
    "SoldToParty": "1000001",
}


def error_of(response: requests.Response) -> dict:
    assert response.headers["content-type"].startswith("application/json")
    return response.json()["error"]


def new_order(so: pyodata.Client) -> object:
    return so.entity_sets.A_SalesOrder.create_entity().set(**ORDER_HEADER).execute()
