"""The match model: the learnt (or pinned) m and u of every comparison level, and the prior.

A model belongs to an entity and to the settings it was learnt for (``settings_digest``); the store keeps
every version (``match_model``), the match step uses the newest one whose digest fits the settings, and
every decision's evidence names the version that scored it. Plain data: ``to_dict``/``from_dict``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from mdm.config.match import MatchConfig


@dataclass(frozen=True)
class LevelParameters:
    """One level's probabilities: m = P(level | same thing), u = P(level | different things)."""

    label: str
    m: float | None  # None on the null level
    u: float | None
    pinned: bool = False  # taken from the settings, not learnt

    @property
    def weight(self) -> float:
        if self.m is None or self.u is None:
            return 0.0
        return math.log2(max(self.m, 1e-12) / max(self.u, 1e-12))


@dataclass
class MatchModel:
    """Parameters for one entity's comparisons, as learnt from its data (or pinned by its settings)."""

    settings_digest: str
    prior: float  # probability that two records drawn at random are the same thing
    levels: dict[str, list[LevelParameters]]  # comparison name -> its levels, in the settings' order
    records: int = 0  # records it was learnt on
    trained_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    report: dict[str, Any] = field(default_factory=dict)  # how it was learnt (sessions, anchors, checks)
    version: int | None = None  # given by the store
    entity: str | None = None

    @property
    def prior_weight(self) -> float:
        """log2 of the prior odds: the starting point the comparison weights add to."""
        return math.log2(self.prior / (1.0 - self.prior))

    def weights(self, comparison: str) -> list[float]:
        return [level.weight for level in self.levels[comparison]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "entity": self.entity,
            "settings_digest": self.settings_digest,
            "prior": self.prior,
            "records": self.records,
            "trained_at": self.trained_at,
            "comparisons": {
                name: [
                    {
                        "label": lv.label,
                        "m": lv.m,
                        "u": lv.u,
                        "weight": round(lv.weight, 4),
                        "pinned": lv.pinned,
                    }
                    for lv in levels
                ]
                for name, levels in self.levels.items()
            },
            "report": self.report,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MatchModel:
        return cls(
            settings_digest=data["settings_digest"],
            prior=float(data["prior"]),
            levels={
                name: [
                    LevelParameters(lv["label"], lv.get("m"), lv.get("u"), bool(lv.get("pinned", False)))
                    for lv in levels
                ]
                for name, levels in data["comparisons"].items()
            },
            records=int(data.get("records", 0)),
            trained_at=data.get("trained_at") or "",
            report=dict(data.get("report") or {}),
            version=data.get("version"),
            entity=data.get("entity"),
        )

    @classmethod
    def pinned(cls, config: MatchConfig) -> MatchModel:
        """The model of settings that pin every value (nothing is learnt)."""
        if not config.fully_pinned or config.prior is None:
            raise ValueError("the settings do not pin the prior and every level's m and u")
        return cls(
            settings_digest=config.digest(),
            prior=config.prior,
            levels={
                c.name: [LevelParameters(lv.label, lv.m, lv.u, True) for lv in c.levels]
                for c in config.comparisons
            },
            report={"pinned": True},
        )

    def fits(self, config: MatchConfig) -> bool:
        """Whether this model was learnt for these settings (same comparisons, rules and training)."""
        return self.settings_digest == config.digest()
