"""``synchub demo`` (``make demo``): seeded sandboxes, read back through the real clients.

Starts both sandboxes in the background on free ports, publishes their Airflow connections in
this process's environment, reads them through the salesforce provider's SalesforceHook and
through pyodata exactly as SyncHub's connectors will, prints what is there, and stops them.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import pyodata
import requests
from rich.console import Console
from rich.table import Table

from mdm.store.db import database_url, redacted, upgrade_database
from sandbox.runner import RunningSandboxes, SandboxConfig, start_sandboxes
from sandbox.seed import SeedOptions

SF_OBJECTS = ("Account", "Contact", "Product2", "PricebookEntry", "Order", "OrderItem")
SAP_SETS = (
    ("API_BUSINESS_PARTNER", "A_BusinessPartner"),
    ("API_BUSINESS_PARTNER", "A_BusinessPartnerAddress"),
    ("API_PRODUCT_SRV", "A_Product"),
    ("API_SLSPRICINGCONDITIONRECORD_SRV", "A_SlsPrcgConditionRecord"),
    ("API_SALES_ORDER_SRV", "A_SalesOrder"),
)


def publish_connections(running: RunningSandboxes) -> None:
    """Publish the connections to Airflow hooks in this process, as `source var/sandbox.env` does."""
    os.environ["AIRFLOW_CONN_SYNCHUB_CRM"] = json.dumps(running.crm_connection())
    os.environ["AIRFLOW_CONN_SYNCHUB_ERP"] = json.dumps(running.erp_connection())
    os.environ["REQUESTS_CA_BUNDLE"] = str(running.ca_bundle)


def sap_session_from_connection(conn_id: str = "synchub_erp") -> tuple[requests.Session, str, str]:
    """A requests session (basic auth, CA, sap-client) and base URL from an Airflow http connection."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson
    session = requests.Session()
    session.auth = (conn.login or "", conn.password or "")
    session.verify = extra.get("ca_bundle") or True
    client = extra.get("sap-client")
    if client:
        session.params = {"sap-client": client}
    base = f"{conn.schema or 'https'}://{conn.host}:{conn.port}"
    return session, base, client or ""


def run_demo(console: Console, *, seed: int, customers: int, products: int, orders: int) -> int:
    started = time.monotonic()
    logging.getLogger("pyodata").setLevel(logging.WARNING)  # one INFO line per request otherwise
    url = database_url()
    upgrade_database(url)
    console.print(f"[bold]store[/] {redacted(url)} migrated")

    config = SandboxConfig(
        seed=SeedOptions(seed=seed, customers=customers, products=products, orders=orders),
        crm_port=0,
        erp_port=0,
        state_dir=Path("var/sandbox"),
    )
    with console.status(
        f"seeding (seed {seed}: {customers} customers per system, {products} products, "
        f"{orders} orders) and starting the sandboxes ..."
    ):
        running = start_sandboxes(config)
    try:
        env = running.write_env(Path("var/sandbox.env"))
        publish_connections(running)
        console.print(
            f"[bold]Salesforce sandbox[/] {running.crm_url}   [bold]SAP sandbox[/] {running.erp_url}"
        )
        console.print(f"connections: {env}")

        from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

        sf = SalesforceHook(salesforce_conn_id="synchub_crm").get_conn()
        table = Table(title="Salesforce (through SalesforceHook / simple-salesforce)")
        table.add_column("object")
        table.add_column("records", justify="right")
        for obj in SF_OBJECTS:
            table.add_row(obj, str(sf.query(f"SELECT COUNT() FROM {obj}")["totalSize"]))
        console.print(table)
        sample = sf.query(
            "SELECT Id, Name, BillingCity, BillingCountry, VAT_Number__c FROM Account ORDER BY Name LIMIT 5"
        )["records"]
        accounts = Table(title="first accounts by name")
        for column in ("Id", "Name", "BillingCity", "BillingCountry", "VAT_Number__c"):
            accounts.add_column(column)
        for record in sample:
            accounts.add_row(
                *(
                    str(record[c] or "")
                    for c in ("Id", "Name", "BillingCity", "BillingCountry", "VAT_Number__c")
                )
            )
        console.print(accounts)

        session, base, _client = sap_session_from_connection()
        table = Table(title="SAP S/4HANA (through pyodata)")
        table.add_column("service / entity set")
        table.add_column("records", justify="right")
        clients: dict[str, pyodata.Client] = {}
        for service, entity_set in SAP_SETS:
            if service not in clients:
                clients[service] = pyodata.Client(f"{base}/sap/opu/odata/sap/{service}/", session)
            count = getattr(clients[service].entity_sets, entity_set).get_entities().count().execute()
            table.add_row(f"{service} / {entity_set}", str(count))
        console.print(table)
        bp = clients["API_BUSINESS_PARTNER"].entity_sets.A_BusinessPartner
        partners = (
            bp.get_entities()
            .expand("to_BusinessPartnerAddress")
            .order_by("BusinessPartnerFullName")
            .top(5)
            .execute()
        )
        rows = Table(title="first business partners by name")
        for column in ("BusinessPartner", "BusinessPartnerFullName", "City", "Country"):
            rows.add_column(column)
        for partner in partners:
            addresses = partner.to_BusinessPartnerAddress
            city = addresses[0].CityName if addresses else ""
            country = addresses[0].Country if addresses else ""
            rows.add_row(partner.BusinessPartner, partner.BusinessPartnerFullName or "", city, country)
        console.print(rows)
    finally:
        running.stop()
    console.print(
        f"[green]demo finished in {time.monotonic() - started:.1f} s[/]; sandboxes stopped. "
        "Run them yourself with `.venv/bin/synchub sandbox up --seed 42`."
    )
    return 0
