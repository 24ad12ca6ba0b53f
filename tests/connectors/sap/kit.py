"""What the SAP connector tests share: fast retries, the seed, the mapped entity sources and sets, a
connection built from extras, and write records."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from decimal import Decimal

import certifi
import pytest

from connectors.base import EntitySource, WriteRecord
from connectors.errors import RetryPolicy
from connectors.sap import SapConnector, SapSettings
from mdm.config import entity_source
from sandbox.sap.model import find_set
from sandbox.seed import SeedOptions

FAST_RETRY = RetryPolicy(max_attempts=8, initial_seconds=0.01, max_seconds=0.05, max_retry_after=0.05)
SETTINGS = SapSettings(retry=FAST_RETRY, look_back=dt.timedelta(0))
SMALL = SeedOptions(seed=7, customers=25, products=6, orders=6)

CUSTOMER = entity_source("customer")
PRODUCT = entity_source("product")
PRICE = entity_source("price")
ORDER = entity_source("order")

PARTNERS = find_set("A_BusinessPartner")
ADDRESSES = find_set("A_BusinessPartnerAddress")
PRODUCTS = find_set("A_Product")
ORDERS = find_set("A_SalesOrder")
CONDITIONS = find_set("A_SlsPrcgConditionRecord")


def fake_connection(monkeypatch: pytest.MonkeyPatch, **extra: object) -> None:
    """An ERP connection that is only parsed, never called."""
    connection = {
        "conn_type": "http",
        "host": "127.0.0.1",
        "port": 1,
        "schema": "https",
        "login": "SYNCHUB",
        "password": "secret-pw",
        "extra": {"sap-client": "100", "synchub_ca_bundle": certifi.where(), **extra},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_ERP", json.dumps(connection))


def connect(**changes: object) -> SapConnector:
    return SapConnector.from_airflow(settings=replace(SETTINGS, **changes))


def read_all(connector: SapConnector, entity: EntitySource, since: dt.datetime | None = None) -> dict:
    return {r.key: r for page in connector.extract_changed(entity, since) for r in page.records}


def partner(key: str, name: str | None = None) -> WriteRecord:
    return WriteRecord(
        key,
        {
            "BusinessPartnerCategory": "2",
            "BusinessPartnerGrouping": "BP02",
            "OrganizationBPName1": name if name is not None else f"Company {key}",
            "Language": "EN",
            "to_BusinessPartnerAddress": [
                {"StreetName": "Hauptstraße", "HouseNumber": "1", "PostalCode": "10115", "CityName": "Berlin",
                 "Country": "DE"}
            ],
            "to_BusinessPartnerRole": [{"BusinessPartnerRole": "FLCU01"}],
        },
    )  # fmt: skip


def sales_order(key: str, sold_to: str, material: str) -> WriteRecord:
    return WriteRecord(
        key,
        {
            "SalesOrderType": "OR",
            "SalesOrganization": "1010",
            "DistributionChannel": "10",
            "OrganizationDivision": "00",
            "SoldToParty": sold_to,
            "PurchaseOrderByCustomer": f"PO-{key}",
            "TransactionCurrency": "EUR",
            "to_Item": [
                {"Material": material, "RequestedQuantity": Decimal("2"), "RequestedQuantityUnit": "EA"}
            ],
        },
    )


def partners_with_ext_id(sandboxes, ext_id: str) -> list[dict]:
    return [p for p in sandboxes.sap.records(PARTNERS) if p.get("BusinessPartnerIDByExtSystem") == ext_id]
