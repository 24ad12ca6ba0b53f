"""The matching commands: ``synchub match train``, ``show``, ``versions`` and ``evaluate``.

Registered on the main app at the end of ``mdm/cli.py``. They work on the store named by
``SYNCHUB_DATABASE_URL``. Exit codes: 0 done, 1 an evaluation below the asked-for quality, 2 bad input
(an unknown entity or version, an unreadable truth file, an unusable store setting), with the reason on
stderr.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mdm.cli_stewardship import store_sessions

if TYPE_CHECKING:
    from mdm.match import MatchConfig, MatchModel

console = Console()
err = Console(stderr=True, soft_wrap=True)

match_app = typer.Typer(
    help="Matching: the learnt match model (m/u per comparison level, the prior), learning it again, and "
    "match quality against a labelled sample.",
    no_args_is_help=True,
)

EntityOpt = Annotated[str, typer.Option(help="The entity whose matching to work on (customer, product).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/] {message}")
    return typer.Exit(2)


def _config(entity: str) -> MatchConfig:
    from mdm.config import MappingError, load_mapping, mappings_dir

    path = mappings_dir() / f"{entity}.yaml"
    if not path.exists():
        raise _fail(f"no mapping for entity {entity!r} ({path})")
    try:
        mapping = load_mapping(path)
    except MappingError as exc:
        raise _fail(str(exc)) from exc
    if mapping.match is None:
        raise _fail(f"{path}: the {entity} mapping has no match: section")
    return mapping.match


def _actor(by: str | None) -> str:
    if by and by.strip():
        return by.strip()
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (a container without a passwd entry)
        return "unknown"


def model_table(model: MatchModel, config: MatchConfig | None = None) -> Table:
    """The model's levels: m, u and the match weight log2(m/u), per comparison."""
    table = Table(
        title=f"match model v{model.version} ({model.entity}): prior {model.prior:.3g} "
        f"(weight {model.prior_weight:+.1f}), learnt on {model.records} records at {model.trained_at}",
        title_justify="left",
    )
    for column in ("comparison", "level", "m", "u", "weight", ""):
        table.add_column(column, overflow="fold")
    for name, levels in model.levels.items():
        for i, level in enumerate(levels):
            note = "pinned" if level.pinned and level.m is not None else ""
            if config is not None:
                settings = next((c for c in config.comparisons if c.name == name), None)
                if settings is not None and i < len(settings.levels):
                    if settings.levels[i].u_source == "look_alikes":
                        note = "u from look-alikes"
                    if (
                        settings.tf_adjustment
                        and settings.levels[i].kind == "exact"
                        and not settings.levels[i].transform
                    ):
                        note = (note + ", " if note else "") + "term-frequency adjusted"
            if level.m is None:
                table.add_row(name if i == 0 else "", level.label, "", "", "0", "")
                continue
            table.add_row(
                name if i == 0 else "",
                level.label,
                f"{level.m:.4g}",
                f"{level.u:.4g}",
                f"{level.weight:+.2f}",
                note,
            )
    return table


def _print_report(report: dict[str, Any]) -> None:
    if not report or report.get("pinned"):
        console.print("every value is pinned by the settings")
        return
    prior = report.get("prior") or {}
    if prior:
        console.print(
            f"prior: {prior.get('estimated', 0):.3g} from {prior.get('expected_matches')} expected matches "
            f"among "
            f"{prior.get('record_pairs')} record pairs (blocking finds "
            f"{prior.get('blocking_recall_of_known_matches', 0):.2%} of the known matches)"
        )
    u = report.get("u") or {}
    console.print(f"u: from {u.get('pairs')} {'random' if u.get('sampled') else 'all'} record pairs")
    for session in report.get("sessions", []):
        left_out = ", ".join(session.get("left_out") or []) or "none"
        share = f", {session['match_share']:.1%} matches" if "match_share" in session else ""
        console.print(f"m: {session['session']}: {session['pairs']} pairs{share} (left out: {left_out})")
    check = report.get("check") or {}
    if "known_matches_scored_auto" in check:
        console.print(
            f"check: the model links {check['known_matches_scored_auto']:.2%} of the known matches "
            "automatically; "
            f"largest m difference to them per comparison: "
            + ", ".join(f"{k} {v:.3f}" for k, v in (check.get("m_difference_to_known_matches") or {}).items())
        )


