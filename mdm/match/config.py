"""Match settings: the ``match:`` section of a mapping file as typed, validated, serialisable objects.

Splink style ("authoring, not implementing"): deterministic rules, blocking rules and comparisons with
ordered levels (null -> exact -> fuzzy thresholds -> else) are plain data. Each level carries its m and
u probabilities; its match weight is log2(m/u), and a pair's score is the match probability from the
prior and the summed weights. Nothing here depends on a SQL dialect or on how the engine runs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jsonschema

from mdm.mappings import dotted_path
from mdm.match.features import TRANSFORMS

SCHEMA_PATH = Path(__file__).resolve().parent.parent.parent / "mappings" / "match.schema.json"

LevelKind = Literal[
    "null",
    "exact",
    "jaro_winkler",
    "jaro",
    "levenshtein",
    "ratio",
    "token_set_ratio",
    "token_sort_ratio",
    "partial_ratio",
    "else",
]
FUZZY_KINDS = frozenset(
    {"jaro_winkler", "jaro", "levenshtein", "ratio", "token_set_ratio", "token_sort_ratio", "partial_ratio"}
)


class MatchConfigError(ValueError):
    """The match settings are unusable; the message names the setting (and file and line when known)."""


@dataclass(frozen=True)
class Feature:
    """A comparable value of a record: the named transform of the listed fields, optionally a prefix."""

    fields: tuple[str, ...]
    transform: str = "text"
    prefix: int | None = None

    def of(self, values: dict[str, Any]) -> str | None:
        value = TRANSFORMS[self.transform]([values.get(f) for f in self.fields])
        if value is not None and self.prefix:
            value = value[: self.prefix]
        return value

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = (
            {"field": self.fields[0]} if len(self.fields) == 1 else {"fields": list(self.fields)}
        )
        out["transform"] = self.transform
        if self.prefix:
            out["prefix"] = self.prefix
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Feature:
        fields = tuple(data["fields"]) if "fields" in data else (data["field"],)
        return cls(fields=fields, transform=data.get("transform", "text"), prefix=data.get("prefix"))


@dataclass(frozen=True)
class KeyRule:
    """Records whose keys are all equal and non-null form a pair (blocking rule or deterministic rule)."""

    name: str
    keys: tuple[Feature, ...]
    systems: tuple[str, str] | None = None  # only pairs of one record of each of these systems
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "keys": [k.to_dict() for k in self.keys]}
        if self.systems:
            out["systems"] = list(self.systems)
        if self.description:
            out["description"] = self.description
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyRule:
        systems = data.get("systems")
        return cls(
            name=data["name"],
            keys=tuple(Feature.from_dict(k) for k in data["keys"]),
            systems=(systems[0], systems[1]) if systems else None,
            description=data.get("description"),
        )


@dataclass(frozen=True)
class Level:
    """One comparison level; the first level whose condition holds decides the pair's weight."""

    kind: LevelKind
    label: str
    threshold: float | None = None
    m: float | None = None
    u: float | None = None

    @property
    def weight(self) -> float:
        """Match weight, log2(m/u): positive is evidence for a match, negative against; null levels 0."""
        if self.m is None or self.u is None:
            return 0.0
        return math.log2(self.m / self.u)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "kind": self.kind}
        for name in ("threshold", "m", "u"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Level:
        kind = data["kind"]
        default_label = f"{kind} >= {data['threshold']}" if kind in FUZZY_KINDS else kind
        return cls(
            kind=kind,
            label=data.get("label", default_label),
            threshold=data.get("threshold"),
            m=data.get("m"),
            u=data.get("u"),
        )


@dataclass(frozen=True)
class Comparison:
    """How one aspect of two records is compared: a feature and its ordered levels."""

    name: str
    feature: Feature
    levels: tuple[Level, ...]
    ignore: frozenset[str] = frozenset()
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, **self.feature.to_dict()}
        out.pop("prefix", None)
        if self.ignore:
            out["ignore"] = sorted(self.ignore)
        if self.description:
            out["description"] = self.description
        out["levels"] = [level.to_dict() for level in self.levels]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        return cls(
            name=data["name"],
            feature=Feature.from_dict(data),
            levels=tuple(Level.from_dict(level) for level in data["levels"]),
            ignore=frozenset(data.get("ignore", ())),
            description=data.get("description"),
        )


