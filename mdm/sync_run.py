"""``synchub sync ENTITY`` and the demo: run an entity's DAG now, in this process, through Airflow's
``dag.test()``, then print what it did from the run log (its steps' ``StepStats``).

The DAG is the one Airflow parses from ``dags/<dag_id>.py`` (or, for an entity added through
``SYNCHUB_ENTITY_MODULES``, from ``dags/synchub_entities.py``), run on this repository's Airflow home
unless ``AIRFLOW_HOME`` names another.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path

from rich.console import Console

from mdm.entities import Entity
from mdm.entities import entity as declared_entity
from mdm.stats import StepKind, StepStats, run_steps, steps_of
from mdm.store.db import StoreConfigError, database_url, redacted, upgrade_database

REPO_ROOT = Path(__file__).resolve().parent.parent
GENERATED_DAGS_FILE = "synchub_entities.py"  # the DAGs of entities without a file of their own

console = Console()
err = Console(stderr=True, soft_wrap=True)


def run_sync(
    entity: str, *, full: bool = False, retries: int = 0, verbose: bool = False, out: Console | None = None
) -> int:
    """Run ``entity``'s DAG once with ``dag.test()`` and print the summary.

    Returns the exit code: 0 success, 1 a step failed, 2 the store or the DAG is unusable.
    """
    return sync_entity(entity, full=full, retries=retries, verbose=verbose, out=out)[0]


def sync_entity(
    entity: str, *, full: bool = False, retries: int = 0, verbose: bool = False, out: Console | None = None
) -> tuple[int, dict]:
    """``run_sync``, returning the exit code and the run's stats (the run log's summary)."""
    out = out or console
    try:
        declared = declared_entity(entity)
    except LookupError as exc:
        err.print(f"[red]error:[/] {exc}")
        return 2, {}
    dag_id = declared.dag_id
    if not verbose:
        # Read when Airflow configures logging (its first import in this process).
        os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    try:
        store_url = database_url()
        upgrade_database(store_url)
        airflow_db = prepare_airflow()
        dag = load_dag(dag_id)
    except (StoreConfigError, LookupError) as exc:
        err.print(f"[red]error:[/] {exc}")
        return 2, {}
    for task in dag.tasks:
        task.retries = min(task.retries, retries)
    started = time.monotonic()
    mode = "full reconciliation" if full else "incremental"
    out.print(f"running DAG {dag_id} ({mode}) through Airflow ...")
    dag_run = dag.test(run_conf={"full": full})
    seconds = time.monotonic() - started
    ok = dag_run.state == "success"
    run = _store_run(store_url, dag_id, dag_run.run_id)
    _print_sync_summary(out, declared, dag_run, run, seconds)
    exports = "".join(f"         {line}\n" for line in declared.outputs)
    quality = [step for step in run_steps(run.stats if run else None) if step.kind == "quality"]
    docs = quality[0].details.get("data_docs") if quality else None
    if docs:
        exports += f"         data quality (GX Data Docs): {docs}\n"
    from mdm.report import REPORT_FILE, default_reports_dir

    summary_page = (default_reports_dir() / REPORT_FILE).resolve()
    if summary_page.exists():
        exports += f"         DQ summary: {summary_page} (synchub report writes it again)\n"
    out.print(
        f"[bold]outputs[/]  store {redacted(store_url)} (run log id {run.id if run else '-'})\n"
        f"{exports}"
        f"         Airflow run {dag_run.run_id} in {redacted(airflow_db)}",
        soft_wrap=True,
    )
    return (0 if ok else 1), ((run.stats if run else None) or {})


def prepare_airflow() -> str:
    """Point Airflow at this repository (unless AIRFLOW_HOME says otherwise) and migrate its metadata DB.

    Returns the metadata DB URL. Handles a clean machine: the SQLite folder is created on the way.
    """
    os.environ.setdefault("AIRFLOW_HOME", str(REPO_ROOT))
    os.environ.setdefault("AIRFLOW_CONFIG", str(REPO_ROOT / "airflow.cfg"))
    from airflow import settings
    from airflow.configuration import conf
    from airflow.utils import db
    from sqlalchemy.engine import make_url

    wanted_db = conf.get("database", "sql_alchemy_conn")
    wanted_dags = os.path.expanduser(conf.get("core", "dags_folder"))
    if (settings.SQL_ALCHEMY_CONN, settings.DAGS_FOLDER) != (wanted_db, wanted_dags):
        # Airflow was imported before the environment named another database or DAG folder
        # (a test, an embedding program): follow the environment.
        settings.configure_vars()
        settings.reconfigure_orm()
    url = make_url(settings.SQL_ALCHEMY_CONN)
    if url.get_backend_name() == "sqlite" and url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    db.upgradedb()
    return settings.SQL_ALCHEMY_CONN


def load_dag(dag_id: str):
    """The DAG ``dag_id`` as Airflow parses it from its file in the DAG folder."""
    from airflow import settings
    from airflow.dag_processing.dagbag import DagBag

    folder = Path(settings.DAGS_FOLDER)
    path = folder / f"{dag_id}.py"
    if not path.exists():
        path = folder / GENERATED_DAGS_FILE
    if not path.exists():
        raise LookupError(f"DAG file {path} not found; run from the repository or set AIRFLOW_HOME to it")
    bag = DagBag(dag_folder=path)
    if dag_id not in bag.dags:
        raise LookupError(f"{path} does not define the DAG {dag_id}: {bag.import_errors or 'no such dag_id'}")
    return bag.dags[dag_id]


def _store_run(store_url: str, dag_id: str, airflow_run_id: str):
    """The store's run-log entry of one Airflow run (written by the DAG's open_run/close_run)."""
    from sqlalchemy import select

    from mdm.store.db import make_engine, session_factory
    from mdm.store.models import Run

    engine = make_engine(store_url)
    try:
        with session_factory(engine)() as session:
            return session.scalars(
                select(Run).where(Run.job == dag_id, Run.external_run_id == airflow_run_id)
            ).first()
    finally:
        engine.dispose()


def _print_sync_summary(out: Console, declared: Entity, dag_run, run, seconds: float) -> None:
    stats = (run.stats if run else None) or {}
    steps = run_steps(stats)
    ok = dag_run.state == "success"
    if declared.kind == "mastered":
        _print_master_data_tables(out, declared.name, steps)
    else:
        _print_step_table(out, declared.name, steps)
    errors = [f"{step}: {message}" for step, message in stats.get("errors", {}).items()]
    for step in steps:
        errors += [f"{_label(step)}: {_describe(e)}" for e in step.details.get("errors", []) or []]
    if run is not None and run.error:
        errors.append(run.error)
    if errors:
        out.print(f"[red]errors ({len(errors)})[/]")
        for line in errors[:20]:
            out.print(f"  {line}", soft_wrap=True, markup=False)
        if len(errors) > 20:
            out.print(f"  ... and {len(errors) - 20} more")
    verdict = "[green]success[/]" if ok else f"[red]{dag_run.state}[/]"
    mode = "full reconciliation" if stats.get("full") else "incremental"
    out.print(f"DAG run {dag_run.run_id}: {verdict} ({mode}, {seconds:.1f} s)")


def _label(step: StepStats) -> str:
    return f"{step.step} {step.system}" if step.system else step.step


def _print_step_table(out: Console, entity: str, steps: list[StepStats]) -> None:
    """The outcome of each step, and its own counts (derived and transactional entities: prices, orders)."""
    from rich.table import Table

    table = Table(title=f"{entity} sync per step", title_justify="left")
    table.add_column("step")
    table.add_column("outcome")
    table.add_column("counts")
    for step in steps:
        outcome = ", ".join(f"{name} {value}" for name, value in asdict(step.outcome).items() if value)
        counts = ", ".join(
            f"{key} {value}"
            for key, value in step.details.items()
            if isinstance(value, int) and not isinstance(value, bool) and key not in ("api_calls",)
        )
        table.add_row(_label(step), outcome or "-", counts or "-")
    out.print(table)
    for step in steps:
        for example in (step.details.get("waiting_examples") or [])[:5]:
            out.print(f"  waiting: {_describe(example)}", soft_wrap=True, markup=False)


def _print_master_data_tables(out: Console, entity: str, steps: list[StepStats]) -> None:
    from rich.table import Table

    def cell(kind: StepKind, name: str, system: str | None = None) -> str:
        found = steps_of(steps, kind, system)
        value = found[0].count(name) if found else None
        return "-" if value is None else str(value)

    systems = Table(title=f"{entity} sync per system", title_justify="left")
    systems.add_column("")
    systems.add_column("salesforce (CRM)", justify="right")
    systems.add_column("sap (ERP)", justify="right")
    for label, kind, name in (
        ("records in", "extract", "read"),
        ("deleted", "extract", "deleted"),
        ("written: created", "write", "created"),
        ("written: updated", "write", "updated"),
        ("unchanged", "write", "unchanged"),
        ("not created (reported)", "write", "waiting"),
        ("failed", "write", "failed"),
    ):
        systems.add_row(label, cell(kind, name, "salesforce"), cell(kind, name, "sap"))
    out.print(systems)

    golden = Table(title=f"{entity} matching and golden records", title_justify="left")
    golden.add_column("")
    golden.add_column("count", justify="right")
    for label, kind, name in (
        ("checked by the quality gate", "quality", "read"),
        ("quarantined", "quality", "quarantined"),
        ("matched (auto-linked pairs)", "match", "auto_linked"),
        ("in review", "match", "review"),
        ("new golden records", "match", "new"),
        ("golden records", "merge", "read"),
        ("golden records changed", "merge", "changed"),
    ):
        golden.add_row(label, cell(kind, name))
    out.print(golden)


def _describe(error) -> str:
    if isinstance(error, dict):
        return ", ".join(f"{k}={v}" for k, v in error.items())
    return str(error)
