"""The SyncHub summary page: one self-contained HTML file an admin opens without a network.

Three charts, drawn as inline SVG (no JavaScript, no CDN: admins often view reports offline, and the
Vega JavaScript that altair's HTML needs is not available without a network here):

- pass rate per expectation over the recent runs (``dq_result``): overall, and one cell per run;
- records per outcome per entity over the recent runs (the run log's per-step stats): matched, new,
  review, quarantined, written, failed;
- a histogram of match scores per matched entity (``match_decision``) with the review and auto-link
  thresholds of ``mappings/<entity>.yaml`` drawn.

Links the Great Expectations Data Docs found under the output folder or ``SYNCHUB_REPORTS_DIR``
(``data_docs/index.html`` or ``data_docs/<entity>/index.html``). Each chart says so when it has no
data yet.
"""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mdm.artefacts import local_reports_dir
from mdm.entities import names as entity_names
from mdm.report.page import PAGE
from mdm.stats import Outcome, run_steps
from mdm.store.models import DqResult, MatchDecision, Run, utcnow

REPORT_FILE = "synchub_summary.html"
OUTCOMES = ("matched", "new", "review", "quarantined", "written", "failed")
OUTCOME_COLOURS = {
    "matched": "#2b8a3e",
    "new": "#1971c2",
    "review": "#e67700",
    "quarantined": "#9c36b5",
    "written": "#0b7285",
    "failed": "#c92a2a",
}
SCORE_BINS = 20
# Match decision statuses by how the pair ended, for the histogram's stacks.
SCORE_GROUPS = {
    "auto_linked": "linked",
    "approved": "linked",
    "review": "review",
    "rejected": "kept apart",
    "new": "kept apart",
}
SCORE_COLOURS = {"linked": "#2b8a3e", "review": "#e67700", "kept apart": "#868e96"}


def default_reports_dir() -> Path:
    """The local folder reports are written into (``mdm.artefacts``: ``SYNCHUB_REPORTS_DIR`` when it is
    a folder, else a local staging folder of its object storage URL)."""
    return local_reports_dir()


# --- the data -----------------------------------------------------------------------------------------


@dataclass
class ExpectationRate:
    """One expectation's outcomes over the recent runs."""

    entity: str
    suite: str
    system: str | None
    expectation: str
    checked: int = 0
    failed: int = 0
    per_run: list[tuple[int | None, float | None]] = field(default_factory=list)  # (run id, pass rate)

    @property
    def pass_rate(self) -> float:
        return 1.0 if not self.checked else (self.checked - self.failed) / self.checked


@dataclass
class RunOutcome:
    """One run's records per outcome (a DAG run, or a step run on its own)."""

    run_id: int
    job: str
    entity: str
    started_at: str
    status: str
    counts: dict[str, int]
    error: str | None


@dataclass
class ScoreHistogram:
    """Match scores of one entity in SCORE_BINS bins over [0, 1], stacked by how the pair ended."""

    entity: str
    low: float | None  # at or above: review
    high: float | None  # at or above: linked automatically
    bins: list[dict[str, int]]
    total: int


@dataclass
class SummaryData:
    generated_at: str
    runs: int
    dq_runs: list[int | None]
    expectations: list[ExpectationRate]
    outcomes: list[RunOutcome]
    totals: dict[str, dict[str, int]]  # entity -> outcome -> records over the recent runs
    histograms: list[ScoreHistogram]
    data_docs: list[tuple[str, str]]  # (label, href)


def collect(sessions: sessionmaker[Session], runs: int = 20) -> SummaryData:
    """Everything the page shows, read from the store."""
    with sessions() as session:
        dq_runs, expectations = _expectations(session, runs)
        outcomes = _outcomes(session, runs)
        histograms = _histograms(session)
    totals: dict[str, dict[str, int]] = {}
    for outcome in outcomes:
        entity_totals = totals.setdefault(outcome.entity, dict.fromkeys(OUTCOMES, 0))
        for name in OUTCOMES:
            entity_totals[name] += outcome.counts.get(name, 0)
    totals = dict(sorted(totals.items(), key=lambda item: _entity_order(item[0])))
    return SummaryData(
        generated_at=utcnow().strftime("%Y-%m-%d %H:%M UTC"),
        runs=runs,
        dq_runs=dq_runs,
        expectations=expectations,
        outcomes=outcomes,
        totals=totals,
        histograms=histograms,
        data_docs=[],
    )


