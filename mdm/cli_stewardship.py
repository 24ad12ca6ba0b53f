"""The stewardship commands: ``synchub review``, ``synchub errors`` and ``synchub report``.

Registered on the main app at the end of ``mdm/cli.py``. Actions record who took them: ``--by NAME``,
default the OS user. Exit codes: 0 done, 1 an action failed (e.g. a replay still failing), 2 bad input
(an unknown id, a pair no longer in review, an unusable store setting), with the reason on stderr.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from mdm.store.db import StoreConfigError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

console = Console()
err = Console(stderr=True, soft_wrap=True)

review_app = typer.Typer(
    help="The review queue: candidate matches SyncHub was not sure of. Approve links the pair, reject keeps "
    "it apart while neither record changes, new keeps both as their own golden records; decisions apply "
    "on the next match run.",
    no_args_is_help=True,
)
errors_app = typer.Typer(
    help="The error queue (dead letters): writes a system rejected, for every entity. List them, show the "
    "remote error, replay after a fix, or discard with a reason.",
    no_args_is_help=True,
)

EntityFilter = Annotated[str | None, typer.Option(help="Only this entity (customer, product, price, order).")]
LimitOpt = Annotated[int, typer.Option(min=1, help="At most this many.")]
ById = Annotated[
    str | None, typer.Option("--by", help="Who takes the action, for the audit log (default: the OS user).")
]
ReviewStatus = Literal["review", "auto_linked", "approved", "rejected", "new"]
ErrorStatus = Literal["open", "resolved", "discarded", "all"]
DecisionId = Annotated[int, typer.Argument(help="The id of the pair (the first column of `review list`).")]
LetterId = Annotated[
    int, typer.Argument(help="The id of the dead letter (the first column of `errors list`).")
]


@contextmanager
def store_sessions() -> Iterator[sessionmaker[Session]]:
    """The store's session factory (SYNCHUB_DATABASE_URL); exit 2, naming the setting, when unusable."""
    from mdm.store.db import make_engine, session_factory

    try:
        engine = make_engine()
    except StoreConfigError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()


def _actor(by: str | None) -> str:
    if by and by.strip():
        return by.strip()
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (e.g. a container without a passwd entry)
        return "unknown"


def _bad_input(exc: Exception) -> typer.Exit:
    err.print(f"[red]error:[/] {exc.args[0] if exc.args else exc}")
    return typer.Exit(2)


