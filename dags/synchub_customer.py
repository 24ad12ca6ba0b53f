"""
### synchub_customer: golden customers between Salesforce and SAP S/4HANA

One run reconciles the CRM's Accounts and the ERP's Business Partners into golden customers and
writes them back, so that both systems agree:

1. **open_run** records the run in SyncHub's store (`run` table) and decides incremental or full.
2. **extract_crm** and **extract_erp** (in parallel) read what changed since the watermark and
   stage it with its lineage (raw payload, hash, source stamp).
3. **quality** checks completeness; incomplete records are quarantined with a reason.
4. **match** links records: cross-reference, then deterministic rules (VAT, ERP number, DUNS), then
   fuzzy rules; the doubtful band goes to the review queue.
5. **merge** applies field survivorship and versions the golden records (asset
   `synchub_golden_customer`).
6. **publish_erp**, then **publish_crm**, write only the differences and capture new keys.
   The ERP goes first so that customers created there in this run reach the CRM with their new SAP
   number in the same run; one after the other, so a rerun after a crash has only one half-written
   side to recover.
7. **close_run** (always runs) stores every step's stats and errors, and fails the run if a step failed.

Every step is idempotent: clear and rerun any task. Each returns a small stats dict (XCom).

**Full reconciliation.** SAP address-only changes do not move the partner's change stamp, so an
incremental run can miss them. Trigger with `{"full": true}` to re-read every key and hash (and
recompute every golden record); the scheduled run at 02:00 UTC does so every day.

The connections are the Airflow connections `synchub_crm` and `synchub_erp`; the store is
`SYNCHUB_DATABASE_URL` (default: SQLite `var/synchub.db`). Nothing is read at parse time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from airflow.sdk import Asset, Param, dag, get_current_context, task

ENTITY = "customer"
JOB = "synchub_customer"
FULL_RECONCILIATION_HOUR_UTC = 2
GOLDEN_CUSTOMERS = Asset(name="synchub_golden_customer", uri="synchub://golden/customer", group="synchub")
# Result-bearing steps in the order they run; close_run pulls their XComs by these task ids.
STEPS = ("extract_crm", "extract_erp", "quality", "match", "merge", "publish_erp", "publish_crm")


@contextmanager
def _store_session() -> Iterator[Any]:
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


def _run_step(call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one pipeline step; on failure leave its error as the XCom ``error`` for close_run."""
    try:
        return call()
    except Exception as exc:
        get_current_context()["ti"].xcom_push(key="error", value=f"{type(exc).__name__}: {exc}"[:1000])
        raise


@dag(
    dag_id=JOB,
    schedule="@hourly",
    start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=dt.timedelta(hours=4),
    default_args={
        "owner": "synchub",
        "retries": 2,
        "retry_delay": dt.timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=15),
    },
    params={
        "full": Param(
            False,
            type="boolean",
            description="Re-read every key and hash, not just the changes since the watermark.",
        )
    },
    tags=["synchub", "master-data", "customer"],
    doc_md=__doc__,
)
def synchub_customer() -> None:
    @task
    def open_run() -> dict[str, Any]:
        """Create (or, on a rerun of the same Airflow run, reopen) the store's run-log entry."""
        from sqlalchemy import select

        from mdm.store.models import Run
        from mdm.store.runlog import start_run

        context = get_current_context()
        dag_run = context["dag_run"]
        full = wants_full_reconciliation(context["params"].get("full"), dag_run.run_type, dag_run.run_after)
        with _store_session() as session:
            run = session.scalars(
                select(Run).where(Run.job == JOB, Run.external_run_id == dag_run.run_id)
            ).first()
            if run is None:
                run = start_run(session, JOB, ENTITY, external_run_id=dag_run.run_id)
            else:
                run.status, run.finished_at, run.error = "running", None, None
            run.stats = {"full": full}
            session.flush()
            run_id = run.id
        return {"run_id": run_id, "full": full}

    @task
    def extract_crm(run: dict[str, Any]) -> dict[str, Any]:
        from mdm.pipeline import extract

        return _run_step(lambda: extract(ENTITY, "salesforce", full=run["full"], run_id=run["run_id"]))

    @task
    def extract_erp(run: dict[str, Any]) -> dict[str, Any]:
        from mdm.pipeline import extract

        return _run_step(lambda: extract(ENTITY, "sap", full=run["full"], run_id=run["run_id"]))

    @task
    def quality(run: dict[str, Any]) -> dict[str, Any]:
        from mdm.pipeline import quality

        return _run_step(lambda: quality(ENTITY, run_id=run["run_id"]))

    @task
    def match(run: dict[str, Any]) -> dict[str, Any]:
        from mdm.pipeline import match

        return _run_step(lambda: match(ENTITY, run_id=run["run_id"]))

    @task(outlets=[GOLDEN_CUSTOMERS])
    def merge(run: dict[str, Any]) -> dict[str, Any]:
        from mdm.pipeline import merge

        return _run_step(lambda: merge(ENTITY, full=run["full"], run_id=run["run_id"]))

    @task
    def publish_crm(run: dict[str, Any]) -> dict[str, Any]:
        from mdm.pipeline import publish

        return _run_step(lambda: publish(ENTITY, "salesforce", run_id=run["run_id"]))

    @task
    def publish_erp(run: dict[str, Any]) -> dict[str, Any]:
        from mdm.pipeline import publish

        return _run_step(lambda: publish(ENTITY, "sap", run_id=run["run_id"]))

    @task(trigger_rule="all_done")
    def close_run() -> dict[str, Any]:
        """Store every step's stats and errors in the run log; fail the Airflow run if a step failed."""
        from airflow.sdk.exceptions import AirflowFailException

        from mdm.store.models import Run
        from mdm.store.runlog import finish_run

        ti = get_current_context()["ti"]
        opened = ti.xcom_pull(task_ids="open_run")
        results = {step: ti.xcom_pull(task_ids=step) for step in STEPS}
        errors = {step: ti.xcom_pull(task_ids=step, key="error") for step in STEPS}
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
            with _store_session() as session:
                run = session.get(Run, opened["run_id"])
                finish_run(session, run, "failed" if failure else "success", summary, failure)
        if failure:
            raise AirflowFailException(failure)
        return {"run_id": opened["run_id"], "status": "success"}

    opened = open_run()
    extracted = [extract_crm(opened), extract_erp(opened)]
    checked = quality(opened)
    matched = match(opened)
    merged = merge(opened)
    erp = publish_erp(opened)
    crm = publish_crm(opened)
    extracted >> checked >> matched >> merged >> erp >> crm >> close_run()


synchub_customer_dag = synchub_customer()