@dataclass(frozen=True)
class MatchConfig:
    """Validated match settings for one entity."""

    prior: float
    high: float
    low: float
    blocking: tuple[KeyRule, ...]
    comparisons: tuple[Comparison, ...]
    deterministic: tuple[KeyRule, ...] = ()
    max_block_size: int = 500
    description: str | None = field(default=None, compare=False)

    @property
    def prior_weight(self) -> float:
        """log2 of the prior odds: the starting point the comparison weights add to."""
        return math.log2(self.prior / (1.0 - self.prior))

    def probability(self, total_weight: float) -> float:
        """Match probability for a pair whose comparison weights sum to ``total_weight``."""
        odds_log2 = self.prior_weight + total_weight
        if odds_log2 > 60:
            return 1.0
        odds = 2.0**odds_log2
        return odds / (1.0 + odds)

    @classmethod
    def from_dict(cls, section: dict[str, Any]) -> MatchConfig:
        """Validate ``section`` (the ``match:`` mapping) against match.schema.json and build the settings."""
        errors = sorted(
            jsonschema.Draft202012Validator(_schema()).iter_errors(section),
            key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))),
        )
        if errors:
            error = errors[0]
            raise MatchConfigError(
                f"match.{dotted_path(list(error.absolute_path))}: {error.message}".rstrip(".")
            )
        thresholds = section["thresholds"]
        if thresholds["low"] > thresholds["high"]:
            raise MatchConfigError("match.thresholds: low must not be above high")
        config = cls(
            prior=section["prior"],
            high=thresholds["high"],
            low=thresholds["low"],
            blocking=tuple(KeyRule.from_dict(r) for r in section["blocking"]),
            comparisons=tuple(Comparison.from_dict(c) for c in section["comparisons"]),
            deterministic=tuple(KeyRule.from_dict(r) for r in section.get("deterministic", ())),
            max_block_size=section.get("max_block_size", 500),
            description=section.get("description"),
        )
        config._check_levels()
        names = [r.name for r in (*config.deterministic, *config.blocking)]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise MatchConfigError(f"match: rule names must be unique, repeated: {', '.join(duplicates)}")
        return config

    def _check_levels(self) -> None:
        for i, comparison in enumerate(self.comparisons):
            kinds = [level.kind for level in comparison.levels]
            where = f"match.comparisons[{i}] ({comparison.name})"
            if "null" in kinds[1:]:
                raise MatchConfigError(f"{where}: the null level must come first")
            if kinds[-1] != "else":
                raise MatchConfigError(f"{where}: the last level must be 'else'")
            if "else" in kinds[:-1]:
                raise MatchConfigError(f"{where}: only the last level may be 'else'")

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain data; ``MatchConfig.from_dict(c.to_dict()) == c``."""
        out: dict[str, Any] = {}
        if self.description:
            out["description"] = self.description
        out |= {
            "prior": self.prior,
            "thresholds": {"high": self.high, "low": self.low},
            "max_block_size": self.max_block_size,
            "deterministic": [r.to_dict() for r in self.deterministic],
            "blocking": [r.to_dict() for r in self.blocking],
            "comparisons": [c.to_dict() for c in self.comparisons],
        }
        return out


def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def load_match_config(path: Path) -> MatchConfig:
    """The ``match:`` section of a mapping file; errors name the file, the line and the setting."""
    from mdm.mappings import MappingError, load_mapping

    try:
        mapping = load_mapping(Path(path))
    except MappingError as exc:
        raise MatchConfigError(str(exc)) from exc
    if mapping.match is None:
        raise MatchConfigError(f"{path}: no 'match:' section")
    return mapping.match


def entity_match_config(entity: str, directory: Path | None = None) -> MatchConfig:
    """The entity's match settings: the ``match:`` section of ``<entity>.yaml`` in the mappings folder."""
    from mdm.mappings import mappings_dir

    return load_match_config(Path(directory or mappings_dir()) / f"{entity}.yaml")
