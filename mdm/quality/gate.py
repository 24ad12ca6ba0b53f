"""Run an entity's expectation suites (Great Expectations 1.x): quarantine, threshold, dq_result, Data Docs.

One validation per system (all live canonical records of the system as one pandas DataFrame) and one for
the active golden records, in an ephemeral GX context. Results come back with the failing row indexes
(``result_format`` COMPLETE), so each failing record is known:

- source records failing a ``quarantine`` expectation get a ``quarantine_reason`` that names it
  ("expectation failed: vat_number matches the VAT pattern of DE (expect_column_values_to_match_regex)")
  and stay out of match, merge and publish; records passing again are released. Only reasons this gate
  set (and the older completeness check's) are touched; other checks' quarantines are left alone.
- when more than ``quality.max_failed_share`` (mapping; default 5 %) of a system's batch fails (and the
  batch has at least ``quality.min_records`` records), the bad records are still quarantined, then
  ``QualityGateError`` stops the run, so nothing is published from a batch that is broken as a whole.
- golden-record suites only report (dq_result, Data Docs, a warning in the log): golden values are made
  from source records that passed, so a failure there points at survivorship or at two sources that
  disagree; it needs a person, and holding back publishing would not fix it.

Every expectation's outcome is stored in ``dq_result``; the Data Docs site is rebuilt under
``$SYNCHUB_REPORTS_DIR/data_docs/<entity>/`` (default ``var/reports``) and its index.html is returned.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from mdm.artefacts import local_reports_dir, publish
from mdm.config import Mapping as EntityMapping
from mdm.config.sections import QualitySettings as Settings
from mdm.entities import entities
from mdm.quality import (
    LEGACY_PREFIXES,
    QUARANTINE_PREFIX,
    QualityGateError,
)
from mdm.store.models import CanonicalRecord, DqResult, GoldenRecord, utcnow

log = logging.getLogger(__name__)

SUITES_DIR = Path(__file__).with_name("suites")
SUITES_ENV = "SYNCHUB_QUALITY_SUITES_DIR"  # another folder of suite files (tests, a site's own suites)
EXAMPLES = 10  # failing record keys kept per expectation in dq_result
REASON_LIMIT = 2000
CHUNK = 500
GOLDEN = "golden"
Action = Literal["quarantine", "report"]
Sessions = sessionmaker[Session]


@dataclass(frozen=True)
class Expectation:
    """One expectation of a suite, as the suite file says it."""

    name: str  # unique in the suite, what dq_result keeps: expect_..._regex(vat_number) [DE]
    type: str
    kwargs: dict[str, Any]
    describe: str
    action: Action
    systems: frozenset[str] | None

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column") or self.kwargs.get("column_A")

    @property
    def reason(self) -> str:
        return f"{self.describe} ({self.type})"

    def applies_to(self, system: str) -> bool:
        return self.systems is None or system in self.systems


@dataclass(frozen=True)
class Suites:
    entity: str
    source: tuple[Expectation, ...]
    golden: tuple[Expectation, ...]


@cache
def _value_sets() -> dict[str, list[str]]:
    import pycountry

    return {
        "iso_3166_alpha2": sorted(c.alpha_2 for c in pycountry.countries),
        "iso_4217": sorted(c.alpha_3 for c in pycountry.currencies),
    }


def _expectation(entry: dict[str, Any], default_action: Action) -> Expectation:
    entry = dict(entry)
    kind = str(entry.pop("expect"))
    describe = str(entry.pop("describe", "") or kind)
    action = entry.pop("action", default_action)
    systems = entry.pop("systems", None)
    label = entry.pop("label", None)
    where = entry.pop("where", None)
    if isinstance(entry.get("value_set"), str):
        entry["value_set"] = _value_sets()[entry["value_set"]]
    if where:
        entry |= {"row_condition": where, "condition_parser": "pandas"}
    column = entry.get("column") or ",".join(str(entry[k]) for k in ("column_A", "column_B") if k in entry)
    name = f"{kind}({column})" + (f" [{label}]" if label else "")
    return Expectation(name, kind, entry, describe, action, frozenset(systems) if systems else None)


def load_suites(mapping: EntityMapping, directory: Path | None = None) -> Suites:
    """The entity's suites: ``suites/<entity>.yaml`` plus a not-null expectation per required field."""
    path = (directory or Path(os.environ.get(SUITES_ENV) or SUITES_DIR)) / f"{mapping.entity}.yaml"
    data = yaml.safe_load(path.read_text()) if path.exists() else {}
    data = data or {}
    required = [n for n, spec in mapping.model.fields.items() if spec.required] if mapping.model else []
    source = [
        _expectation(
            {
                "expect": "expect_column_values_to_not_be_null",
                "column": name,
                "describe": f"{name} is present",
            },
            "quarantine",
        )
        for name in required
    ]
    source += [_expectation(entry, "quarantine") for entry in data.get("source") or []]
    for prefix, regex in (data.get("vat_patterns") or {}).items():
        source.append(
            _expectation(
                {
                    "expect": "expect_column_values_to_match_regex",
                    "column": "vat_number",
                    "regex": regex,
                    "where": f'vat_prefix == "{prefix}"',
                    "label": prefix,
                    "describe": f"vat_number matches the VAT pattern of {prefix}",
                },
                "quarantine",
            )
        )
    golden = [_expectation(entry | {"action": "report"}, "report") for entry in data.get("golden") or []]
    return Suites(mapping.entity, tuple(source), tuple(golden))


