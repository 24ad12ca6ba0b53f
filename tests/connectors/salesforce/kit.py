"""What the Salesforce connector tests share: the seed, fast settings, the mapped entity sources, a
connector from the published connection, and record helpers."""

from __future__ import annotations

import datetime as dt
import functools
import time

from connectors.base import EntitySource, WriteRecord
from connectors.salesforce import SalesforceConnector, SalesforceSettings
from mdm.config import entity_source as load_entity_source
from mdm.entities import names as entity_names
from sandbox.seed import SeedOptions

ENTITIES = entity_names()
SMALL = SeedOptions(seed=5, customers=40, products=8, orders=12)
# Tiny waits: tests must not sleep through Retry-After or bulk polling intervals.
FAST = {
    "bulk_poll_seconds": 0.05,
    "retry_initial_seconds": 0.001,
    "retry_max_seconds": 0.01,
    "retry_max_retry_after": 0.01,
}
OBJECTS = {"customer": "Account", "product": "Product2", "price": "PricebookEntry", "order": "Order"}


@functools.cache
def entity_source(entity: str) -> EntitySource:
    """The entity's definition from mappings/ (read once: the YAML loader is not free)."""
    return load_entity_source(entity)


def connect(**settings: object) -> SalesforceConnector:
    return SalesforceConnector.from_airflow("synchub_crm", SalesforceSettings(**{**FAST, **settings}))


def records_of(connector: SalesforceConnector, source: EntitySource, since: dt.datetime | None = None):
    return [r for page in connector.extract_changed(source, since) for r in page.records]


def watermark(connector: SalesforceConnector, source: EntitySource) -> dt.datetime:
    return max(p.max_stamp for p in connector.extract_changed(source, None) if p.max_stamp)


def accounts(n: int, prefix: str, **extra: object) -> list[WriteRecord]:
    return [
        WriteRecord(
            key=f"{prefix}{i}",
            fields={"Name": f"{prefix} Company {i}", "SyncHub_Id__c": f"{prefix}{i}", **extra},
        )
        for i in range(n)
    ]


def org_count(org, where: str) -> int:
    return org.run_query(f"SELECT COUNT() FROM Account WHERE {where}", include_deleted=False).total_size


def start_of_a_fresh_second() -> None:
    """Wait until early in a second, so the next few writes share one whole-second stamp."""
    fraction = time.time() % 1
    if fraction > 0.3:
        time.sleep(1.0 - fraction + 0.01)
