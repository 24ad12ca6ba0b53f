"""The ``survivorship:`` section of a mapping: default rules and rules per field or field group
(how ``mdm.merge`` applies them is in its docstring)."""

from __future__ import annotations

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
class Rule:
    name: str
    argument: Any = None

    def label(self, winner_system: str | None = None) -> str:
        if self.name == "source_priority" and winner_system is not None:
            return f"source_priority[{winner_system}]"
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