@match_app.command("train")
def match_train(
    entity: EntityOpt = "customer",
    by: Annotated[
        str | None, typer.Option("--by", help="Who asks, for the model's record (default: the OS user).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Learn the match model again from the store's live records and keep it as the next version.

    The next match run scores with it (and the review queue is rebuilt from its scores).
    """
    from mdm.match.store import train_entity

    config = _config(entity)
    with store_sessions() as sessions:
        model = train_entity(sessions, entity, config, trained_by=_actor(by))
    if json_out:
        console.print_json(json.dumps(model.to_dict(), default=str))
        return
    console.print(model_table(model, config))
    _print_report(model.report)


@match_app.command("show")
def match_show(
    entity: EntityOpt = "customer",
    version: Annotated[int | None, typer.Option(help="This version (default: the newest).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """The match model: m, u and weight of every comparison level, the prior, and how it was learnt."""
    from mdm.match.store import load_model

    config = _config(entity)
    with store_sessions() as sessions, sessions() as session:
        model = load_model(session, entity, version=version)
    if model is None:
        raise _fail(
            f"no match model {'version ' + str(version) + ' ' if version else ''}for {entity}: run "
            f"`synchub match train --entity {entity}` or a sync"
        )
    if json_out:
        console.print_json(json.dumps(model.to_dict(), default=str))
        return
    console.print(model_table(model, config))
    if not model.fits(config):
        console.print("[yellow]the settings changed since: the next match run learns a new model[/]")
    _print_report(model.report)


@match_app.command("versions")
def match_versions(entity: EntityOpt = "customer") -> None:
    """Every stored model of the entity, newest first: when, why, by whom, on how many records."""
    from mdm.match.store import list_models

    config = _config(entity)
    with store_sessions() as sessions, sessions() as session:
        rows = list_models(session, entity)
    table = Table(title=f"{len(rows)} match model(s) of {entity}", title_justify="left")
    for column in ("version", "learnt at", "records", "prior", "why", "by", "fits the settings"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            str(row["version"]),
            str(row["created_at"])[:19],
            str(row["records"]),
            f"{row['prior']:.3g}",
            row["reason"],
            row["trained_by"],
            "yes" if row["settings_digest"] == config.digest() else "no",
        )
    console.print(table)


@match_app.command("evaluate")
def match_evaluate(
    truth: Annotated[
        Path,
        typer.Option(
            help="The labelled truth: truth.json as `synchub sandbox seed` writes it, "
            "or CSV system,key,entity_id."
        ),
    ],
    entity: EntityOpt = "customer",
    show: Annotated[int, typer.Option(min=0, help="List this many false links and missed pairs each.")] = 10,
    min_precision: Annotated[float | None, typer.Option(help="Exit 1 when precision is below this.")] = None,
    min_recall: Annotated[float | None, typer.Option(help="Exit 1 when recall is below this.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Pairwise precision, recall and F1 of the store's golden records against a labelled truth.

    Lists false links and missed pairs with their evidence (the stored decision, or the pair scored now
    with the current model), and how many of the true pairs the blocking rules make candidates.
    """
    from mdm.match.evaluate import TruthError, blocking_recall, evaluate, read_truth
    from mdm.match.store import explain_pairs, load_canonical_records, load_model, xref_clusters

    config = _config(entity)
    try:
        groups = read_truth(truth, entity)
    except TruthError as exc:
        raise _fail(str(exc)) from exc
    with store_sessions() as sessions, sessions() as session:
        clusters = xref_clusters(session, entity)
        records = list(load_canonical_records(session, entity))
        model = load_model(session, entity, config)
        result = evaluate(clusters, groups)
        blocking = blocking_recall(records, config, groups)
        listed = [("false link", p) for p in result.false_links[:show]] + [
            ("missed", p) for p in result.missed[:show]
        ]
        explained = explain_pairs(session, entity, records, config, model, [p for _, p in listed])
    out = result.as_dict() | {"entity": entity, "truth": str(truth), "blocking_recall": blocking}
    out["examples"] = [
        {"kind": kind, "left": f"{a[0]}:{a[1]}", "right": f"{b[0]}:{b[1]}"} | explained.get((a, b), {})
        for kind, (a, b) in listed
    ]
    if json_out:
        console.print_json(json.dumps(out, default=str))
    else:
        console.print(
            f"{entity}: precision {result.precision:.4f}, recall {result.recall:.4f}, F1 {result.f1:.4f} "
            f"({result.correct_pairs} of {result.predicted_pairs} linked pairs right, "
            f"{result.true_pairs} true pairs, "
            f"{result.records} labelled records)"
        )
        console.print(
            f"blocking: {blocking['all_rules']:.4%} of the true pairs are candidates; per rule: "
            + ", ".join(f"{k} {v:.2%}" for k, v in blocking["rules"].items())
        )
        for example in out["examples"]:
            _print_example(example)
    if (min_precision is not None and result.precision < min_precision) or (
        min_recall is not None and result.recall < min_recall
    ):
        raise typer.Exit(1)


def _print_example(example: dict[str, Any]) -> None:
    head = f"{example['kind']}: {example['left']} / {example['right']}"
    if "status" in example:
        head += (
            f" (stored decision: {example['status']}, score {example['score']:.3f}, rule {example['rule']})"
        )
    elif "probability" in example:
        head += f" (scored now: {example['probability']:.3f})"
    console.print(head)
    for item in example.get("comparisons", []):
        if item["level"] == "null":
            continue
        weight = item.get("tf_weight", item["weight"])
        console.print(
            f"    {item['comparison']:12} {item['level']:26} {weight:+7.2f}  "
            f"{item['left']!s:30} | {item['right']!s}"
        )
    for note in (example.get("note"), *example.get("constraints", [])):
        if note:
            console.print(f"    [yellow]{note}[/]")
