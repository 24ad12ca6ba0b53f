"""What matching works on and gives back: the records, the decisions with their evidence, the clusters
and the result of a run; the scored pairs of a run and the auto-link threshold."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mdm.config.match import MatchConfig
from mdm.match.blocking import CandidatePairs
from mdm.match.model import MatchModel
from mdm.match.pool import RecordRef
from mdm.match.scoring import EPSILON, Scorer, probabilities

PairKey = tuple[RecordRef, RecordRef]  # ordered: left < right


Band = Literal["auto", "review"]


KEEP_APART = frozenset({"rejected", "new"})  # steward statuses that keep a pair apart


PAIR_CHUNK = 250_000  # candidate pairs scored per numpy batch


# Two auto matches of one record to records that must stay apart, closer than this (log2 odds), are
# ambiguous: 2**10, a thousand times more likely, is needed to prefer one. Sister companies share an
# address, a switchboard or a domain: one such field more is no reason to pick one of them.
AMBIGUITY_MARGIN = 10.0


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """One canonical record to match."""

    system: str
    source_key: str
    values: dict[str, Any]
    values_hash: str

    @property
    def ref(self) -> RecordRef:
        return (self.system, self.source_key)


@dataclass(frozen=True)
class PreviousDecision:
    """A stored decision on a pair, with both records' values hashes at the time it was made."""

    status: str  # auto_linked, review, approved, rejected, new
    left_hash: str
    right_hash: str
    decided_by: str | None = None


@dataclass
class Decision:
    """A scored pair in the auto or review band, and why it scored so."""

    left: RecordRef
    right: RecordRef
    score: float
    band: Band
    rule: str  # deterministic rule name, or "fuzzy"
    status: str  # auto_linked or review
    evidence: dict[str, Any]
    left_hash: str
    right_hash: str

    @property
    def pair(self) -> PairKey:
        return (self.left, self.right)


@dataclass(frozen=True)
class Cluster:
    """Records that are the same real-world thing; ``golden_ids`` are the golden records they already had."""

    members: tuple[RecordRef, ...]
    golden_ids: tuple[str, ...] = ()


@dataclass
class MatchResult:
    clusters: list[Cluster]
    decisions: list[Decision]
    stats: dict[str, Any] = field(default_factory=dict)
    model: MatchModel | None = None
    trained: bool = False  # the model was learnt in this run (not yet stored)

    def linked_pairs(self) -> Iterator[PairKey]:
        """Every pair of records that ended in the same cluster (ordered left < right)."""
        for cluster in self.clusters:
            members = sorted(cluster.members)
            for i, left in enumerate(members):
                for right in members[i + 1 :]:
                    yield (left, right)

    def review(self) -> list[Decision]:
        return [d for d in self.decisions if d.band == "review"]


def pair_key(a: RecordRef, b: RecordRef) -> PairKey:
    """The stored orientation of a pair: the smaller (system, key) on the left."""
    return (a, b) if a <= b else (b, a)


@dataclass
class ScoredLinks:
    """Kept pairs as arrays (a < b by pool index)."""

    a: np.ndarray
    b: np.ndarray
    score: np.ndarray
    log_odds: np.ndarray
    rule: np.ndarray  # index into the rule list
    deterministic: np.ndarray
    levels: np.ndarray

    def __len__(self) -> int:
        return len(self.a)

    def take(self, rows: np.ndarray) -> ScoredLinks:
        return ScoredLinks(
            *(
                getattr(self, f)[rows]
                for f in ("a", "b", "score", "log_odds", "rule", "deterministic", "levels")
            )
        )


def scored_links(
    scorer: Scorer, config: MatchConfig, pairs: CandidatePairs, stats: dict[str, Any]
) -> ScoredLinks:
    """The candidate pairs worth keeping: at or above the low threshold, or found by a deterministic rule.

    A pair whose exact and null levels already rule out the low threshold, whatever its similarities,
    is never given them (most candidate pairs are plainly different companies).
    """
    stats["candidate_pairs"] = {name: rule_stats.pairs for name, rule_stats in pairs.stats.items()}
    stats["blocking"] = {name: rule_stats.as_dict() for name, rule_stats in pairs.stats.items()}
    deterministic = pairs.is_deterministic
    stats["scored_pairs"] = int((~deterministic).sum())
    low = config.low - EPSILON
    threshold = math.log2(low / (1 - low)) if 0 < low < 1 else (-math.inf if low <= 0 else math.inf)
    parts: list[ScoredLinks] = []
    similar = 0
    for start in range(0, len(pairs), PAIR_CHUNK):
        part = slice(start, start + PAIR_CHUNK)
        a, b, rule, det = pairs.a[part], pairs.b[part], pairs.rule[part], deterministic[part]
        keep_rows, known = scorer.keep_above(a, b, threshold)
        rows = np.flatnonzero(det | keep_rows)
        similar += len(rows)
        a, b, rule, det = a[rows], b[rows], rule[rows], det[rows]
        levels = scorer.levels(a, b, known={k: column[rows] for k, column in known.items()})
        log_odds = scorer.log2_odds(levels, a)
        score = probabilities(log_odds)
        keep = np.flatnonzero(det | (score >= low))
        parts.append(
            ScoredLinks(a[keep], b[keep], score[keep], log_odds[keep], rule[keep], det[keep], levels[keep])
        )
    stats["fully_compared_pairs"] = similar
    if not parts:
        return ScoredLinks(
            *(np.zeros(0, dtype=t) for t in (np.int64, np.int64, np.float64, np.float64, np.int16, bool)),
            np.zeros((0, len(config.comparisons)), dtype=np.int8),
        )
    return ScoredLinks(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in ScoredLinks.__dataclass_fields__)
    )


def auto_link_threshold(score: np.ndarray, high: float, target: float) -> tuple[float, float | None]:
    """The lowest threshold >= high whose links' mean probability (expected precision) is >= target."""
    above = np.sort(score[score >= high - EPSILON])[::-1]
    if not len(above):
        return high, None
    precision = np.cumsum(above) / np.arange(1, len(above) + 1)
    ok = np.flatnonzero(precision >= target)
    if not len(ok):
        return 1.0, float(precision[0])
    last = int(ok[-1])
    return max(high, float(above[last])), float(precision[last])
