"""SyncHub's entities, each declared once: what it is, how its DAG runs, how its failed writes are replayed.

An entity is ``mappings/<name>.yaml`` (its systems, canonical fields, match and survivorship), a quality
suite (``mdm/quality/suites/<name>.json``) and one module here that declares an ``Entity``:

- ``kind``: ``mastered`` (matched and merged into golden records, written back to both systems),
  ``derived`` (projected from other entities' golden records: prices onto the CRM's products) or
  ``transactional`` (carried from one system to the other: orders);
- its DAG: the schedule, the assets it waits for, and the steps after extract and quality, each a task
  with the asset it updates (``dag_wiring.entity_dag`` builds the DAG from this; the files in ``dags/``
  only name the entity);
- ``replay``: how the failed writes in the error queue are made again (``synchub errors replay``);
- ``needs``: the entities whose sync runs first (the demo runs them in that order).

The CLI (``synchub sync ENTITY``), the demo, the DQ report and error replay read the registry; what a
step did is its ``StepStats``, the same for every entity. Modules here import nothing heavy at import
time: the DAG files import them when Airflow parses them.

The built-in entities are the modules of this package that declare an ``ENTITY`` (``master_data`` holds
what the mastered ones share); ``SYNCHUB_ENTITY_MODULES`` (comma-separated module names) adds others,
whose DAGs ``dags/synchub_entities.py`` builds.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from connectors.base import Connector
    from mdm.stats import StepStats

EntityKind = Literal["mastered", "derived", "transactional"]
KINDS: tuple[EntityKind, ...] = ("mastered", "derived", "transactional")
MODULES_ENV = "SYNCHUB_ENTITY_MODULES"


@dataclass(frozen=True)
class Run:
    """What a step task gets: the run-log id of the DAG run and whether it is a full reconciliation."""

    run_id: int
    full: bool


@dataclass(frozen=True)
class Step:
    """One task of an entity's DAG after extract and quality; ``call`` runs it and returns its StepStats.

    ``updates``: the asset (``golden/customer``, ``erp/customer`` ...) the task updates when it succeeds.
    """

    task_id: str
    call: Callable[[str, Run], StepStats]
    updates: str | None = None


@dataclass(frozen=True)
class Replay:
    """The failed writes to one system of one entity to make again: operation -> record keys."""

    sessions: sessionmaker[Session]
    system: str
    keys: Mapping[str, set[str]]
    connector: Connector

    @property
    def all_keys(self) -> set[str]:
        return {key for keys in self.keys.values() for key in keys}


@dataclass(frozen=True)
class Entity:
    name: str
    kind: EntityKind
    title: str  # one line: what moves where ("Salesforce Accounts <-> SAP Business Partners")
    help: str  # ``synchub sync NAME --help``: when to run it, what it needs
    steps: tuple[Step, ...]  # after extract_crm | extract_erp -> quality, in run order
    replay: Callable[[Replay], None]
    schedule: str  # cron (UTC)
    waits_for: tuple[str, ...] = ()  # assets that also trigger a run (any of them)
    needs: tuple[str, ...] = ()  # entities whose sync runs first
    erp_always_full: bool = False  # the ERP side has no change stamp: every run reads it whole
    dag_timeout_hours: int = 4
    tags: tuple[str, ...] = ()
    outputs: tuple[str, ...] = field(default=())  # lines ``synchub sync`` prints after the run
    # Columns its quality suites check besides the record's own values, added to each system's rows
    # (``rows``: dicts with the canonical values and ``source_key``) before the suites run.
    quality_columns: Callable[[Session, Any, str, list[dict[str, Any]]], None] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"entity {self.name}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        ids = [s.task_id for s in self.steps]
        if len(set(ids)) != len(ids) or {"open_run", "close_run", "quality"} & set(ids):
            raise ValueError(f"entity {self.name}: step task ids must be unique and not a built-in task")

    @property
    def dag_id(self) -> str:
        return f"synchub_{self.name}"

    @property
    def step_ids(self) -> tuple[str, ...]:
        """The result-bearing task ids of its DAG, in run order (what close_run stores)."""
        return ("extract_crm", "extract_erp", "quality", *(s.task_id for s in self.steps))


@cache
def _registry(extra: str) -> dict[str, Entity]:
    own = [f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    named = [n.strip() for n in extra.split(",") if n.strip()]
    found: dict[str, Entity] = {}
    for module_name in own + named:
        declared = getattr(importlib.import_module(module_name), "ENTITY", None)
        if declared is None and module_name in own:
            continue  # a module of shared declarations (master_data)
        if not isinstance(declared, Entity):
            raise LookupError(f"entity module {module_name} declares no ENTITY = Entity(...)")
        if declared.name in found:
            raise LookupError(f"entity {declared.name!r} is declared twice (again in {module_name})")
        found[declared.name] = declared
    return _in_run_order(found)


def _in_run_order(found: dict[str, Entity]) -> dict[str, Entity]:
    """Entities after the ones they need (then by name): the order the demo runs them in."""
    ordered: dict[str, Entity] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in ordered:
            return
        if name in path:
            raise LookupError(f"entities need each other: {' -> '.join((*path, name))}")
        if name not in found:
            raise LookupError(f"entity {path[-1]} needs {name!r}, which is not declared")
        for need in found[name].needs:
            visit(need, (*path, name))
        ordered[name] = found[name]

    for name in sorted(found, key=lambda n: (len(found[n].needs), n)):
        visit(name, ())
    return ordered


def entities() -> dict[str, Entity]:
    """Every declared entity by name, each after the entities it needs."""
    return _registry(os.environ.get(MODULES_ENV, ""))


def entity(name: str) -> Entity:
    """The entity ``name``; LookupError naming the declared ones if there is none."""
    declared = entities()
    if name not in declared:
        raise LookupError(f"no entity {name!r}; declared: {', '.join(declared)}")
    return declared[name]


def names() -> tuple[str, ...]:
    return tuple(entities())
