"""Read-only queries behind the admin pages that the stewardship services do not cover.

Dashboard figures (recent runs, DQ pass rates, queue sizes) and golden records with everything that
explains them: provenance per field, member records, cross-reference and version history.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from mdm.stats import StepStats
from mdm.store.models import (
    CanonicalRecord,
    DeadLetter,
    DqResult,
    GoldenRecord,
    GoldenRecordVersion,
    MatchDecision,
    Run,
    Xref,
)


@dataclass(frozen=True)
class RunRow:
    id: int
    job: str
    entity: str | None
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    error: str | None
    counts: dict[str, dict[str, int]]  # step -> key count -> value
    airflow_url: str | None = None  # the Airflow run page (its task list and each task's log)
    close_run_log: str | None = None  # the close_run task's log: the run's summary and why it failed


@dataclass(frozen=True)
class ExpectationRate:
    suite: str
    expectation: str
    system: str | None
    validations: int
    passed: int
    checked: int
    failed: int
    last_at: dt.datetime

    @property
    def pass_rate(self) -> float:
        return self.passed / self.validations if self.validations else 1.0


@dataclass(frozen=True)
class Dashboard:
    runs_by_job: dict[str, list[RunRow]]
    expectations: list[ExpectationRate]
    open_reviews: int
    open_errors: int


@dataclass(frozen=True)
class FieldExplanation:
    """One golden field: its value and why it won (which system and record gave it, by which rule)."""

    name: str
    value: Any
    system: str | None
    source_key: str | None
    rule: str | None


@dataclass(frozen=True)
class MemberRecord:
    system: str
    source_key: str
    values: dict[str, Any]
    is_deleted: bool
    quarantine_reason: str | None
    link_rule: str | None


@dataclass
class GoldenDetail:
    id: str
    entity: str
    status: str
    version: int
    merged_into: str | None
    updated_at: dt.datetime
    fields: list[FieldExplanation]
    members: list[MemberRecord]
    xref: list[Xref]
    versions: list[GoldenRecordVersion]
    member_fields: list[str] = field(default_factory=list)  # union of the members' canonical fields


def step_counts(stats: dict[str, Any] | None) -> dict[str, dict[str, int]]:
    """The outcome counts (``mdm.stats.Outcome``, the non-zero ones) of each step of a run: per task for
    a DAG run (``stats["steps"]``), else the run's own under ""."""
    stats = stats or {}
    steps = stats.get("steps") if isinstance(stats.get("steps"), dict) else {"": stats}
    out: dict[str, dict[str, int]] = {}
    for step, values in steps.items():
        result = StepStats.from_json(values)
        if result is None:
            continue
        counts = {name: value for name, value in asdict(result.outcome).items() if value}
        if counts:
            out[step] = counts
    return out


AIRFLOW_URL_ENV = "SYNCHUB_AIRFLOW_URL"


def airflow_base_url() -> str | None:
    """Airflow's UI address: ``SYNCHUB_AIRFLOW_URL``, else Airflow's own ``[api] base_url`` when this runs
    inside Airflow (the admin view as its plugin); None: the runs are shown without links."""
    url = os.environ.get(AIRFLOW_URL_ENV, "").strip()
    if not url and "airflow.configuration" in sys.modules:
        try:
            url = sys.modules["airflow.configuration"].conf.get("api", "base_url", fallback="") or ""
        except Exception:  # a configuration Airflow cannot read gives no link
            url = ""
    return url.rstrip("/") or None


def airflow_run_url(dag_id: str, run_id: str | None, task_id: str | None = None) -> str | None:
    """The Airflow UI page of a DAG run (``/dags/<dag>/runs/<run>``), or of one of its tasks (its log)."""
    base = airflow_base_url()
    if base is None or not run_id:
        return None
    url = f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
    return f"{url}/tasks/{quote(task_id, safe='')}" if task_id else url


def dashboard(session: Session, runs_per_job: int = 5, dq_runs: int = 10) -> Dashboard:
    """Recent runs per job, the pass rate of each expectation over its recent validations, queue sizes."""
    runs_by_job: dict[str, list[RunRow]] = {}
    jobs = session.scalars(select(Run.job).group_by(Run.job).order_by(func.max(Run.started_at).desc()))
    for job in jobs:
        rows = session.scalars(
            select(Run)
            .where(Run.job == job)
            .order_by(Run.started_at.desc(), Run.id.desc())
            .limit(runs_per_job)
        )
        runs_by_job[job] = [
            RunRow(
                r.id,
                r.job,
                r.entity,
                r.status,
                r.started_at,
                r.finished_at,
                r.error,
                step_counts(r.stats),
                airflow_run_url(r.job, r.external_run_id),
                airflow_run_url(r.job, r.external_run_id, task_id="close_run"),
            )
            for r in rows
        ]
    return Dashboard(
        runs_by_job=runs_by_job,
        expectations=expectation_rates(session, dq_runs),
        open_reviews=session.scalar(
            select(func.count()).select_from(MatchDecision).where(MatchDecision.status == "review")
        )
        or 0,
        open_errors=session.scalar(
            select(func.count()).select_from(DeadLetter).where(DeadLetter.status == "open")
        )
        or 0,
    )


