"""The ``synchub`` command line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console

from mdm.cli_sandbox import sandbox_app
from mdm.entities import entities
from mdm.store.db import StoreConfigError, current_revision, database_url, redacted, upgrade_database

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

console = Console()
err = Console(stderr=True, soft_wrap=True)

app = typer.Typer(
    help="SyncHub: a CRM <-> ERP master-data hub for Salesforce and SAP S/4HANA, scheduled by Airflow.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(
    help="The master-data store (SYNCHUB_DATABASE_URL; default: SQLite var/synchub.db).", no_args_is_help=True
)
mappings_app = typer.Typer(
    help="Entity mappings (mappings/*.yaml, checked against mappings/schema.json).", no_args_is_help=True
)
connections_app = typer.Typer(help="The Airflow connections to the CRM and the ERP.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(mappings_app, name="mappings")
app.add_typer(connections_app, name="connections")


@mappings_app.command("validate")
def mappings_validate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Mapping files (default: every mappings/*.yaml).")
    ] = None,
) -> None:
    """Validate mapping files; errors name the file, the line and the field."""
    from mdm.config import MappingError, load_mapping, mappings_dir

    files = paths or sorted(mappings_dir().glob("*.yaml"))
    failed = 0
    for path in files:
        try:
            mapping = load_mapping(path)
        except MappingError as exc:
            failed += 1
            err.print(f"[red]invalid[/] {exc}")
            continue
        if mapping.entity not in entities():
            failed += 1
            err.print(
                f"[red]invalid[/] {path}: entity: no module in mdm/entities (or SYNCHUB_ENTITY_MODULES) "
                f"declares {mapping.entity!r}; declared: {', '.join(entities())}",
                soft_wrap=True,
            )
            continue
        console.print(f"[green]ok[/]      {path} (entity {mapping.entity})", soft_wrap=True)
    if failed:
        raise typer.Exit(1)


@connections_app.command("test")
def connections_test(
    crm_conn_id: Annotated[str, typer.Option(help="Airflow connection id of the CRM.")] = "synchub_crm",
    erp_conn_id: Annotated[str, typer.Option(help="Airflow connection id of the ERP.")] = "synchub_erp",
    entity: Annotated[
        list[str] | None, typer.Option(help="Entities whose mapped fields to check (default: all).")
    ] = None,
) -> None:
    """Check each connection: auth and reachability, metadata, mapped fields existing and writable, and
    the SAP settings the mappings name (sales area, order type, BP grouping, tax types) in use."""
    from connectors.errors import ConnectorError
    from mdm.config import MappingError, load_mappings
    from mdm.setup_checks import check_sap_settings

    try:
        mappings = load_mappings()
    except MappingError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    sources = [m.source for name, m in sorted(mappings.items()) if not entity or name in entity]
    failed = warnings = 0
    for system, conn_id in (("salesforce", crm_conn_id), ("sap", erp_conn_id)):
        try:
            connector = _connector(system, conn_id)
            results = connector.check(sources)
            if system == "sap" and all(r.ok for r in results if r.check == "auth"):
                # The SAP settings the mappings name (sales area, order type, grouping, tax types).
                results += check_sap_settings(
                    connector, {n: m for n, m in mappings.items() if m.source in sources}
                )
        except (ConnectorError, ValueError) as exc:
            failed += 1
            console.print(f"[red]FAIL[/] {system:10} connection {conn_id}: {exc}")
            continue
        for result in results:
            failed += not result.ok
            warnings += result.ok and result.warning
            mark = (
                "[green]ok  [/]"
                if result.ok and not result.warning
                else "[yellow]warn[/]"
                if result.ok
                else "[red]FAIL[/]"
            )
            console.print(f"{mark} {result.system:10} {result.check:24} {result.detail}")
    if failed:
        console.print(f"[red]{failed} check(s) failed[/]")
        raise typer.Exit(1)
    console.print(
        "[green]all checks passed[/]" + (f" ({warnings} warning(s): see above)" if warnings else "")
    )


def _connector(system: str, conn_id: str):
    if system == "salesforce":
        from connectors.salesforce import SalesforceConnector

        return SalesforceConnector.from_airflow(conn_id)
    from connectors.sap import SapConnector

    return SapConnector.from_airflow(conn_id)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Apply the store's migrations up to REVISION (default: the newest)."""
    url = database_url()
    try:
        upgrade_database(url, revision)
    except StoreConfigError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    console.print(f"store at {redacted(url)} is at revision {current_revision(url)}")


