"""``synchub demo`` (``make demo``): the customer sync through Airflow against seeded sandboxes.

Starts both sandboxes in the background on free ports, publishes their Airflow connections in
this process's environment (as ``source var/sandbox.env`` would), runs the DAG synchub_customer
through ``synchub sync customer``'s code path, prints its summary and the match quality against
the seed's truth, and stops the sandboxes.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import requests
from rich.console import Console
from sqlalchemy import select

from mdm.store.db import DATABASE_URL_ENV, redacted, upgrade_database
from sandbox.runner import RunningSandboxes, SandboxConfig, start_sandboxes
from sandbox.seed import SeedOptions


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
    """Seeded sandboxes -> the customer sync through the DAG -> the summary; returns the exit code.

    The demo keeps a store of its own (``var/demo/synchub.db``, recreated each time): the sandboxes
    start from fresh seed data, so an older store's cross-reference would point at nothing.
    """
    from mdm.cli import run_sync

    started = time.monotonic()
    logging.getLogger("pyodata").setLevel(logging.WARNING)  # one INFO line per request otherwise
    store_file = Path("var/demo/synchub.db").resolve()
    for leftover in store_file.parent.glob(f"{store_file.name}*"):  # the file and its WAL / SHM
        leftover.unlink()
    url = f"sqlite:///{store_file}"
    os.environ[DATABASE_URL_ENV] = url
    upgrade_database(url)
    console.print(f"[bold]store[/] {redacted(url)} (fresh, migrated)")

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
            f"   (connections: {env})"
        )
        code = run_sync("customer", out=console)
        if running.truth is not None:
            precision, recall = pairwise_quality(url, running.truth["customers"])
            console.print(
                f"matches against the generator's truth: pairwise precision {precision:.3f}, "
                f"recall {recall:.3f}"
            )
    finally:
        running.stop()
    console.print(
        f"[green]demo finished in {time.monotonic() - started:.1f} s[/]; sandboxes stopped. "
        f"Exports: SYNCHUB_DATABASE_URL={url} synchub golden export --entity customer. "
        "Run the sandboxes yourself with `.venv/bin/synchub sandbox up --seed 42`.",
        soft_wrap=True,
    )
    return code


def pairwise_quality(url: str, truth_customers: list[dict]) -> tuple[float, float]:
    """Pairwise precision and recall of the xref's grouping against the seed's truth.

    Only the seeded records count (records SyncHub created in a system are not in the truth).
    """
    from collections import Counter

    from mdm.store.db import make_engine, session_factory
    from mdm.store.models import Xref

    company = {
        (system, key): entry["entity_id"]
        for entry in truth_customers
        for system in ("salesforce", "sap")
        for key in entry[system] or ()
    }
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            rows = session.execute(
                select(Xref.golden_id, Xref.system, Xref.source_key).where(Xref.entity == "customer")
            ).all()
    finally:
        engine.dispose()
    linked = [(golden, company[(system, key)]) for golden, system, key in rows if (system, key) in company]

    def pairs(counts: Counter) -> int:
        return sum(n * (n - 1) // 2 for n in counts.values())

    predicted = pairs(Counter(golden for golden, _ in linked))
    actual = pairs(Counter(entity for _, entity in linked))
    correct = pairs(Counter(linked))
    return (correct / predicted if predicted else 1.0), (correct / actual if actual else 1.0)
