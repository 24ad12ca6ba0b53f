"""Field-level survivorship rules (see the package docstring)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mdm.config.survivorship import VALIDATORS, Rule, SurvivorshipConfig, SurvivorshipError


@dataclass(frozen=True)
class Candidate:
    """One source record's canonical values, competing to provide the golden values."""

    system: str
    source_key: str
    values: dict[str, Any]
    stamp: dt.datetime | None = None


@dataclass(frozen=True)
class FieldProvenance:
    system: str
    source_key: str
    rule: str  # the rule that decided, e.g. "source_priority[sap]", "most_recent", "only candidate"
    value: Any

    def as_dict(self) -> dict[str, Any]:
        return {"system": self.system, "source_key": self.source_key, "rule": self.rule, "value": self.value}


@dataclass
class MergeResult:
    values: dict[str, Any]
    provenance: dict[str, FieldProvenance]


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _apply(rule: Rule, fields: tuple[str, ...], candidates: list[Candidate]) -> list[Candidate]:
    """Narrow the candidates by one rule; a rule that would leave none leaves them as they were."""
    if rule.name == "not_null":
        kept = [c for c in candidates if any(not _empty(c.values.get(f)) for f in fields)]
    elif rule.name == "valid":
        check = VALIDATORS[rule.argument]
        kept = [
            c
            for c in candidates
            if all(_empty(c.values.get(f)) or check(c.values.get(f)) for f in fields)
            and any(not _empty(c.values.get(f)) for f in fields)
        ]
    elif rule.name == "source_priority":
        kept = []
        for system in rule.argument:
            kept = [
                c
                for c in candidates
                if c.system == system and any(not _empty(c.values.get(f)) for f in fields)
            ]
            if kept:
                break
    elif rule.name == "most_recent":
        stamped = [c for c in candidates if c.stamp is not None]
        newest = max((c.stamp for c in stamped), default=None)
        kept = [c for c in stamped if c.stamp == newest]
    elif rule.name == "most_complete":
        best = max(sum(not _empty(c.values.get(f)) for f in fields) for c in candidates)
        kept = [c for c in candidates if sum(not _empty(c.values.get(f)) for f in fields) == best]
    else:  # pragma: no cover - names are checked when the config is read
        raise SurvivorshipError(f"unknown rule {rule.name}")
    return kept or candidates


def merge(candidates: Sequence[Candidate], config: SurvivorshipConfig) -> MergeResult:
    """Golden values and their provenance from the candidates of one cluster."""
    if not candidates:
        raise ValueError("merge needs at least one candidate")
    rank = {s: i for i, s in enumerate(config.system_order)}
    ordered = sorted(candidates, key=lambda c: (rank.get(c.system, len(rank)), c.system, c.source_key))
    values: dict[str, Any] = {}
    provenance: dict[str, FieldProvenance] = {}
    for group in config.groups:
        remaining = list(ordered)
        deciding = "only candidate"
        for rule in group.rules:
            if len(remaining) == 1:
                break
            narrowed = _apply(rule, group.fields, remaining)
            if len(narrowed) < len(remaining):
                deciding = rule.label(narrowed[0].system)
            remaining = narrowed
        if len(remaining) > 1 and deciding == "only candidate":
            deciding = "tie: system order, then key"
        winner = remaining[0]
        for name in group.fields:
            value = winner.values.get(name)
            values[name] = None if _empty(value) else value
            provenance[name] = FieldProvenance(winner.system, winner.source_key, deciding, values[name])
    return MergeResult(values, provenance)