@db_app.command("current")
def db_current() -> None:
    """Print the store's URL (password hidden) and its migration revision."""
    url = database_url()
    console.print(f"{redacted(url)}: revision {current_revision(url) or '(empty: run `synchub db upgrade`)'}")


# --- synchub sync ENTITY: an entity's DAG, run now in this process through Airflow (dag.test()) ---------

FullOpt = Annotated[
    bool, typer.Option("--full", help="Full reconciliation: re-read every key and hash, recompute all.")
]
RetriesOpt = Annotated[
    int,
    typer.Option(
        min=0,
        help="Retries per task, at most the DAG's own (2). Default 0: a manual run fails fast; "
        "the connectors retry transient errors themselves.",
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show Airflow's and the steps' INFO logs.")]


EntityArg = Annotated[
    str,
    typer.Argument(
        help="The entity: one that mdm.entities declares (`synchub entities` lists them).",
        autocompletion=lambda: list(entities()),
        metavar="ENTITY",
        show_default=False,
    ),
]


@app.command("sync")
def sync(
    entity: EntityArg, full: FullOpt = False, retries: RetriesOpt = 0, verbose: VerboseOpt = False
) -> None:
    """Run an entity's sync DAG now, in this process, through Airflow; then print what it did."""
    from mdm.sync_run import run_sync

    if entity not in entities():
        err.print(f"[red]error:[/] no entity {entity!r}; declared: {', '.join(entities())}")
        raise typer.Exit(2)
    raise typer.Exit(run_sync(entity, full=full, retries=retries, verbose=verbose))


sync.__doc__ = (
    "Run an entity's sync DAG now, in this process, through Airflow; then print what it did.\n\n"
    + "\n\n".join(f"{e.name}: DAG {e.dag_id}, {e.title}. {e.help}" for e in entities().values())
    + "\n\nConnections: synchub_crm and synchub_erp (e.g. `source var/sandbox.env`). Store: "
    "SYNCHUB_DATABASE_URL. Exits 1 when a step failed, 2 when the store or the DAG is unusable."
)


@app.command("entities")
def list_entities() -> None:
    """The declared entities (mdm.entities, plus SYNCHUB_ENTITY_MODULES) in the order they sync."""
    from rich.table import Table

    table = Table(title="entities (each DAG: open_run, extract_crm | extract_erp, quality, then)")
    for column in ("entity", "kind", "DAG", "then", "needs"):
        table.add_column(column)
    for declared in entities().values():
        table.add_row(
            declared.name,
            declared.kind,
            declared.dag_id,
            ", ".join(s.task_id for s in declared.steps),
            ", ".join(declared.needs) or "-",
        )
    console.print(table)


@app.command("demo")
def demo(
    seed: Annotated[int, typer.Option(help="Random seed of the demo data.")] = 42,
    customers: Annotated[
        int, typer.Option(help="Seeded CRM accounts, and as many SAP business partners.")
    ] = 2000,
    products: Annotated[int, typer.Option(help="Seeded SAP products (some copied to the CRM).")] = 50,
    orders: Annotated[int, typer.Option(help="Seeded orders.")] = 100,
) -> None:
    """Seeded sandboxes; the customer, product, price and order syncs through Airflow; summaries; stop."""
    from mdm.cli_sandbox import require_sandbox_extra

    require_sandbox_extra()
    from mdm.demo import run_demo

    raise typer.Exit(run_demo(console, seed=seed, customers=customers, products=products, orders=orders))


# --- golden records and the cross-reference as CSV (issue 4) -------------------------------------------
golden_app = typer.Typer(help="Golden records: the trusted record of each customer.", no_args_is_help=True)
xref_app = typer.Typer(help="The cross-reference: golden id <-> (system, key).", no_args_is_help=True)
app.add_typer(golden_app, name="golden")
app.add_typer(xref_app, name="xref")
EntityOpt = Annotated[str, typer.Option(help="The entity, e.g. customer.")]


@contextmanager
def _store_session() -> Iterator[Session]:
    """A session on the store (SYNCHUB_DATABASE_URL); exit 2, naming the setting, when it is unusable."""
    from mdm.cli_stewardship import store_sessions

    with store_sessions() as sessions, sessions() as session:
        yield session


def _export_csv(header: list[str] | tuple[str, ...], rows_of) -> None:  # noqa: ANN001 - session -> rows
    """Stream CSV rows to stdout from the store (SYNCHUB_DATABASE_URL)."""
    import csv
    import sys

    with _store_session() as session:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows_of(session))


@golden_app.command("export")
def golden_export(entity: EntityOpt = "customer") -> None:
    """Golden records as CSV to stdout: id, version, status, the canonical fields, why each value won."""
    from mdm.config import MappingError, load_mapping, mappings_dir
    from mdm.golden import golden_header, golden_rows

    try:
        model = load_mapping(mappings_dir() / f"{entity}.yaml").model
    except MappingError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    fields = list(model.fields) if model else []
    _export_csv(golden_header(fields), lambda session: golden_rows(session, entity, fields))


@xref_app.command("export")
def xref_export(entity: EntityOpt = "customer") -> None:
    """The cross-reference as CSV to stdout: golden_id,system,entity,source_key."""
    from mdm.golden import XREF_HEADER, xref_rows

    _export_csv(XREF_HEADER, lambda session: xref_rows(session, entity))


# --- orders on their way to the ERP (issue 5) ------------------------------------------------------------
orders_app = typer.Typer(
    help="CRM orders on their way to the ERP: sent, waiting, failed.", no_args_is_help=True
)
app.add_typer(orders_app, name="orders")
OrderState = Literal["waiting", "failed", "created", "linked"]


@orders_app.command("list")
def orders_list(
    state: Annotated[
        OrderState | None, typer.Option(help="Only orders in this state (default: all).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, most recently changed first.")] = 50,
) -> None:
    """Each CRM order SyncHub has looked at: its SAP order, its state, and why it waits or failed."""
    from rich.table import Table
    from sqlalchemy import func, select

    from mdm.store.models import OrderSync

    with _store_session() as session:
        query = select(OrderSync)
        if state is not None:
            query = query.where(OrderSync.state == state)
        rows = list(session.scalars(query.order_by(OrderSync.updated_at.desc()).limit(limit)))
        counts = dict(session.execute(select(OrderSync.state, func.count()).group_by(OrderSync.state)).all())
    table = Table(
        title_justify="left", title="orders: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    )
    for column in ("CRM order", "number", "state", "SAP order", "sent", "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row.crm_order_id,
            row.crm_order_number or "",
            row.state,
            row.erp_order or "",
            str(row.attempts),
            row.reason or "",
        )
    console.print(table)


from mdm.cli_admin import ui  # noqa: E402  (the admin view's command lives in its own module)

app.command()(ui)

# The review queue, the error queue and the DQ summary report (issue 6) live in their own module.
from mdm.cli_stewardship import errors_app, report, review_app  # noqa: E402

app.add_typer(review_app, name="review")
app.add_typer(errors_app, name="errors")
app.command("report")(report)

# The match model and match quality (issue 10): synchub match train|show|versions|evaluate.
from mdm.cli_match import match_app  # noqa: E402

app.add_typer(match_app, name="match")
app.add_typer(sandbox_app, name="sandbox")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