# --- the frames ----------------------------------------------------------------------------------------


@dataclass
class _Batch:
    """One validation's input: the frame and, per row, the canonical record (id, key, current reason)."""

    system: str  # a source system, or "golden"
    rows: list[dict[str, Any]]
    ids: list[int | str]
    keys: list[str]
    reasons: list[str | None]


def _source_batches(session: Session, mapping: EntityMapping) -> dict[str, _Batch]:
    entity = mapping.entity
    batches: dict[str, _Batch] = {}
    query = (
        select(
            CanonicalRecord.id,
            CanonicalRecord.system,
            CanonicalRecord.source_key,
            CanonicalRecord.values,
            CanonicalRecord.carried_golden_id,
            CanonicalRecord.quarantine_reason,
        )
        .where(CanonicalRecord.entity == entity, CanonicalRecord.is_deleted.is_(False))
        .order_by(CanonicalRecord.system, CanonicalRecord.source_key)
        .execution_options(yield_per=5000)
    )
    for row_id, system, key, values, carried, reason in session.execute(query):
        batch = batches.setdefault(system, _Batch(system, [], [], [], []))
        row = dict(values or {})
        vat = row.get("vat_number")
        row |= {
            "source_key": key,
            "carried_golden_id": carried,
            "vat_prefix": vat[:2] if isinstance(vat, str) and vat[:2].isalpha() else None,
        }
        batch.rows.append(row)
        batch.ids.append(row_id)
        batch.keys.append(key)
        batch.reasons.append(reason)
    declared = entities().get(entity)
    if declared is not None and declared.quality_columns is not None:
        for system, batch in batches.items():
            declared.quality_columns(session, mapping, system, batch.rows)
    return batches


def _golden_batch(session: Session, entity: str) -> _Batch:
    batch = _Batch(GOLDEN, [], [], [], [])
    query = (
        select(GoldenRecord.id, GoldenRecord.values)
        .where(GoldenRecord.entity == entity, GoldenRecord.status == "active", GoldenRecord.version > 0)
        .order_by(GoldenRecord.id)
        .execution_options(yield_per=5000)
    )
    for golden_id, values in session.execute(query):
        batch.rows.append(dict(values or {}) | {"golden_id": golden_id})
        batch.ids.append(golden_id)
        batch.keys.append(golden_id)
        batch.reasons.append(None)
    return batch


def _frame(batch: _Batch, mapping: EntityMapping) -> Any:
    import pandas as pd

    fields = mapping.model.fields if mapping.model else {}
    columns = list(dict.fromkeys([*fields, *(k for row in batch.rows for k in row)]))
    frame = pd.DataFrame.from_records(batch.rows, columns=columns)
    for name, spec in fields.items():
        kind = str(getattr(spec.type, "value", spec.type))
        if kind in ("decimal", "integer", "number") and name in frame:
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
        elif kind in ("date", "datetime") and name in frame:
            # ISO dates compare as text, and SAP's open end 9999-12-31 fits no pandas timestamp.
            frame[name] = frame[name].map(lambda v: str(v)[:10] if v not in (None, "") else None)
    return frame.astype(object).where(frame.notna(), None)


# --- Great Expectations --------------------------------------------------------------------------------


def _quiet_gx_loggers() -> None:
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith("great_expectations") and isinstance(logger, logging.Logger):
            if logging.NOTSET < logger.level < logging.WARNING:
                logger.setLevel(logging.WARNING)


