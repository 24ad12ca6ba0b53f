"""Wiring shared by SyncHub's DAG files: the run-log tasks, the step wrapper, the master-data DAG shape.

Imported by the files in ``dags/`` at parse time, so it imports nothing but Airflow's SDK: every
pipeline module is imported inside a task, when it runs. Each entity DAG opens a run in the store's
run log (``open_run``), runs its steps (each returns a small stats dict as its XCom, or leaves its
error as the XCom ``error``) and closes the run whatever happened (``close_run``, trigger rule
all_done), failing the Airflow run if a step failed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from airflow.sdk import Asset, Param, dag, get_current_context, task

FULL_RECONCILIATION_HOUR_UTC = 2
START_DATE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "synchub",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=15),
}


def asset(name: str, uri: str) -> Asset:
    """One of SyncHub's assets (group ``synchub``): what a step leaves updated for other DAGs."""
    return Asset(name=name, uri=uri, group="synchub")


# What the entity DAGs update, and what others wait for.
GOLDEN_CUSTOMERS = asset("synchub_golden_customer", "synchub://golden/customer")
ERP_CUSTOMERS = asset("synchub_erp_customer", "synchub://erp/customer")
GOLDEN_PRODUCTS = asset("synchub_golden_product", "synchub://golden/product")
CRM_PRODUCTS = asset("synchub_crm_product", "synchub://crm/product")
CRM_PRICES = asset("synchub_crm_price", "synchub://crm/price")
ERP_ORDERS = asset("synchub_erp_order", "synchub://erp/order")


def full_param() -> Param:
    return Param(
        False,
        type="boolean",
        description="Re-read every key and hash, not just the changes since the watermark.",
    )


@contextmanager
def store_session() -> Iterator[Any]:
    """A transaction on SyncHub's store (SYNCHUB_DATABASE_URL), for the run log."""
    from mdm.store.db import make_engine, session_factory

    engine = make_engine()
    try:
        with session_factory(engine).begin() as session:
            yield session
    finally:
        engine.dispose()


def wants_full_reconciliation(requested: object, run_type: object, run_after: dt.datetime | None) -> bool:
    """Full when the trigger asks for it, and for the daily scheduled run at FULL_RECONCILIATION_HOUR_UTC."""
    if requested:
        return True
    scheduled = getattr(run_type, "value", run_type) == "scheduled"
    return (
        scheduled
        and run_after is not None
        and run_after.astimezone(dt.UTC).hour == FULL_RECONCILIATION_HOUR_UTC
    )