def _expectations(session: Session, runs: int) -> tuple[list[int | None], list[ExpectationRate]]:
    """Per expectation, its outcomes in the latest ``runs`` runs that validated anything."""
    latest = list(
        session.execute(
            select(DqResult.run_id, func.max(DqResult.created_at).label("at"))
            .group_by(DqResult.run_id)
            .order_by(func.max(DqResult.created_at).desc())
            .limit(runs)
        )
    )
    run_ids = [run_id for run_id, _ in reversed(latest)]  # oldest first, as the cells are drawn
    if not run_ids:
        return [], []
    query = select(
        DqResult.run_id,
        DqResult.entity,
        DqResult.suite,
        DqResult.system,
        DqResult.expectation,
        DqResult.checked,
        DqResult.failed,
    )
    known = [r for r in run_ids if r is not None]
    if None in run_ids:
        query = query.where(DqResult.run_id.in_(known) | DqResult.run_id.is_(None))
    else:
        query = query.where(DqResult.run_id.in_(known))
    rates: dict[tuple[str, str, str | None, str], ExpectationRate] = {}
    per_run: dict[tuple[str, str, str | None, str], Counter] = defaultdict(Counter)
    for run_id, entity, suite, system, expectation, checked, failed in session.execute(query):
        key = (entity, suite, system, expectation)
        rate = rates.setdefault(key, ExpectationRate(entity, suite, system, expectation))
        rate.checked += checked or 0
        rate.failed += failed or 0
        per_run[key][(run_id, "checked")] += checked or 0
        per_run[key][(run_id, "failed")] += failed or 0
    for key, rate in rates.items():
        counts = per_run[key]
        for run_id in run_ids:
            checked = counts[(run_id, "checked")]
            if (run_id, "checked") not in counts:
                rate.per_run.append((run_id, None))  # not validated in that run
            else:
                rate.per_run.append(
                    (run_id, 1.0 if not checked else 1 - counts[(run_id, "failed")] / checked)
                )
    ordered = sorted(
        rates.values(), key=lambda r: (r.entity, r.suite, r.system or "", r.pass_rate, r.expectation)
    )
    return run_ids, ordered


def step_outcomes(stats: Mapping[str, Any] | None) -> dict[str, int]:
    """Records per outcome of one run (``run.stats``): the sum of its steps' ``StepStats`` outcomes,
    whatever the steps' task ids (``mdm.stats``)."""
    total = Outcome.total(step.outcome for step in run_steps(stats))
    return {name: getattr(total, name) for name in OUTCOMES}


def _outcomes(session: Session, runs: int) -> list[RunOutcome]:
    """The latest ``runs`` runs of each entity with their records per outcome, newest first."""
    entities = [e for (e,) in session.execute(select(Run.entity).where(Run.entity.is_not(None)).distinct())]
    found: list[RunOutcome] = []
    for entity in sorted(entities):
        query = (
            select(Run)
            .where(Run.entity == entity, Run.status != "running")
            .order_by(Run.started_at.desc(), Run.id.desc())
            .limit(runs)
        )
        for run in session.scalars(query):
            stats = run.stats or {}
            errors = stats.get("errors") if isinstance(stats.get("errors"), Mapping) else {}
            error = run.error or ("; ".join(f"{k}: {v}" for k, v in errors.items()) if errors else None)
            found.append(
                RunOutcome(
                    run_id=run.id,
                    job=run.job,
                    entity=entity,
                    started_at=_stamp(run.started_at),
                    status=run.status,
                    counts=step_outcomes(stats),
                    error=error,
                )
            )
    found.sort(key=lambda r: (r.started_at, r.run_id), reverse=True)
    return found


def _entity_order(entity: str) -> tuple[int, str]:
    """Declared entities in their run order, then any other the store holds, by name."""
    declared = entity_names()
    return (declared.index(entity) if entity in declared else len(declared), entity)


def _histograms(session: Session) -> list[ScoreHistogram]:
    """A score histogram per entity with match decisions (thresholds from its mapping, when it has them)."""
    entities = [e for (e,) in session.execute(select(MatchDecision.entity).distinct())]
    for entity in _matched_entities():
        if entity not in entities:
            entities.append(entity)
    out = []
    for entity in sorted(entities, key=_entity_order):
        low, high = _thresholds(entity)
        bins: list[dict[str, int]] = [Counter() for _ in range(SCORE_BINS)]  # type: ignore[misc]
        total = 0
        query = (
            select(MatchDecision.score, MatchDecision.status)
            .where(MatchDecision.entity == entity)
            .execution_options(yield_per=5000)
        )
        for score, status in session.execute(query):
            index = min(SCORE_BINS - 1, max(0, int(float(score or 0) * SCORE_BINS)))
            bins[index][SCORE_GROUPS.get(status, "kept apart")] += 1
            total += 1
        out.append(ScoreHistogram(entity, low, high, [dict(b) for b in bins], total))
    return out