def _context(site_dir: Path, entity: str) -> Any:
    """An ephemeral GX context with the entity's pandas data source and a filesystem Data Docs site."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    # GX logs a line per decorated function on import and per store, site and temporary folder at INFO:
    # most of a task's log otherwise. The gate logs what a run found; GX's warnings and errors still show.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    _quiet_gx_loggers()  # some GX modules set their own logger to INFO on import
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    site_dir.mkdir(parents=True, exist_ok=True)
    context.add_data_docs_site(
        site_name="synchub",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(site_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    context.data_sources.add_pandas(f"synchub_{entity}")
    return context


def _validate(context: Any, entity: str, batch: _Batch, frame: Any, expectations: list[Expectation]) -> Any:
    import great_expectations as gx

    scope = "golden" if batch.system == GOLDEN else f"source.{batch.system}"
    source = context.data_sources.get(f"synchub_{entity}")
    asset = source.add_dataframe_asset(name=f"{entity}_{batch.system}")
    definition = asset.add_batch_definition_whole_dataframe(f"{entity}_{batch.system}_live")
    # The suite is built whole and added once: adding expectations to a suite the context holds
    # serialises the whole suite on every call.
    suite = context.suites.add(
        gx.ExpectationSuite(
            name=f"{entity}.{scope}",
            expectations=[
                gx.expectations.registry.get_expectation_impl(e.type)(**e.kwargs, meta={"synchub": e.name})
                for e in expectations
            ],
        )
    )
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{entity}.{scope}", data=definition, suite=suite)
    )
    return validation.run(batch_parameters={"dataframe": frame}, result_format={"result_format": "COMPLETE"})


@dataclass
class _Outcome:
    expectation: Expectation
    checked: int
    failed: int
    success: bool
    rows: list[int]  # positions of the failing rows in the batch


def _outcomes(result: Any, expectations: list[Expectation]) -> list[_Outcome]:
    by_name = {e.name: e for e in expectations}
    outcomes = []
    for item in result.results:
        expectation = by_name[item.expectation_config.meta["synchub"]]
        found = item.result or {}
        problem = _exception(item.exception_info)
        if problem is not None:
            raise RuntimeError(f"expectation {expectation.name} could not run: {problem}")
        rows = [int(i) for i in found.get("unexpected_index_list") or [] if isinstance(i, int | float)]
        outcomes.append(
            _Outcome(
                expectation,
                int(found.get("element_count") or 0) - int(found.get("missing_count") or 0),
                int(found.get("unexpected_count") or 0),
                bool(item.success),
                rows,
            )
        )
    return outcomes


def _exception(info: Any) -> str | None:
    """The message of an expectation that raised; GX nests it per metric when a metric failed."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


# --- the gate ------------------------------------------------------------------------------------------


def _owned(reason: str | None) -> bool:
    return reason is None or reason.startswith((QUARANTINE_PREFIX, *LEGACY_PREFIXES))


