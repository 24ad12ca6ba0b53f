"""Match settings: the ``match:`` section of a mapping file as typed, validated, serialisable objects.

Splink style ("authoring, not implementing"): deterministic rules, blocking rules, constraints and
comparisons with ordered levels (null -> exact -> fuzzy thresholds -> else) are plain data. A level's
m and u probabilities (and the prior) are learnt from the data (``mdm.match.training``) unless the
settings pin them; a level's match weight is log2(m/u), and a pair's score is the match probability from
the prior and the summed weights. Nothing here depends on a SQL dialect or on how the engine runs.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jsonschema

from mdm.config.errors import dotted_path

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "mappings" / "match.schema.json"

LevelKind = Literal[
    "null",
    "exact",
    "jaro_winkler",
    "jaro",
    "levenshtein",
    "damerau_levenshtein",
    "ratio",
    "token_set_ratio",
    "token_sort_ratio",
    "partial_ratio",
    "token_subset",
    "token_replaced",
    "abbreviation",
    "edit_distance",
    "else",
]
FUZZY_KINDS = frozenset(
    {
        "jaro_winkler",
        "jaro",
        "levenshtein",
        "damerau_levenshtein",
        "ratio",
        "token_set_ratio",
        "token_sort_ratio",
        "partial_ratio",
    }
)
ConstraintKind = Literal["distinct", "tax_id", "reference"]
SYSTEMS = ("salesforce", "sap")


class MatchConfigError(ValueError):
    """The match settings are unusable; the message names the setting (and file and line when known)."""


@dataclass(frozen=True)
class Feature:
    """A comparable value of a record: the named transform of the listed fields, optionally a prefix."""

    fields: tuple[str, ...]
    transform: str = "text"
    prefix: int | None = None

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
    """Records whose keys are all equal and non-null form a pair (blocking rule or deterministic rule).

    ``sort_by`` (blocking rules): how a block above the settings' ``max_block_size`` is compared, by
    sorted neighbourhood over these features, instead of all pairs; empty: the settings' default.
    """

    name: str
    keys: tuple[Feature, ...]
    systems: tuple[str, str] | None = None  # only pairs of one record of each of these systems
    description: str | None = None
    sort_by: tuple[Feature, ...] = ()

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(f for key in self.keys for f in key.fields)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "keys": [k.to_dict() for k in self.keys]}
        if self.systems:
            out["systems"] = list(self.systems)
        if self.sort_by:
            out["sort_by"] = [k.to_dict() for k in self.sort_by]
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
            sort_by=tuple(Feature.from_dict(k) for k in data.get("sort_by", ())),
        )


@dataclass(frozen=True)
class Level:
    """One comparison level; the first level whose condition holds decides the pair's weight.

    ``m``/``u`` given in the settings are pinned (training leaves them); otherwise they are learnt and
    live in the model. ``transform`` (optional) compares another transform of the comparison's fields
    at this level (e.g. the name with its spaces removed). ``u_source: look_alikes`` learns u among the
    candidate pairs that are not matches instead of among random pairs: for a partial agreement such as
    one name having an extra word ("X Foods Ost" / "X Foods"), which random pairs almost never show but
    the branches and sister companies sharing an address, a phone or a domain often do. ``words`` (token
    levels): the level holds only when a word one value has and the other lacks is one of these (e.g.
    Holding, Nord, Services: words that name another company of a group). ``auto_link: false``: a pair
    on this level is never linked automatically; it waits for a steward.
    """

    kind: LevelKind
    label: str
    threshold: float | None = None
    m: float | None = None
    u: float | None = None
    transform: str | None = None
    u_source: Literal["random_pairs", "look_alikes"] = "random_pairs"
    max_edits: int | None = None  # edit_distance levels
    words: frozenset[str] = frozenset()  # token levels: only when a word told apart is one of these
    auto_link: bool = True

    @property
    def weight(self) -> float:
        """Match weight of the pinned values, log2(m/u); 0 for the null level or when not pinned."""
        if self.m is None or self.u is None:
            return 0.0
        return math.log2(self.m / self.u)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "kind": self.kind}
        for name in ("threshold", "max_edits", "transform", "m", "u"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.u_source != "random_pairs":
            out["u_source"] = self.u_source
        if self.words:
            out["words"] = sorted(self.words)
        if not self.auto_link:
            out["auto_link"] = False
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Level:
        kind = data["kind"]
        if kind in FUZZY_KINDS:
            default_label = f"{kind} >= {data['threshold']}"
        elif kind == "exact" and data.get("transform"):
            default_label = f"exact ({data['transform']})"
        elif kind == "edit_distance":
            default_label = f"at most {data['max_edits']} edits"
        else:
            default_label = kind
        return cls(
            kind=kind,
            label=data.get("label", default_label),
            threshold=data.get("threshold"),
            m=data.get("m"),
            u=data.get("u"),
            transform=data.get("transform"),
            u_source=data.get("u_source", "random_pairs"),
            max_edits=data.get("max_edits"),
            words=frozenset(w.lower() for w in data.get("words", ())),
            auto_link=bool(data.get("auto_link", True)),
        )


@dataclass(frozen=True)
class Comparison:
    """How one aspect of two records is compared: a feature and its ordered levels.

    ``tf_adjustment``: an exact agreement weighs by how rare the shared value is (Splink's term-frequency
    adjustment): agreeing on a common name or city says less than agreeing on a rare one.
    ``systems``: compared only between a record of each of these two systems (other pairs land on null).
    ``only_without``: compared only when the named comparison lands on its null level (e.g. the city
    only where a postal code is missing: inside one postal code the city says nothing more).
    """

    name: str
    feature: Feature
    levels: tuple[Level, ...]
    ignore: frozenset[str] = frozenset()
    description: str | None = None
    tf_adjustment: bool = False
    systems: tuple[str, str] | None = None
    only_without: str | None = None

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(self.feature.fields)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, **self.feature.to_dict()}
        out.pop("prefix", None)
        if self.ignore:
            out["ignore"] = sorted(self.ignore)
        if self.tf_adjustment:
            out["tf_adjustment"] = True
        if self.systems:
            out["systems"] = list(self.systems)
        if self.only_without:
            out["only_without"] = self.only_without
        if self.description:
            out["description"] = self.description
        out["levels"] = [level.to_dict() for level in self.levels]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        systems = data.get("systems")
        return cls(
            name=data["name"],
            feature=Feature.from_dict(data),
            levels=tuple(Level.from_dict(level) for level in data["levels"]),
            ignore=frozenset(data.get("ignore", ())),
            description=data.get("description"),
            tf_adjustment=bool(data.get("tf_adjustment", False)),
            systems=(systems[0], systems[1]) if systems else None,
            only_without=data.get("only_without"),
        )


@dataclass(frozen=True)
class Constraint:
    """Values that keep two records apart: as a cannot-link (never one cluster) or a review cap.

    Kinds: ``distinct`` (two values that differ by more than ``max_edits`` typos conflict), ``tax_id``
    (tax numbers of one issuing country conflict when they differ: both checksum-valid, or by more than
    ``max_edits``; numbers of two countries do not), ``reference`` (records of the ``owner`` system hold
    their own number, the others name one: a record naming X conflicts with an owner record other than
    X, and with a record naming Y). ``compatible``: groups of values that never conflict.
    """

    name: str
    feature: Feature
    kind: ConstraintKind = "distinct"
    max_edits: int = 1
    owner: str | None = None
    compatible: tuple[frozenset[str], ...] = ()
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, **self.feature.to_dict(), "kind": self.kind}
        out["max_edits"] = self.max_edits
        if self.owner:
            out["owner"] = self.owner
        if self.compatible:
            out["compatible"] = [sorted(group) for group in self.compatible]
        if self.description:
            out["description"] = self.description
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Constraint:
        kind = data.get("kind", "distinct")
        if kind == "tax_id" and "transform" not in data:
            data = {**data, "transform": "tax_id"}  # [tax number, country] as the constraint reads them
        return cls(
            name=data["name"],
            feature=Feature.from_dict(data),
            kind=kind,
            max_edits=data.get("max_edits", 0 if kind == "reference" else 1),
            owner=data.get("owner"),
            compatible=tuple(frozenset(group) for group in data.get("compatible", ())),
            description=data.get("description"),
        )


@dataclass(frozen=True)
class TrainingSettings:
    """How parameters are learnt (``mdm.match.training``) and when a stored model is learnt again."""

    u_sample_pairs: int = 200_000  # random record pairs for the u probabilities
    em_sample_pairs: int = 100_000  # candidate pairs (at most) the EM sessions and known matches use
    max_iterations: int = 40
    tolerance: float = 1e-5  # EM stops when no probability moves by more than this
    retrain_change: float = 0.25  # re-learn when the live records grew or shrank by this share
    seed: int = 20261203  # the random pair sample is drawn from this seed: same data, same model

    def to_dict(self) -> dict[str, Any]:
        return {
            "u_sample_pairs": self.u_sample_pairs,
            "em_sample_pairs": self.em_sample_pairs,
            "max_iterations": self.max_iterations,
            "tolerance": self.tolerance,
            "retrain_change": self.retrain_change,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingSettings:
        return cls(**{k: data[k] for k in cls().to_dict() if k in data})


@dataclass(frozen=True)
class MatchConfig:
    """Validated match settings for one entity."""

    prior: float | None  # None: estimated from the data
    high: float
    low: float
    blocking: tuple[KeyRule, ...]
    comparisons: tuple[Comparison, ...]
    deterministic: tuple[KeyRule, ...] = ()
    cannot_link: tuple[Constraint, ...] = ()
    review_when: tuple[Constraint, ...] = ()
    max_block_size: int = 500
    window: int = 10
    sort_by: tuple[Feature, ...] = ()
    target_precision: float = 0.995
    training: TrainingSettings = field(default_factory=TrainingSettings)
    description: str | None = field(default=None, compare=False)

    @property
    def prior_weight(self) -> float:
        """log2 of the pinned prior odds (0 when the prior is learnt: see the model's)."""
        if self.prior is None:
            return 0.0
        return math.log2(self.prior / (1.0 - self.prior))

    def probability(self, total_weight: float) -> float:
        """Match probability for a pair whose weights sum to ``total_weight``, with the pinned prior."""
        return probability(self.prior_weight + total_weight)

    @property
    def fully_pinned(self) -> bool:
        """True when the settings pin the prior and every level's m and u: nothing to learn."""
        return self.prior is not None and all(
            level.m is not None and level.u is not None
            for comparison in self.comparisons
            for level in comparison.levels
            if level.kind != "null"
        )

    def digest(self) -> str:
        """A hash of what a learnt model depends on (comparisons, rules, constraints, training)."""
        relevant = {
            k: v
            for k, v in self.to_dict().items()
            if k not in ("description", "thresholds", "target_precision")
        }
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]

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
            prior=section.get("prior"),
            high=thresholds["high"],
            low=thresholds["low"],
            blocking=tuple(KeyRule.from_dict(r) for r in section["blocking"]),
            comparisons=tuple(Comparison.from_dict(c) for c in section["comparisons"]),
            deterministic=tuple(KeyRule.from_dict(r) for r in section.get("deterministic", ())),
            cannot_link=tuple(Constraint.from_dict(c) for c in section.get("cannot_link", ())),
            review_when=tuple(Constraint.from_dict(c) for c in section.get("review_when", ())),
            max_block_size=section.get("max_block_size", 500),
            window=section.get("window", 10),
            sort_by=tuple(Feature.from_dict(k) for k in section.get("sort_by", ())),
            target_precision=thresholds.get("target_precision", 0.995),
            training=TrainingSettings.from_dict(section.get("training", {})),
            description=section.get("description"),
        )
        config._check_levels()
        names = [r.name for r in (*config.deterministic, *config.blocking)]
        names += [c.name for c in (*config.cannot_link, *config.review_when)]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise MatchConfigError(f"match: rule names must be unique, repeated: {', '.join(duplicates)}")
        for constraint in (*config.cannot_link, *config.review_when):
            if constraint.kind == "reference" and not constraint.owner:
                raise MatchConfigError(f"match: constraint {constraint.name}: kind reference needs an owner")
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
            if comparison.only_without or comparison.systems:
                if kinds[0] != "null":
                    raise MatchConfigError(f"{where}: only_without and systems need a null level first")
            if comparison.only_without:
                names = [c.name for c in self.comparisons]
                if comparison.only_without not in names or comparison.only_without == comparison.name:
                    raise MatchConfigError(
                        f"{where}.only_without: {comparison.only_without!r} is not another comparison"
                    )
                other = self.comparisons[names.index(comparison.only_without)]
                if other.levels[0].kind != "null":
                    raise MatchConfigError(f"{where}.only_without: {other.name} has no null level")

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain data; ``MatchConfig.from_dict(c.to_dict()) == c``."""
        out: dict[str, Any] = {}
        if self.description:
            out["description"] = self.description
        if self.prior is not None:
            out["prior"] = self.prior
        out |= {
            "thresholds": {"high": self.high, "low": self.low, "target_precision": self.target_precision},
            "max_block_size": self.max_block_size,
            "window": self.window,
            "deterministic": [r.to_dict() for r in self.deterministic],
            "cannot_link": [c.to_dict() for c in self.cannot_link],
            "review_when": [c.to_dict() for c in self.review_when],
            "blocking": [r.to_dict() for r in self.blocking],
            "comparisons": [c.to_dict() for c in self.comparisons],
            "training": self.training.to_dict(),
        }
        if self.sort_by:
            out["sort_by"] = [k.to_dict() for k in self.sort_by]
        return out


def probability(log2_odds: float) -> float:
    """The probability whose log2 odds are ``log2_odds``."""
    if log2_odds > 60:
        return 1.0
    if log2_odds < -60:
        return 0.0
    odds = 2.0**log2_odds
    return odds / (1.0 + odds)


def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())