def expectation_rates(session: Session, recent_runs: int = 10) -> list[ExpectationRate]:
    """Per (suite, expectation, system): how many of its validations in the last runs passed."""
    run_ids = select(DqResult.run_id).group_by(DqResult.run_id).order_by(func.max(DqResult.id).desc())
    recent = [rid for rid in session.scalars(run_ids.limit(recent_runs))]
    query = (
        select(
            DqResult.suite,
            DqResult.expectation,
            DqResult.system,
            func.count(),
            func.sum(case((DqResult.success.is_(True), 1), else_=0)),
            func.sum(DqResult.checked),
            func.sum(DqResult.failed),
            func.max(DqResult.created_at),
        )
        .group_by(DqResult.suite, DqResult.expectation, DqResult.system)
        .order_by(DqResult.suite, DqResult.expectation, DqResult.system)
    )
    if recent and None not in recent:
        query = query.where(DqResult.run_id.in_(recent))
    return [
        ExpectationRate(suite, exp, system, n, int(passed or 0), int(checked or 0), int(failed or 0), last)
        for suite, exp, system, n, passed, checked, failed, last in session.execute(query)
    ]


def search_golden(
    session: Session, entity: str | None = None, name: str | None = None, limit: int = 50
) -> list[GoldenRecord]:
    """Golden records of an entity whose id or name contains ``name`` (any case), by golden id."""
    query = select(GoldenRecord).order_by(GoldenRecord.id)
    if entity:
        query = query.where(GoldenRecord.entity == entity)
    needle = (name or "").strip().lower()
    if not needle:
        return list(session.scalars(query.limit(limit)))
    # The name lives in the JSON values: filtering here keeps the query the same on every dialect.
    found: list[GoldenRecord] = []
    for golden in session.scalars(query.execution_options(yield_per=500)):
        if needle in golden.id.lower() or needle in str((golden.values or {}).get("name", "")).lower():
            found.append(golden)
            if len(found) >= limit:
                break
    return found


def golden_entities(session: Session) -> list[str]:
    return list(session.scalars(select(GoldenRecord.entity).group_by(GoldenRecord.entity)))


def golden_detail(session: Session, golden_id: str) -> GoldenDetail | None:
    """A golden record with per-field provenance, its member records, xref rows and versions."""
    golden = session.get(GoldenRecord, golden_id)
    if golden is None:
        return None
    provenance = golden.provenance or {}
    fields = [
        FieldExplanation(
            name=name,
            value=value,
            system=(provenance.get(name) or {}).get("system"),
            source_key=(provenance.get(name) or {}).get("source_key"),
            rule=(provenance.get(name) or {}).get("rule"),
        )
        for name, value in (golden.values or {}).items()
    ]
    xref = list(
        session.scalars(
            select(Xref).where(Xref.golden_id == golden_id).order_by(Xref.system, Xref.source_key)
        )
    )
    members: list[MemberRecord] = []
    for row in xref:
        record = session.scalar(
            select(CanonicalRecord).where(
                CanonicalRecord.system == row.system,
                CanonicalRecord.entity == row.entity,
                CanonicalRecord.source_key == row.source_key,
            )
        )
        if record is not None:
            members.append(
                MemberRecord(
                    record.system,
                    record.source_key,
                    record.values or {},
                    record.is_deleted,
                    record.quarantine_reason,
                    row.link_rule,
                )
            )
    member_fields = list(dict.fromkeys([f.name for f in fields] + [k for m in members for k in m.values]))
    versions = list(
        session.scalars(
            select(GoldenRecordVersion)
            .where(GoldenRecordVersion.golden_id == golden_id)
            .order_by(GoldenRecordVersion.version.desc())
        )
    )
    return GoldenDetail(
        id=golden.id,
        entity=golden.entity,
        status=golden.status,
        version=golden.version,
        merged_into=golden.merged_into,
        updated_at=golden.updated_at,
        fields=fields,
        members=members,
        xref=xref,
        versions=versions,
        member_fields=member_fields,
    )
