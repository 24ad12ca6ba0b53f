"""The match engine: xref -> model -> candidate pairs -> scores -> constrained clusters and decisions.

1. The model: the given one when it fits the settings, else one learnt from these records
   (``mdm.match.training``).
2. Candidate pairs from the deterministic rules and the blocking rules (``mdm.match.blocking``: no
   block skipped), scored in chunks (``mdm.match.scoring``); pairs at or above the low threshold are
   kept, and every pair of a deterministic rule.
3. Constraints on the kept pairs: a pair breaking a cannot-link constraint is dropped (never linked,
   never asked); one breaking a review constraint can at most go to review.
4. Clustering, strongest pair first, over union-find that respects the constraints: the xref and
   steward-approved pairs first, then auto links. A link does not join two clusters when the result
   would hold records breaking a constraint, two different existing golden records, or two records of
   one system whose own pair scores below the low threshold: that link (the weakest of the chain) goes
   to review instead. A record that auto-matches two records which must stay apart, with about the same
   strength, is ambiguous: both links go to review.

Fuzzy pairs at or above the auto threshold (``high``, raised when needed so that the model's own
estimate of the auto links' precision reaches ``target_precision``) link automatically; pairs between
``low`` and it go to the review queue; the rest become new golden records. A deterministic rule's pair
(same VAT id, the SAP number in the CRM) links unless its other fields contradict it (a score below
``low``: then it goes to review). A pair a steward rejected (or kept as new) stays apart until either
record's values hash changes.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from mdm.config.match import MatchConfig
from mdm.match.blocking import candidate_pairs
from mdm.match.clustering import Clustering
from mdm.match.constraints import Constraints
from mdm.match.model import MatchModel
from mdm.match.pool import CanonicalLike, Pool, RecordRef
from mdm.match.records import (
    PAIR_CHUNK,
    Band,
    Cluster,
    Decision,
    MatchRecord,
    MatchResult,
    PairKey,
    PreviousDecision,
    pair_key,
    scored_links,
)
from mdm.match.scoring import Scorer
from mdm.match.training import train

__all__ = [
    "Band",
    "CanonicalLike",
    "Cluster",
    "Decision",
    "MatchRecord",
    "MatchResult",
    "PairKey",
    "PreviousDecision",
    "RecordRef",
    "explain",
    "learn_model",
    "match_records",
    "pair_key",
]


def learn_model(
    records: Iterable[CanonicalLike],
    config: MatchConfig,
    xref: Mapping[RecordRef, str] | None = None,
    exclude_from_training: Iterable[RecordRef] = (),
) -> MatchModel:
    """A model learnt from ``records`` under ``config`` (``mdm.match.training``), not yet stored."""
    pool = Pool(records, xref or {}, exclude_from_training)
    return train(
        pool,
        Scorer(pool, config),
        config,
        Constraints(pool, config.cannot_link, "never"),
        Constraints(pool, config.review_when, "review"),
    )


def explain(
    records: Iterable[CanonicalLike], config: MatchConfig, model: MatchModel, pairs: Iterable[PairKey]
) -> dict[PairKey, dict[str, Any]]:
    """The evidence for arbitrary pairs of ``records`` under ``model``, as a decision would carry it, with
    the constraints each pair breaks (``constraints``). Pairs naming an unknown record are left out."""
    pool = Pool(records, {})
    scorer = Scorer(pool, config)
    scorer.use(model)
    groups = [Constraints(pool, config.cannot_link, "never"), Constraints(pool, config.review_when, "review")]
    known = [(x, y) for x, y in pairs if x in pool.index and y in pool.index]
    if not known:
        return {}
    a = np.array([pool.index[x] for x, _ in known])
    b = np.array([pool.index[y] for _, y in known])
    levels = scorer.levels(a, b)
    out = {}
    weights = np.round(scorer.weight_matrix(levels, a), 3)
    for row, pair in enumerate(known):
        evidence = scorer.evidence(levels[row], weights[row])
        broken = []
        for group, label in zip(groups, ("never linked", "needs a steward"), strict=True):
            if group:
                k = int(group.pair_conflicts(a[row : row + 1], b[row : row + 1])[0])
                if k >= 0:
                    broken.append(f"{label}: {group.describe(k, int(a[row]), int(b[row]))}")
        evidence["constraints"] = broken
        out[pair] = evidence
    return out


def match_records(
    records: Iterable[CanonicalLike],
    config: MatchConfig,
    xref: Mapping[RecordRef, str] | None = None,
    previous: Mapping[PairKey, PreviousDecision] | None = None,
    chunk_size: int = PAIR_CHUNK,
    model: MatchModel | None = None,
    exclude_from_training: Iterable[RecordRef] = (),
    keep_model: Callable[[MatchModel], None] | None = None,
    prepared: Mapping[str, list[str | None]] | None = None,
) -> MatchResult:
    """Match canonical records of one entity (both systems together) into clusters, with decisions.

    ``xref`` maps (system, key) to the golden id a record is already linked to; ``previous`` holds the
    stored decisions by pair (``pair_key`` orientation); ``model`` is used when it fits the settings,
    else a model is learnt from these records (leaving out ``exclude_from_training``: SyncHub's own
    copies) and handed to ``keep_model`` before it scores anything (the store gives it its version
    there, which the evidence then names). ``prepared``: the records' match keys as columns
    (``mdm.match.pool.prepare_keys``) when computed beforehand. This is also what the benchmarks call.
    """
    # Hundreds of thousands of small objects are made and kept: the cyclic garbage collector would walk
    # them again and again for nothing (the run makes no cycles worth collecting early).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _match(
            records, config, xref, previous, chunk_size, model, exclude_from_training, keep_model, prepared
        )
    finally:
        if collecting:
            gc.enable()


def _match(
    records: Iterable[CanonicalLike],
    config: MatchConfig,
    xref: Mapping[RecordRef, str] | None,
    previous: Mapping[PairKey, PreviousDecision] | None,
    chunk_size: int,
    model: MatchModel | None,
    exclude_from_training: Iterable[RecordRef],
    keep_model: Callable[[MatchModel], None] | None,
    prepared: Mapping[str, list[str | None]] | None,
) -> MatchResult:
    started = time.perf_counter()
    xref = xref or {}
    previous = previous or {}
    pool = Pool(records, xref, exclude_from_training, prepared)
    stats: dict[str, Any] = {"records": len(pool)}
    scorer = Scorer(pool, config)
    cannot_link = Constraints(pool, config.cannot_link, "never")
    review_when = Constraints(pool, config.review_when, "review")
    stats["feature_seconds"] = round(time.perf_counter() - started, 3)
    clock = time.perf_counter()
    pairs = candidate_pairs(pool, config, chunk_size)
    stats["candidate_seconds"] = round(time.perf_counter() - clock, 3)
    trained = False
    if model is None or not model.fits(config):
        clock = time.perf_counter()
        model = train(pool, scorer, config, cannot_link, review_when, pairs)
        trained = not config.fully_pinned
        stats["training_seconds"] = round(time.perf_counter() - clock, 3)
        if keep_model is not None:
            keep_model(model)
    scorer.use(model)
    stats["model_version"] = model.version
    stats["prior"] = model.prior
    clock = time.perf_counter()
    links = scored_links(scorer, config, pairs, stats)
    del pairs
    stats["scoring_seconds"] = round(time.perf_counter() - clock, 3)
    clock = time.perf_counter()
    result = Clustering(pool, config, scorer, cannot_link, review_when, previous, stats).run(links)
    stats["clustering_seconds"] = round(time.perf_counter() - clock, 3)
    stats["seconds"] = round(time.perf_counter() - started, 3)
    result.stats = stats
    result.model = model
    result.trained = trained
    return result