def validate(
    store: Sessions,
    mapping: EntityMapping,
    run_id: int | None,
    *,
    settings: Settings | None = None,
    suites: Suites | None = None,
) -> dict[str, Any]:
    """Validate every live source record and golden record of the entity; quarantine, store, build docs.

    Raises ``QualityGateError`` after storing everything when a system's batch breaches the threshold.
    """
    clock = time.perf_counter()
    entity = mapping.entity
    settings = settings or mapping.quality
    suites = suites or load_suites(mapping)
    with store() as session:
        batches = list(_source_batches(session, mapping).values())
        if suites.golden:
            golden = _golden_batch(session, entity)
            if golden.rows:
                batches.append(golden)
    site_dir = local_reports_dir() / "data_docs" / entity
    context = _context(site_dir, entity)
    now = utcnow()
    dq_rows: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    systems: dict[str, dict[str, Any]] = {}
    failed_by_expectation: Counter[str] = Counter()
    breaches: list[QualityGateError] = []
    totals: Counter[str] = Counter()
    for batch in batches:
        is_golden = batch.system == GOLDEN
        pool = suites.golden if is_golden else suites.source
        expectations = [e for e in pool if is_golden or e.applies_to(batch.system)]
        frame = _frame(batch, mapping)
        expectations = [e for e in expectations if e.column is None or e.column in frame.columns]
        outcomes = _outcomes(_validate(context, entity, batch, frame, expectations), expectations)
        reasons: dict[int, list[str]] = defaultdict(list)
        top: Counter[str] = Counter()
        for outcome in outcomes:
            expectation = outcome.expectation
            dq_rows.append(
                {
                    "run_id": run_id,
                    "entity": entity,
                    "suite": f"{entity}.{GOLDEN if is_golden else 'source'}",
                    "system": None if is_golden else batch.system,
                    "expectation": expectation.name[:200],
                    "column": (expectation.column or "")[:100] or None,
                    "checked": outcome.checked,
                    "failed": outcome.failed,
                    "success": outcome.success,
                    "examples": {
                        "describe": expectation.describe,
                        "action": expectation.action,
                        "keys": [batch.keys[i] for i in outcome.rows[:EXAMPLES]],
                    },
                    "created_at": now,
                }
            )
            if outcome.failed:
                failed_by_expectation[f"{batch.system} {expectation.name}"] += outcome.failed
                top[f"{expectation.describe} ({expectation.type})"] += outcome.failed
            if expectation.action == "quarantine" and not is_golden:
                for row in outcome.rows:
                    reasons[row].append(expectation.reason)
        if is_golden:
            failing = {k: v for k, v in top.items()}
            if failing:
                log.warning(
                    "quality %s golden records: %s (reported, not blocking)",
                    entity,
                    "; ".join(f"{k}: {v}" for k, v in failing.items()),
                )
            systems[GOLDEN] = {"checked": len(batch.rows), "failed_expectations": failing}
            continue
        counts: Counter[str] = Counter()
        for position, current in enumerate(batch.reasons):
            wanted = reasons.get(position)
            reason = (QUARANTINE_PREFIX + "; ".join(dict.fromkeys(wanted)))[:REASON_LIMIT] if wanted else None
            if wanted:
                counts["failed"] += 1
            if not _owned(current):
                counts["quarantined"] += 1  # another check's quarantine: not the gate's to change
                continue
            if reason is not None:
                counts["quarantined"] += 1
            if reason == current:
                continue
            changes.append({"id": batch.ids[position], "quarantine_reason": reason})
            counts["released" if reason is None else "newly_quarantined"] += 1
        checked = len(batch.rows)
        share = counts["failed"] / checked if checked else 0.0
        systems[batch.system] = {
            "checked": checked,
            "failed": counts["failed"],
            "share": round(share, 4),
            "failed_expectations": dict(top.most_common()),
        }
        totals.update(counts | {"checked": checked})
        if counts["failed"] and checked >= settings.min_records and share > settings.max_failed_share:
            breaches.append(
                QualityGateError(
                    entity,
                    batch.system,
                    counts["failed"],
                    checked,
                    settings.max_failed_share,
                    top.most_common(3),
                )
            )
    with store.begin() as session:
        for start in range(0, len(changes), CHUNK):
            session.execute(update(CanonicalRecord), changes[start : start + CHUNK])
        for start in range(0, len(dq_rows), CHUNK):
            session.execute(insert(DqResult), dq_rows[start : start + CHUNK])
    index = _build_docs(context, site_dir, len(batches))
    if index is not None:
        # The whole site goes to the reports location: the index links its pages relatively.
        index = f"{publish(site_dir)}/{index.name}"
    stats = {
        "entity": entity,
        "checked": totals["checked"],
        "quarantined": totals["quarantined"],
        "newly_quarantined": totals["newly_quarantined"],
        "released": totals["released"],
        "systems": systems,
        "expectations": len(dq_rows),
        "failed_expectations": dict(failed_by_expectation.most_common(10)),
        "threshold": settings.max_failed_share,
        "data_docs": str(index) if index else None,
        "seconds": round(time.perf_counter() - clock, 3),
    }
    log.info(
        "quality %s: %d checked, %d quarantined (%d new, %d released); %d expectation outcomes stored",
        entity,
        stats["checked"],
        stats["quarantined"],
        stats["newly_quarantined"],
        stats["released"],
        len(dq_rows),
    )
    if index:
        log.info("quality %s: Data Docs %s", entity, index)
    if breaches:
        for breach in breaches:
            log.error("%s", breach)
        raise breaches[0]
    return stats


def _build_docs(context: Any, site_dir: Path, validations: int) -> Path | None:
    """Render this run's validations into the entity's Data Docs site; the index.html path."""
    if not validations:
        return None
    context.build_data_docs(site_names=["synchub"])
    index = site_dir / "index.html"
    return index.resolve() if index.exists() else None
