"""``synchub demo`` (``make demo``): the four entity syncs through Airflow against seeded sandboxes.

Starts both sandboxes in the background on free ports, publishes their Airflow connections in
this process's environment (as ``source var/sandbox.env`` would), runs the DAGs synchub_customer,
synchub_product, synchub_price and synchub_order (in that order: orders need customers and products,
prices need products) through ``synchub sync``'s code path, prints each one's summary, the match
quality against the seed's truth and one line per entity, stops the sandboxes, and ends by writing the
DQ report (``synchub report``'s page) and printing where it is.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path

import requests
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from mdm.entities import names as entity_names
from mdm.stats import StepKind, run_steps, steps_of
from mdm.store.db import DATABASE_URL_ENV, redacted, upgrade_database
from mdm.sync_run import sync_entity
from sandbox.runner import RunningSandboxes, SandboxConfig, start_sandboxes
from sandbox.seed import SeedOptions


def publish_connections(running: RunningSandboxes) -> None:
    """Publish the connections to Airflow hooks in this process, as `source var/sandbox.env` does."""
    os.environ["AIRFLOW_CONN_SYNCHUB_CRM"] = json.dumps(running.crm_connection())
    os.environ["AIRFLOW_CONN_SYNCHUB_ERP"] = json.dumps(running.erp_connection())
    os.environ["REQUESTS_CA_BUNDLE"] = str(running.ca_bundle)


def sap_session_from_connection(conn_id: str = "synchub_erp") -> tuple[requests.Session, str, str]:
    """A requests session (basic auth, CA, sap-client) and base URL from an Airflow http connection."""
    from connectors.airflow_connection import airflow_connection
    from connectors.sap.connector import ca_bundle_of

    conn = airflow_connection(conn_id)
    extra = conn.extra_dejson
    session = requests.Session()
    session.auth = (conn.login or "", conn.password or "")
    session.verify = ca_bundle_of(extra, conn_id) or True  # as the SAP connector reads it
    client = extra.get("sap-client")
    if client:
        session.params = {"sap-client": client}
    base = f"{conn.schema or 'https'}://{conn.host}:{conn.port}"
    return session, base, client or ""


def run_demo(console: Console, *, seed: int, customers: int, products: int, orders: int) -> int:
    """Seeded sandboxes -> the four syncs through their DAGs -> the summaries; returns the exit code.

    The demo keeps a store of its own (``var/demo/synchub.db``, recreated each time): the sandboxes
    start from fresh seed data, so an older store's cross-reference would point at nothing.
    """
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
        code = 0
        results: dict[str, dict] = {}
        for entity in entity_names():
            console.rule(f"[bold]{entity}[/]")
            entity_code, results[entity] = sync_entity(entity, out=console)
            code = max(code, entity_code)
        console.rule("[bold]summary[/]")
        console.print(entity_summary(results))
        if running.truth is not None:
            precision, recall = pairwise_quality(url, running.truth["customers"])
            console.print(
                f"matches against the generator's truth: pairwise precision {precision:.3f}, "
                f"recall {recall:.3f}"
            )
    finally:
        running.stop()
    report = write_demo_report(url)
    console.print(f"[green]demo finished in {time.monotonic() - started:.1f} s[/]; sandboxes stopped.")
    console.print(f"[bold]DQ report[/] {report.resolve()}", soft_wrap=True)
    console.print("Look around the demo's store (each line runs as printed, from this folder):")
    for command in next_commands(url):
        console.print(f"  {command}", soft_wrap=True, markup=False, highlight=False)
    return code


def next_commands(url: str) -> list[str]:
    """Shell commands that read the demo's store, ready to paste: the store named on each line."""
    program = _synchub_program()
    store = f"{DATABASE_URL_ENV}={shlex.quote(url)}"
    return [
        f"{store} {program} golden export --entity customer",
        f"{store} {program} golden export --entity product",
        f"{store} {program} orders list",
        f"{store} {program} review list",
        f"{store} {program} errors list",
        f'{store} {program} ui --user "$(whoami)"',
        f"{program} sandbox up --seed 42   # the sandboxes again, until Ctrl+C",
    ]


def _synchub_program() -> str:
    """How to call ``synchub`` from the current folder: the script next to this Python (``.venv/bin``),
    relative when it lies below the current folder, else ``synchub`` from the PATH."""
    script = Path(sys.executable).parent / "synchub"
    if not script.exists():
        return "synchub"
    try:
        return shlex.quote(str(script.relative_to(Path.cwd())))
    except ValueError:
        return shlex.quote(str(script))


def entity_summary(results: dict[str, dict]) -> Table:
    """One line per entity: records read from each system, written to each, not sent (products not
    created, prices without a CRM product, orders waiting for master data), failed; from each run's
    ``StepStats``."""
    table = Table(title="per entity", title_justify="left")
    for column in ("entity", "read CRM", "read ERP", "written CRM", "written ERP", "not sent", "failed"):
        table.add_column(column, justify="left" if column == "entity" else "right")
    for entity, stats in results.items():
        steps = run_steps(stats)

        def total(kind: StepKind, name: str, system: str | None = None, steps: list = steps) -> int | None:
            chosen = steps_of(steps, kind, system)
            return sum(getattr(s.outcome, name) for s in chosen) if chosen else None

        cells = [
            total("extract", "read", "salesforce"),
            total("extract", "read", "sap"),
            total("write", "written", "salesforce"),
            total("write", "written", "sap"),
            total("write", "waiting"),
            total("write", "failed"),
        ]
        table.add_row(entity, *("-" if value is None else str(value) for value in cells))
    return table


def write_demo_report(url: str) -> Path:
    """The SyncHub summary page (and the links to the GX Data Docs) of the demo's store."""
    from mdm.report import default_reports_dir, write_report
    from mdm.store.db import make_engine, session_factory

    engine = make_engine(url)
    try:
        return write_report(session_factory(engine), default_reports_dir())
    finally:
        engine.dispose()


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