def _print_list(title: str, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A list command's table: one row per item, long cells folded."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _read_one(get: Callable[[Session, int], Any], item_id: int) -> Any:
    """One item by id from the store; an unknown id exits 2 naming it."""
    with store_sessions() as sessions, sessions() as session:
        try:
            return get(session, item_id)
        except LookupError as exc:
            raise _bad_input(exc) from exc


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


# --- the review queue ---------------------------------------------------------------------------------


@review_app.command("list")
def review_list(
    entity: EntityFilter = None,
    status: Annotated[ReviewStatus, typer.Option(help="Pairs with this status.")] = "review",
    limit: LimitOpt = 50,
) -> None:
    """The candidate pairs waiting for a steward (or with another status), highest score first."""
    from mdm.stewardship.review import list_reviews

    with store_sessions() as sessions, sessions() as session:
        items = list_reviews(session, entity=entity, status=status, limit=limit)
    _print_list(
        f"{len(items)} pair(s) with status {status}",
        ("id", "entity", "score", "rule", "left", "right", "golden ids", "decided by"),
        (
            (
                str(item.id),
                item.entity,
                f"{item.score:.3f}",
                item.rule,
                f"{item.left_system}:{item.left_key}",
                f"{item.right_system}:{item.right_key}",
                " / ".join(g or "-" for g in (item.left_golden_id, item.right_golden_id)),
                item.decided_by or "",
            )
            for item in items
        ),
    )


@review_app.command("show")
def review_show(decision_id: DecisionId) -> None:
    """Both records of a pair side by side (differing fields marked *), the score, rule and evidence."""
    from mdm.stewardship.review import get_review

    detail = _read_one(get_review, decision_id)
    item = detail.item
    console.print(
        f"pair {item.id} ({item.entity}): status {item.status}, score {item.score:.3f}, rule {item.rule}"
        + (f", decided by {item.decided_by}" if item.decided_by else "")
    )
    left = f"{item.left_system}:{item.left_key} (golden {item.left_golden_id or '-'})"
    right = f"{item.right_system}:{item.right_key} (golden {item.right_golden_id or '-'})"
    table = Table(title_justify="left")
    table.add_column("field")
    table.add_column(left, overflow="fold")
    table.add_column(right, overflow="fold")
    for name in detail.fields:
        mark = " *" if name in detail.differing else ""
        table.add_row(
            name + mark,
            _text((detail.left_values or {}).get(name)),
            _text((detail.right_values or {}).get(name)),
        )
    console.print(table)
    if detail.left_values is None or detail.right_values is None:
        console.print("[yellow]one of the records is no longer staged[/]")
    _print_evidence(detail.evidence, detail.model)


def _print_evidence(evidence: dict[str, Any], model: dict[str, Any] | None) -> None:
    """The evidence per comparison (level, both values, m, u, weight), then the sum and any notes."""
    rows = evidence.get("comparisons")
    if isinstance(rows, list) and rows and isinstance(rows[0], dict):
        scored = f"match model v{evidence.get('model_version')}"
        if model:
            scored += (
                f" (learnt {model['trained_at']} on {model['records']} records, prior {model['prior']:.3g})"
            )
        table = Table(title=f"evidence, scored by {scored}", title_justify="left")
        for column in ("comparison", "level", "left", "right", "m", "u", "weight"):
            table.add_column(column, overflow="fold")
        for row in rows:
            weight = row.get("tf_weight", row.get("weight"))
            table.add_row(
                str(row.get("comparison")),
                str(row.get("level"))
                + (" (rarity)" if row.get("term_frequency") or "tf_weight" in row else ""),
                _text(row.get("left")),
                _text(row.get("right")),
                f"{row['m']:.3g}" if row.get("m") is not None else "",
                f"{row['u']:.3g}" if row.get("u") is not None else "",
                f"{weight:+.2f}" if isinstance(weight, int | float) else _text(weight),
            )
        console.print(table)
        if evidence.get("missing"):
            console.print("not compared (a value is missing): " + ", ".join(evidence["missing"]))
        console.print(
            f"prior weight {evidence.get('prior_weight')} + comparisons {evidence.get('total_weight')} -> "
            f"probability {evidence.get('probability')}"
        )
        rest = {k: v for k, v in evidence.items() if k not in _SHOWN}
    else:
        rest = evidence
    for key, value in rest.items():
        console.print(f"{key}: {_text(value)}")


_SHOWN = frozenset({"comparisons", "missing", "prior_weight", "total_weight", "probability", "model_version"})


def _decide(decision_id: int, action: Literal["approve", "reject", "new"], by: str | None) -> None:
    from mdm.stewardship.review import decide

    actor = _actor(by)
    with store_sessions() as sessions:
        try:
            with sessions.begin() as session:
                item = decide(session, decision_id, action, actor)
        except (LookupError, ValueError) as exc:
            raise _bad_input(exc) from exc
    console.print(
        f"pair {item.id} ({item.left_system}:{item.left_key} / {item.right_system}:{item.right_key}): "
        f"{item.status} by {actor}; applies on the next match run of {item.entity}"
    )


@review_app.command("approve")
def review_approve(decision_id: DecisionId, by: ById = None) -> None:
    """Link the pair: the next match run puts both records into one golden record."""
    _decide(decision_id, "approve", by)


@review_app.command("reject")
def review_reject(decision_id: DecisionId, by: ById = None) -> None:
    """Keep the pair apart; it comes back to review only when one of the records changes."""
    _decide(decision_id, "reject", by)


@review_app.command("new")
def review_new(decision_id: DecisionId, by: ById = None) -> None:
    """Merge as new: keep both records as golden records of their own (not the same thing)."""
    _decide(decision_id, "new", by)


# --- the error queue ----------------------------------------------------------------------------------


@errors_app.command("list")
def errors_list(
    entity: EntityFilter = None,
    status: Annotated[ErrorStatus, typer.Option(help="Letters with this status (all: any).")] = "open",
    limit: LimitOpt = 50,
) -> None:
    """The failed writes, most recently failed first: where, which record, the remote error."""
    from mdm.stewardship.errors import list_errors

    with store_sessions() as sessions, sessions() as session:
        items = list_errors(session, entity=entity, status=None if status == "all" else status, limit=limit)
    _print_list(
        f"{len(items)} dead letter(s) ({status})",
        ("id", "entity", "system", "operation", "record", "code", "message", "tries", "status"),
        (
            (
                str(item.id),
                item.entity,
                item.system,
                item.operation,
                item.record_key,
                item.code or "",
                (item.message or "")[:200],
                str(item.attempts),
                item.status + (f" ({item.resolved_by})" if item.resolved_by else ""),
            )
            for item in items
        ),
    )


@errors_app.command("show")
def errors_show(letter_id: LetterId) -> None:
    """One failed write: the remote code and message, what was sent, attempts, dates and status."""
    from mdm.stewardship.errors import get_error

    item = _read_one(get_error, letter_id)
    table = Table(show_header=False, title=f"dead letter {item.id}", title_justify="left")
    table.add_column("what")
    table.add_column("value", overflow="fold")
    for name, value in item.as_dict().items():
        if name != "id":
            table.add_row(name, _text(value))
    console.print(table)


@errors_app.command("replay")
def errors_replay(
    letter_ids: Annotated[
        list[int] | None, typer.Argument(help="The dead letters to replay (ids from `errors list`).")
    ] = None,
    all_open: Annotated[bool, typer.Option("--all", help="Replay every open dead letter.")] = False,
    by: ById = None,
) -> None:
    """Run failed writes again now, through the connections in the environment; exit 1 if any still fails."""
    from mdm.stewardship.errors import replay

    if bool(letter_ids) == all_open:
        err.print("[red]error:[/] name the dead letters to replay, or --all (not both)")
        raise typer.Exit(2)
    actor = _actor(by)
    with store_sessions() as sessions:
        try:
            results = replay(sessions, None if all_open else letter_ids, actor)
        except (LookupError, ValueError) as exc:
            raise _bad_input(exc) from exc
    if not results:
        console.print("no open dead letters")
        return
    for result in results:
        where = f"{result.entity} {result.operation} {result.system} {result.record_key}"
        if result.status == "resolved":
            console.print(f"[green]resolved[/] {result.letter_id}: {where}")
        else:
            console.print(
                f"[red]still failing[/] {result.letter_id}: {where}: "
                f"{result.code or ''} {result.message or ''}"
            )
    failing = sum(r.status != "resolved" for r in results)
    console.print(f"{len(results) - failing} resolved, {failing} still failing (by {actor})")
    if failing:
        raise typer.Exit(1)


@errors_app.command("discard")
def errors_discard(
    letter_id: LetterId,
    reason: Annotated[str, typer.Option(help="Why it is given up (kept with the letter, and audited).")],
    by: ById = None,
) -> None:
    """Give up on an open failed write, with a reason; it stays discarded while the same write fails alike."""
    from mdm.stewardship.errors import discard

    actor = _actor(by)
    with store_sessions() as sessions:
        try:
            with sessions.begin() as session:
                item = discard(session, letter_id, reason, actor)
        except (LookupError, ValueError) as exc:
            raise _bad_input(exc) from exc
    console.print(f"dead letter {item.id} discarded by {actor}: {item.note}")


# --- the DQ summary report ----------------------------------------------------------------------------


def report(
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder to write into (default: SYNCHUB_REPORTS_DIR, a folder or an object storage URL;"
            " else var/reports).",
        ),
    ] = None,
    runs: Annotated[int, typer.Option(min=1, help="How many recent runs the charts cover.")] = 20,
) -> None:
    """Write the SyncHub summary page (DQ pass rates, outcomes, match scores); print its path."""
    from mdm.artefacts import publish
    from mdm.report import default_reports_dir, write_report

    with store_sessions() as sessions:
        path = write_report(sessions, out or default_reports_dir(), runs=runs)
    console.print(str(path) if out else publish(path), soft_wrap=True)
