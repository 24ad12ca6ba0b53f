"""Wiring shared by SyncHub's DAG files: an entity's DAG built from its declaration (``mdm.entities``),
the run-log tasks and the step wrapper.

Every task returns one small dict as one XCom (``multiple_outputs=False``: a task typed ``-> dict`` would
otherwise have Airflow push one XCom row per key).

Imported by the files in ``dags/`` at parse time, so it imports nothing but Airflow's SDK and the light
entity declarations: every pipeline module is imported inside a task, when it runs. Each entity DAG
opens a run in the store's run log (``open_run``), runs its steps (each returns its ``StepStats`` as
JSON as its XCom, or leaves its error as the XCom ``error``) and closes the run whatever happened
(``close_run``, trigger rule all_done), failing the Airflow run if a step failed.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from airflow.sdk import (
    Asset,
    AssetAlias,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Param,
    dag,
    get_current_context,
    task,
)

FULL_RECONCILIATION_HOUR_UTC = 2
START_DATE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "synchub",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=15),
}


TIMEOUT_ENV = "SYNCHUB_TASK_TIMEOUT_MINUTES"
DEFAULT_TASK_TIMEOUT_MINUTES = 180
CALLBACK_ENV = "SYNCHUB_ON_FAILURE_CALLBACK"
POOL_ENV = "SYNCHUB_SALESFORCE_POOL"


def operations_args() -> dict[str, Any]:
    """What an operator sets for every task through the environment of the DAG processor and workers:

    - ``SYNCHUB_TASK_TIMEOUT_MINUTES`` (default 180): the tasks' ``execution_timeout``;
    - ``SYNCHUB_ON_FAILURE_CALLBACK``: ``module:name`` (comma-separated for several) of callables or
      Airflow notifiers (``BaseNotifier`` instances, e.g. the Slack or SMTP provider's) that each failed
      task calls, such as a close_run that names rejected writes.

    A bad value fails the DAG file's import, naming the variable.
    """
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        minutes = float(raw) if raw else DEFAULT_TASK_TIMEOUT_MINUTES
    except ValueError:
        raise ValueError(f"{TIMEOUT_ENV} must be a number of minutes, not {raw!r}") from None
    if minutes <= 0:
        raise ValueError(f"{TIMEOUT_ENV} must be above 0, not {raw!r}")
    args: dict[str, Any] = {"execution_timeout": dt.timedelta(minutes=minutes)}
    callbacks = [part.strip() for part in os.environ.get(CALLBACK_ENV, "").split(",") if part.strip()]
    if callbacks:
        args["on_failure_callback"] = [_resolve_callback(path) for path in callbacks]
    return args


def _resolve_callback(path: str) -> Any:
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{CALLBACK_ENV}: {path!r} is not module:name")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"{CALLBACK_ENV}: {path!r} cannot be imported: {exc}") from None
    if not callable(found):
        raise ValueError(f"{CALLBACK_ENV}: {path!r} is not callable")
    return found


def salesforce_pool() -> str | None:
    """The Airflow pool the tasks that call Salesforce run in (``SYNCHUB_SALESFORCE_POOL``), so several
    DAGs share the org's API budget; None: Airflow's default pool."""
    return os.environ.get(POOL_ENV, "").strip() or None


def crm_task(task_id: str) -> bool:
    """Whether a task calls Salesforce: extract_crm and the steps that write to it (``*_crm``)."""
    return task_id.endswith("_crm")


def asset(name: str, uri: str) -> Asset:
    """One of SyncHub's assets (group ``synchub``): what a step leaves updated for other DAGs."""
    return Asset(name=name, uri=uri, group="synchub")


def entity_asset(path: str) -> Asset:
    """The asset an entity declares by path: ``golden/customer`` is ``synchub_golden_customer``
    (``synchub://golden/customer``)."""
    return asset("synchub_" + path.replace("/", "_"), f"synchub://{path}")


CHANGE_ALIASES: dict[str, Asset] = {}  # alias name -> the asset it emits events for


def change_alias(target: Asset) -> AssetAlias:
    """The alias a step's task declares as its outlet, through which it emits ``target``'s events."""
    alias = AssetAlias(name=f"{target.name}__changes", group="synchub")
    CHANGE_ALIASES[alias.name] = target
    return alias


def asset_behind(alias: AssetAlias) -> Asset:
    """The asset a change alias (``change_alias``) emits events for."""
    return CHANGE_ALIASES[alias.name]


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


def run_step(call: Callable[[], Any]) -> dict[str, Any]:
    """Run one pipeline step; its ``StepStats`` becomes the task's XCom (as JSON), and on failure its error
    is left as the XCom ``error`` for close_run."""
    try:
        return call().to_json()
    except Exception as exc:
        get_current_context()["ti"].xcom_push(key="error", value=f"{type(exc).__name__}: {exc}"[:1000])
        raise


def open_run_task(job: str, entity: str) -> Any:
    """The task that creates (or, on a rerun of the same Airflow run, reopens) the run-log entry."""

    @task(task_id="open_run", multiple_outputs=False)
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


def close_run_task(entity: str, steps: Sequence[str]) -> Any:
    """The task (trigger rule all_done) that stores every step's stats and errors in the run log and
    fails the Airflow run if a step failed, or if more of its writes were rejected than the entity's
    mapping allows (``writes.max_rejected_share``). ``steps``: the result-bearing task ids, in run order."""

    @task(task_id="close_run", trigger_rule="all_done", multiple_outputs=False)
    def close_run() -> dict[str, Any]:
        """Store every step's stats and errors in the run log; fail the Airflow run if a step failed or
        too many writes were rejected."""
        import logging

        from airflow.sdk.exceptions import AirflowFailException

        from mdm.config import load_entity_mapping
        from mdm.stats import Rejections, StepStats
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
        else:
            rejections = Rejections.of(filter(None, map(StepStats.from_json, results.values())))
            failure = rejections.failure(entity, load_entity_mapping(entity).writes.max_rejected_share)
            if rejections.rejected and not failure:
                logging.getLogger(__name__).warning(
                    "%s, within what the mapping allows", rejections.describe(entity)
                )
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

    from mdm.artefacts import publish
    from mdm.report import default_reports_dir, write_report
    from mdm.store.db import make_engine, session_factory

    log = logging.getLogger(__name__)
    engine = make_engine()
    try:
        path = publish(write_report(session_factory(engine), default_reports_dir()))
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

    @task(task_id="extract_crm", multiple_outputs=False, pool=salesforce_pool())
    def extract_crm(run: dict[str, Any]) -> dict[str, Any]:
        from mdm.pipeline import extract

        return run_step(lambda: extract(entity, "salesforce", full=run["full"], run_id=run["run_id"]))

    @task(task_id="extract_erp", multiple_outputs=False)
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

    @task(task_id="quality", multiple_outputs=False)
    def quality(run: dict[str, Any]) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from mdm.pipeline import quality
        from mdm.quality import QualityGateError

        try:
            return run_step(lambda: quality(entity, run_id=run["run_id"]))
        except QualityGateError as exc:
            raise AirflowFailException(str(exc)) from exc

    return quality


def entity_dag(name: str, *, doc_md: str | None = None) -> Any:
    """The DAG of the entity ``name`` as ``mdm.entities`` declares it: open_run -> extract_crm | extract_erp
    -> quality -> the entity's steps, one after the other (each updating its asset) -> close_run."""
    from mdm.entities import Run, entity

    declared = entity(name)
    schedule: Any = declared.schedule
    if declared.waits_for:
        assets = [entity_asset(path) for path in declared.waits_for]
        condition = assets[0]
        for other in assets[1:]:
            condition = condition | other
        schedule = AssetOrTimeSchedule(
            timetable=CronTriggerTimetable(declared.schedule, timezone="UTC"), assets=condition
        )
    group = "transactional" if declared.kind == "transactional" else "master-data"

    @dag(
        dag_id=declared.dag_id,
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=dt.timedelta(hours=declared.dag_timeout_hours),
        default_args=DEFAULT_ARGS | operations_args(),
        params={"full": full_param()},
        tags=["synchub", group, name, *declared.tags],
        doc_md=doc_md or f"### {declared.dag_id}: {declared.title}",
    )
    def entity_pipeline() -> None:
        extract_crm, extract_erp = extract_tasks(name, erp_always_full=declared.erp_always_full)
        opened = open_run_task(declared.dag_id, name)()
        previous: Any = [extract_crm(opened), extract_erp(opened)]
        previous = previous >> quality_task(name)(opened)
        for step in declared.steps:
            previous = previous >> step_task(name, step, Run)(opened)
        previous >> close_run_task(name, declared.step_ids)()

    return entity_pipeline()


def step_task(name: str, step: Any, run_type: Any) -> Any:
    """The task of one declared step (``mdm.entities.Step``): its call, its asset.

    The task's outlet is an asset alias (``<asset>__changes``) rather than the asset itself, so that an
    asset event is emitted only when the step changed something (``StepStats.changed_anything``):
    Airflow emits an event for every declared asset outlet of a successful task, but for an alias only
    for the assets the task adds to it at run time. DAGs scheduled on the asset are triggered as before.
    """
    target = entity_asset(step.updates) if step.updates else None
    alias = change_alias(target) if target else None

    def body(run: dict[str, Any]) -> Any:
        stats = step.call(name, run_type(run["run_id"], bool(run["full"])))
        if alias is not None and stats.changed_anything:
            events = get_current_context()["outlet_events"]
            events[alias].add(target, extra={"synchub_run_id": run["run_id"], "step": step.task_id})
        return stats

    def call(run: dict[str, Any]) -> dict[str, Any]:
        return run_step(lambda: body(run))

    call.__name__ = call.__qualname__ = step.task_id
    call.__doc__ = (step.call.__doc__ or "").strip() or None
    outlets = [alias] if alias is not None else []
    pool = salesforce_pool() if crm_task(step.task_id) else None
    return task(task_id=step.task_id, outlets=outlets, multiple_outputs=False, pool=pool)(call)
