"""Field-level survivorship rules (see the package docstring)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Validator = Callable[[Any], bool]

VALIDATORS: dict[str, Validator] = {
    "vat": lambda v: isinstance(v, str) and re.fullmatch(r"[A-Z]{2}[0-9A-Z]{2,13}", v) is not None,
    "email": lambda v: isinstance(v, str) and re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", v) is not None,
    "e164": lambda v: isinstance(v, str) and re.fullmatch(r"\+[1-9][0-9]{6,14}", v) is not None,
    "iso_country": lambda v: isinstance(v, str) and re.fullmatch(r"[A-Z]{2}", v) is not None,
    "duns": lambda v: isinstance(v, str) and re.fullmatch(r"[0-9]{9}", v) is not None,
}

RULE_NAMES = ("source_priority", "most_recent", "most_complete", "not_null", "valid")


class SurvivorshipError(ValueError):
    """The survivorship configuration is unusable; the message names the field and the rule."""


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


@dataclass(frozen=True)
class Rule:
    name: str
    argument: Any = None

    def label(self, winner: Candidate | None = None) -> str:
        if self.name == "source_priority" and winner is not None:
            return f"source_priority[{winner.system}]"
        if self.name == "valid":
            return f"valid[{self.argument}]"
        return self.name


@dataclass(frozen=True)
class FieldRules:
    fields: tuple[str, ...]  # one field, or a group that wins together
    rules: tuple[Rule, ...]


@dataclass
class SurvivorshipConfig:
    groups: list[FieldRules]
    default: tuple[Rule, ...] = (Rule("not_null"), Rule("most_recent"))
    system_order: tuple[str, ...] = field(default=())

    @classmethod
    def from_dict(cls, section: dict[str, Any], canonical_fields: Sequence[str] = ()) -> SurvivorshipConfig:
        """Read the ``survivorship:`` section: ``default`` rules and per-field/group ``rules``.

        Example::

            default: [not_null, most_recent]
            rules:
              - fields: [name, legal_form]
                rules: [{source_priority: [sap, salesforce]}, not_null]
              - fields: [street, house_number, postal_code, city, region, country]
                rules: [most_complete, most_recent]
        """
        default = tuple(_rule(r, "default") for r in section.get("default", ["not_null", "most_recent"]))
        groups: list[FieldRules] = []
        seen: set[str] = set()
        for i, entry in enumerate(section.get("rules", [])):
            fields = tuple(entry["fields"]) if isinstance(entry.get("fields"), list) else (entry["fields"],)
            for name in fields:
                if canonical_fields and name not in canonical_fields:
                    raise SurvivorshipError(f"survivorship.rules[{i}]: {name!r} is not a canonical field")
                if name in seen:
                    raise SurvivorshipError(f"survivorship.rules[{i}]: {name!r} has rules twice")
                seen.add(name)
            rules = tuple(_rule(r, f"rules[{i}]") for r in entry["rules"])
            groups.append(FieldRules(fields, rules))
        for name in canonical_fields:
            if name not in seen:
                groups.append(FieldRules((name,), default))
        order: list[str] = []
        for group in groups:
            for rule in group.rules:
                if rule.name == "source_priority":
                    order += [s for s in rule.argument if s not in order]
        return cls(groups=groups, default=default, system_order=tuple(order))


def _rule(spec: Any, where: str) -> Rule:
    if isinstance(spec, str):
        name, argument = spec, None
    elif isinstance(spec, dict) and len(spec) == 1:
        name, argument = next(iter(spec.items()))
    else:
        raise SurvivorshipError(f"survivorship.{where}: a rule is a name or a one-key mapping, got {spec!r}")
    if name not in RULE_NAMES:
        raise SurvivorshipError(
            f"survivorship.{where}: unknown rule {name!r}; known: {', '.join(RULE_NAMES)}"
        )
    if name == "source_priority" and not (isinstance(argument, list) and argument):
        raise SurvivorshipError(f"survivorship.{where}: source_priority needs a list of systems")
    if name == "valid" and argument not in VALIDATORS:
        raise SurvivorshipError(
            f"survivorship.{where}: unknown validator {argument!r}; known: {', '.join(sorted(VALIDATORS))}"
        )
    return Rule(name, argument)


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
                deciding = rule.label(narrowed[0])
            remaining = narrowed
        if len(remaining) > 1 and deciding == "only candidate":
            deciding = "tie: system order, then key"
        winner = remaining[0]
        for name in group.fields:
            value = winner.values.get(name)
            values[name] = None if _empty(value) else value
            provenance[name] = FieldProvenance(winner.system, winner.source_key, deciding, values[name])
    return MergeResult(values, provenance)