def run_step(call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one pipeline step; on failure leave its error as the XCom ``error`` for close_run."""
    try:
        return call()
    except Exception as exc:
        get_current_context()["ti"].xcom_push(key="error", value=f"{type(exc).__name__}: {exc}"[:1000])
        raise


def open_run_task(job: str, entity: str) -> Any:
    """The task that creates (or, on a rerun of the same Airflow run, reopens) the run-log entry."""

    @task(task_id="open_run")
    def open_run() -> dict[str, Any]:
        """Record the run in SyncHub's store and decide incremental or full."""
        from sqlalchemy import select

        from mdm.store.models import Run
        from mdm.store.runlog import start_run

        context = get_current_context()
        dag_run = context["dag_run"]
        params = context["params"]
        full = wants_full_reconciliation(params.get("full"), dag_run.run_type, dag_run.run_after)
        with store_session() as session:
            run = session.scalars(
                select(Run).where(Run.job == job, Run.external_run_id == dag_run.run_id)
            ).first()
            if run is None:
                run = start_run(session, job, entity, external_run_id=dag_run.run_id)
            else:
                run.status, run.finished_at, run.error = "running", None, None
            run.stats = {"full": full}
            session.flush()
            run_id = run.id
        return {"run_id": run_id, "full": full}

    return open_run


def close_run_task(steps: Sequence[str]) -> Any:
    """The task (trigger rule all_done) that stores every step's stats and errors in the run log and
    fails the Airflow run if a step failed. ``steps``: the result-bearing task ids, in run order."""

    @task(task_id="close_run", trigger_rule="all_done")
    def close_run() -> dict[str, Any]:
        """Store every step's stats and errors in the run log; fail the Airflow run if a step failed."""
        from airflow.sdk.exceptions import AirflowFailException

        from mdm.store.models import Run
        from mdm.store.runlog import finish_run

        ti = get_current_context()["ti"]
        opened = ti.xcom_pull(task_ids="open_run")
        results = {step: ti.xcom_pull(task_ids=step) for step in steps}
        errors = {step: ti.xcom_pull(task_ids=step, key="error") for step in steps}
        errors = {step: message for step, message in errors.items() if message}
        incomplete = [step for step, stats in results.items() if stats is None]
        summary = {
            "full": bool(opened and opened["full"]),
            "steps": {step: stats for step, stats in results.items() if stats is not None},
            "errors": errors,
        }
        failure = None
        if opened is None:
            failure = "open_run failed: no run-log entry"
        elif incomplete:
            failure = "steps not completed: " + ", ".join(incomplete)
        if opened is not None:
            with store_session() as session:
                run = session.get(Run, opened["run_id"])
                finish_run(session, run, "failed" if failure else "success", summary, failure)
        report = write_summary_report()
        if failure:
            raise AirflowFailException(failure)
        return {"run_id": opened["run_id"], "status": "success", "report": report}

    return close_run


def write_summary_report() -> str | None:
    """Write the SyncHub DQ summary page (``synchub report``) and name it in the task log; a report that
    cannot be written is logged and does not fail the run."""
    import logging

    from mdm.report import default_reports_dir, write_report
    from mdm.store.db import make_engine, session_factory

    log = logging.getLogger(__name__)
    engine = make_engine()
    try:
        path = write_report(session_factory(engine), default_reports_dir())
    except Exception as exc:  # the run's outcome stands; the report is only its summary
        log.warning("DQ report not written: %s: %s", type(exc).__name__, exc)
        return None
    finally:
        engine.dispose()
    log.info("DQ report: %s", path)
    return str(path)


def extract_tasks(entity: str, *, erp_always_full: bool = False) -> tuple[Any, Any]:
    """The tasks extract_crm and extract_erp of an entity: what changed since the watermark, staged.

    ``erp_always_full``: the ERP side has no change stamp (price conditions), so every run reads it whole.
    """

    @task(task_id="extract_crm")
    def extract_crm(run: dict[str, Any]) -> dict[str, Any]:
        from mdm.pipeline import extract

        return run_step(lambda: extract(entity, "salesforce", full=run["full"], run_id=run["run_id"]))

    @task(task_id="extract_erp")
    def extract_erp(run: dict[str, Any]) -> dict[str, Any]:
        from mdm.pipeline import extract

        full = True if erp_always_full else run["full"]
        return run_step(lambda: extract(entity, "sap", full=full, run_id=run["run_id"]))

    return extract_crm, extract_erp


def quality_task(entity: str) -> Any:
    """The task ``quality``: the entity's expectation suites over every live record (``mdm.quality``).

    Failing records are quarantined and the rest goes on; a threshold breach (``QualityGateError``) fails
    the task at once, without retries (rerunning the same data fails the same way), so the publish
    steps after it do not run. The task log names the Data Docs index of the run.
    """

    @task(task_id="quality")
    def quality(run: dict[str, Any]) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from mdm.pipeline import quality
        from mdm.quality import QualityGateError

        try:
            return run_step(lambda: quality(entity, run_id=run["run_id"]))
        except QualityGateError as exc:
            raise AirflowFailException(str(exc)) from exc

    return quality


# Result-bearing steps of a master-data DAG, in the order they run.
MASTER_DATA_STEPS = ("extract_crm", "extract_erp", "quality", "match", "merge", "publish_erp", "publish_crm")


def master_data_dag(
    entity: str,
    *,
    schedule: Any,
    doc_md: str,
    tags: Sequence[str],
    golden: Asset,
    published: dict[str, Asset] | None = None,
) -> Any:
    """A master-data entity's DAG: open_run -> extract_crm | extract_erp -> quality -> match -> merge
    (outlet ``golden``) -> publish_erp -> publish_crm -> close_run. ``published`` names the asset each
    publish step updates ("erp", "crm")."""
    job = f"synchub_{entity}"
    outlets = published or {}

    @dag(
        dag_id=job,
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=dt.timedelta(hours=4),
        default_args=DEFAULT_ARGS,
        params={"full": full_param()},
        tags=["synchub", "master-data", *tags],
        doc_md=doc_md,
    )
    def master_data() -> None:
        extract_crm, extract_erp = extract_tasks(entity)
        quality = quality_task(entity)

        @task
        def match(run: dict[str, Any]) -> dict[str, Any]:
            from mdm.pipeline import match

            return run_step(lambda: match(entity, run_id=run["run_id"]))

        @task(outlets=[golden])
        def merge(run: dict[str, Any]) -> dict[str, Any]:
            from mdm.pipeline import merge

            return run_step(lambda: merge(entity, full=run["full"], run_id=run["run_id"]))

        @task(outlets=[outlets["erp"]] if "erp" in outlets else [])
        def publish_erp(run: dict[str, Any]) -> dict[str, Any]:
            from mdm.pipeline import publish

            return run_step(lambda: publish(entity, "sap", run_id=run["run_id"]))

        @task(outlets=[outlets["crm"]] if "crm" in outlets else [])
        def publish_crm(run: dict[str, Any]) -> dict[str, Any]:
            from mdm.pipeline import publish

            return run_step(lambda: publish(entity, "salesforce", run_id=run["run_id"]))

        opened = open_run_task(job, entity)()
        extracted = [extract_crm(opened), extract_erp(opened)]
        checked = quality(opened)
        matched = match(opened)
        merged = merge(opened)
        erp = publish_erp(opened)
        crm = publish_crm(opened)
        extracted >> checked >> matched >> merged >> erp >> crm >> close_run_task(MASTER_DATA_STEPS)()

    return master_data()