def _matched_entities() -> list[str]:
    """Entities whose mapping has a match section (they get a histogram, if only an empty one)."""
    from mdm.config import mappings_dir

    names = []
    for entity in entity_names():
        if (mappings_dir() / f"{entity}.yaml").exists() and _thresholds(entity) != (None, None):
            names.append(entity)
    return names


def _thresholds(entity: str) -> tuple[float | None, float | None]:
    """(review, auto-link) thresholds of ``mappings/<entity>.yaml``; (None, None) without a match section."""
    from mdm.config import MappingError, load_mapping, mappings_dir

    path = mappings_dir() / f"{entity}.yaml"
    if not path.exists():
        return None, None
    try:
        config = load_mapping(path).match
    except MappingError:
        return None, None
    if config is None:
        return None, None
    return float(config.low), float(config.high)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _stamp(stamp: dt.datetime | None) -> str:
    if stamp is None:
        return ""
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


# --- the charts (inline SVG) --------------------------------------------------------------------------


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _rate_colour(rate: float | None) -> str:
    if rate is None:
        return "#e9ecef"
    if rate >= 0.999:
        return "#2b8a3e"
    if rate >= 0.95:
        return "#74b816"
    if rate >= 0.8:
        return "#f59f00"
    return "#c92a2a"


def pass_rate_chart(rates: Sequence[ExpectationRate], run_ids: Sequence[int | None]) -> Markup:
    """Horizontal bars (pass rate over the recent runs) and one cell per run, per expectation."""
    label_w, bar_w, cell, gap, row_h = 430, 220, 12, 2, 20
    cells_w = len(run_ids) * (cell + gap)
    width = label_w + bar_w + 70 + max(cells_w, 170) + 10
    height = 30 + row_h * len(rates)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'role="img" aria-label="pass rate per expectation">',
        f'<text x="{label_w}" y="14" class="axis">pass rate over {len(run_ids)} run(s)</text>',
        f'<text x="{label_w + bar_w + 70}" y="14" class="axis">per run (oldest to newest)</text>',
    ]
    for i, rate in enumerate(rates):
        y = 24 + i * row_h
        who = f"{rate.entity} / {rate.suite}" + (f" / {rate.system}" if rate.system else "")
        label = f"{who}: {rate.expectation}"
        # A short label (entity, system or golden, expectation); the tooltip and the table name it in full.
        brief = f"{rate.entity}/{rate.system or 'golden'}: {rate.expectation}"
        short = brief if len(brief) <= 62 else brief[:59] + "..."
        parts.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end"><title>{_esc(label)}</title>')
        parts.append(f"{_esc(short)}</text>")
        length = max(1.0, rate.pass_rate * bar_w)
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{bar_w}" height="{row_h - 6}" fill="#f1f3f5"/>')
        parts.append(
            f'<rect x="{label_w}" y="{y + 2}" width="{length:.1f}" height="{row_h - 6}" '
            f'fill="{_rate_colour(rate.pass_rate)}"><title>{rate.checked - rate.failed} of {rate.checked} '
            f"records passed</title></rect>"
        )
        parts.append(f'<text x="{label_w + bar_w + 6}" y="{y + 12}">{rate.pass_rate * 100:.1f}%</text>')
        for j, (run_id, value) in enumerate(rate.per_run):
            x = label_w + bar_w + 70 + j * (cell + gap)
            tip = f"run {run_id}: " + ("not validated" if value is None else f"{value * 100:.1f}%")
            parts.append(
                f'<rect x="{x}" y="{y + 3}" width="{cell}" height="{cell}" fill="{_rate_colour(value)}">'
                f"<title>{_esc(tip)}</title></rect>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def outcome_chart(entity: str, counts: Mapping[str, int]) -> Markup:
    """Vertical bars: records per outcome of one entity."""
    bar, gap, plot_h, top = 56, 18, 150, 20
    width = len(OUTCOMES) * (bar + gap) + gap
    height = top + plot_h + 34
    peak = max([1, *counts.values()])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'role="img" aria-label="records per outcome, {_esc(entity)}">'
    ]
    base = top + plot_h
    parts.append(f'<line x1="0" y1="{base}" x2="{width}" y2="{base}" stroke="#adb5bd"/>')
    for i, name in enumerate(OUTCOMES):
        value = counts.get(name, 0)
        h = plot_h * value / peak
        x = gap + i * (bar + gap)
        parts.append(
            f'<rect x="{x}" y="{base - h:.1f}" width="{bar}" height="{h:.1f}" fill="{OUTCOME_COLOURS[name]}">'
            f"<title>{_esc(name)}: {value}</title></rect>"
        )
        parts.append(f'<text x="{x + bar / 2}" y="{base - h - 4:.1f}" text-anchor="middle">{value}</text>')
        parts.append(f'<text x="{x + bar / 2}" y="{base + 16}" text-anchor="middle">{name}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def score_histogram(hist: ScoreHistogram) -> Markup:
    """Stacked bars of match scores in [0, 1], with the review and auto-link thresholds as lines."""
    left, plot_w, plot_h, top = 48, 600, 180, 28
    width, height = left + plot_w + 20, top + plot_h + 46
    peak = max([1, *(sum(b.values()) for b in hist.bins)])
    bin_w = plot_w / SCORE_BINS
    base = top + plot_h
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'role="img" aria-label="match scores, {_esc(hist.entity)}">',
        f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#adb5bd"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="#adb5bd"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{peak}</text>',
        f'<text x="{left - 6}" y="{base}" text-anchor="end">0</text>',
    ]
    for tick in range(0, 11, 2):
        x = left + plot_w * tick / 10
        parts.append(f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle">{tick / 10:.1f}</text>')
    parts.append(
        f'<text x="{left + plot_w / 2}" y="{base + 34}" text-anchor="middle" class="axis">score</text>'
    )
    for i, counts in enumerate(hist.bins):
        y = float(base)
        for group in ("linked", "review", "kept apart"):
            value = counts.get(group, 0)
            if not value:
                continue
            h = plot_h * value / peak
            y -= h
            lo, hi = i / SCORE_BINS, (i + 1) / SCORE_BINS
            parts.append(
                f'<rect x="{left + i * bin_w + 1:.1f}" y="{y:.1f}" width="{bin_w - 2:.1f}" height="{h:.1f}" '
                f'fill="{SCORE_COLOURS[group]}"><title>{lo:.2f}-{hi:.2f}: {value} {group}</title></rect>'
            )
    for value, name, colour in ((hist.low, "review", "#d9480f"), (hist.high, "auto-link", "#1864ab")):
        if value is None:
            continue
        x = left + plot_w * min(max(value, 0.0), 1.0)
        anchor = "end" if value > 0.8 else "start"
        dx = -4 if anchor == "end" else 4
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{base}" stroke="{colour}" '
            f'stroke-width="2" stroke-dasharray="5,3" class="threshold" data-threshold="{value}"/>'
        )
        parts.append(
            f'<text x="{x + dx:.1f}" y="{top - 12}" '
            f'text-anchor="{anchor}" fill="{colour}">{name} &#8805; {value:.2f}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


# --- the page -----------------------------------------------------------------------------------------


def render(data: SummaryData) -> str:
    """The page's HTML."""
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    template = env.from_string(PAGE)
    return template.render(
        data=data,
        pass_rates=pass_rate_chart(data.expectations, data.dq_runs) if data.expectations else "",
        outcome_charts=[(entity, outcome_chart(entity, counts)) for entity, counts in data.totals.items()],
        outcomes=OUTCOMES,
        outcome_colours=OUTCOME_COLOURS,
        histograms=[(hist, score_histogram(hist)) for hist in data.histograms],
        score_colours=SCORE_COLOURS,
    )


def _data_docs(out_dir: Path, roots: Iterable[Path]) -> list[tuple[str, str]]:
    """Data Docs indexes under ``data_docs/`` of the output folder or the reports folder: (label, href)."""
    found: dict[Path, tuple[str, str]] = {}
    for root in roots:
        docs = root / "data_docs"
        if not docs.is_dir():
            continue
        candidates = [docs / "index.html", *sorted(docs.glob("*/index.html"))]
        for index in candidates:
            if not index.is_file():
                continue
            resolved = index.resolve()
            label = "all" if index.parent == docs else index.parent.name
            try:
                href = resolved.relative_to(out_dir.resolve()).as_posix()
            except ValueError:
                href = resolved.as_uri()
            found.setdefault(resolved, (label, href))
    return list(found.values())


def write_report(sessions: sessionmaker[Session], out_dir: Path, runs: int = 20) -> Path:
    """Write the summary page into ``out_dir`` (created if missing) and return its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = collect(sessions, runs)
    data.data_docs = _data_docs(out_dir, [out_dir, default_reports_dir()])
    path = out_dir / REPORT_FILE
    path.write_text(render(data), encoding="utf-8")
    return path
