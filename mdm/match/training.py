"""Learning the match model from the data, as Splink and fastLink do.

- u (P(level | different things)) from random record pairs of the live batch: nearly all of them are
  different things; on small batches the few matches among them are taken out again (u = (f - prior *
  m) / (1 - prior)) once m and the prior are known.
- m (P(level | same thing)) by expectation-maximisation over blocked candidate pairs, one session per
  blocking rule; the comparisons on the rule's own fields are left out of that session (every pair of it
  agrees there, so it cannot tell). The pairs the deterministic rules link (same VAT id, the CRM naming
  the SAP partner) are an extra session of known matches: they seed the others, they are held as
  matches in them, and pairs breaking a constraint (cannot-link or review) are held as non-matches:
  look-alikes such as sister companies would otherwise pass for matches and soften the very levels
  that tell them apart. A comparison's
  m is the average of its sessions weighted by the matches each found.
- the prior (the probability that two random records are one thing) from the expected number of
  matches among the candidates, corrected by the share of known matches the blocking finds, over the
  number of record pairs.

Everything runs on level patterns (distinct rows of the comparison-vector table, with counts), so EM on
two million pairs costs milliseconds per iteration. Random draws come from the settings' seed: the same
data gives the same model.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from mdm.config.match import Comparison, KeyRule, MatchConfig
from mdm.match.blocking import Blocker, CandidatePairs, candidate_pairs
from mdm.match.constraints import Constraints
from mdm.match.model import LevelParameters, MatchModel
from mdm.match.pool import Pool
from mdm.match.scoring import Scorer, probabilities

log = logging.getLogger(__name__)

SMOOTHING = 1.0  # pseudo-pairs pulling a session's m towards the generic start values


@dataclass
class _Pairs:
    a: np.ndarray
    b: np.ndarray
    levels: np.ndarray  # (pairs, comparisons)
    clamp: np.ndarray  # 1: known match, 0: known non-match, -1: to be learnt


def start_m(comparison: Comparison) -> np.ndarray:
    """Generic start values of m over a comparison's levels (null: 0): most matches agree exactly."""
    m = np.zeros(len(comparison.levels), dtype=np.float64)
    rest = [i for i, level in enumerate(comparison.levels) if level.kind not in ("null", "else")]
    if rest:
        m[rest[0]] = 0.8 if comparison.levels[rest[0]].kind == "exact" else 0.5
        for i in rest[1:]:
            m[i] = 0.15 / len(rest[1:])
    m[-1] = 0.05
    return m / m.sum()


def _level_weights(m: np.ndarray, u: np.ndarray) -> np.ndarray:
    """log2(m/u) per level; 0 where u is 0 (the null level)."""
    out = np.zeros(len(m))
    present = u > 0
    out[present] = np.log2(np.maximum(m[present], 1e-300) / u[present])
    return out


def _overlaps(comparison: Comparison, rule: KeyRule) -> bool:
    return bool(comparison.fields & rule.fields)


def _encode(
    levels: np.ndarray, clamp: np.ndarray, width: list[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (levels, clamp) rows: (pattern levels, pattern clamp, counts)."""
    key = clamp.astype(np.int64) + 1
    for k, w in enumerate(width):
        key = key * (w + 1) + levels[:, k].astype(np.int64) + 1
    unique, first, counts = np.unique(key, return_index=True, return_counts=True)
    del unique
    return levels[first], clamp[first], counts.astype(np.float64)


class Trainer:
    """Learns a MatchModel for one pool under its settings."""

    def __init__(
        self,
        pool: Pool,
        scorer: Scorer,
        config: MatchConfig,
        cannot_link: Constraints,
        review_when: Constraints,
        pairs: CandidatePairs,
    ):
        self.pool = pool
        self.pairs = pairs
        self.scorer = scorer
        self.config = config
        self.cannot_link = cannot_link
        self.review_when = review_when
        self.settings = config.training
        self.rng = np.random.default_rng(self.settings.seed)
        self.comparisons = config.comparisons
        self.width = [len(c.levels) for c in self.comparisons]
        self.report: dict[str, Any] = {}
        # Per comparison and level: the highest rate at which the non-matches of one blocking rule (pairs
        # sharing an address, a phone, a domain) land there; u of ``u_source: look_alikes`` levels.
        self.look_alike_u = [np.zeros(len(c.levels)) for c in config.comparisons]

    # --- samples -------------------------------------------------------------------------------------

    def _random_pairs(self) -> tuple[np.ndarray, np.ndarray, bool]:
        idx = np.flatnonzero(self.pool.trainable)
        n = len(idx)
        total = n * (n - 1) // 2
        limit = self.settings.u_sample_pairs
        if total <= limit:
            i, j = np.triu_indices(n, 1)
            return idx[i], idx[j], False
        i = self.rng.integers(0, n, limit)
        j = self.rng.integers(0, n - 1, limit)
        j = j + (j >= i)
        return idx[np.minimum(i, j)], idx[np.maximum(i, j)], True

    def _level_shares(self, levels: np.ndarray) -> tuple[list[np.ndarray], list[int]]:
        """Per comparison: the share of each non-null level among pairs with both values; pair counts."""
        shares, counts = [], []
        for k, comparison in enumerate(self.comparisons):
            column = levels[:, k]
            tally = np.bincount(column[column >= 0], minlength=len(comparison.levels)).astype(np.float64)
            null = [i for i, level in enumerate(comparison.levels) if level.kind == "null"]
            tally[null] = 0.0
            total = tally.sum()
            counts.append(int(total))
            shares.append(tally / total if total else tally)
        return shares, counts

    def _candidates(self) -> tuple[_Pairs, float, dict[str, Any]]:
        """A uniform sample of the candidate pairs (both records trainable), with known (non-)matches."""
        pairs = self.pairs
        keep = self.pool.trainable[pairs.a] & self.pool.trainable[pairs.b]
        rows = np.flatnonzero(keep)
        rate = min(1.0, self.settings.em_sample_pairs / max(len(rows), 1))
        if rate < 1.0:
            rows = rows[self.rng.random(len(rows)) < rate]
        a, b = pairs.a[rows], pairs.b[rows]
        levels = self.scorer.levels(a, b)
        clamp = np.full(len(a), -1, dtype=np.int8)
        deterministic = (
            Blocker(self.pool, self.config, list(self.config.deterministic)).members(a, b).any(axis=1)
        )
        clamp[deterministic] = 1
        if self.review_when:  # two legal forms: nearly always two companies of one group
            clamp[self.review_when.pair_conflicts(a, b, exact=False) >= 0] = 0
        if self.cannot_link:
            clamp[self.cannot_link.pair_conflicts(a, b, exact=False) >= 0] = 0
        info = {"candidates": len(pairs), "sampled": len(a), "rate": round(rate, 6)}
        return _Pairs(a, b, levels, clamp), (1.0 / rate if len(a) else 1.0), info

    def _anchors(self, sample: _Pairs) -> dict[str, _Pairs]:
        """Per deterministic rule, its pairs that break no constraint: pairs known to be matches."""
        out = {}
        pairs = self.pairs
        keep = np.flatnonzero(
            self.pool.trainable[pairs.a] & self.pool.trainable[pairs.b] & pairs.is_deterministic
        )
        if len(keep) > self.settings.em_sample_pairs:  # a uniform sample is as good and costs less
            keep = np.sort(self.rng.choice(keep, self.settings.em_sample_pairs, replace=False))
        a, b = pairs.a[keep], pairs.b[keep]
        members = Blocker(self.pool, self.config, list(self.config.deterministic)).members(a, b)
        for r, rule in enumerate(self.config.deterministic):
            rows = np.flatnonzero(members[:, r])
            if not len(rows):
                continue
            fine = np.ones(len(rows), dtype=bool)
            for constraints in (self.cannot_link, self.review_when):
                if constraints:
                    fine &= constraints.pair_conflicts(a[rows], b[rows]) < 0
            rows = rows[fine]
            if len(rows):
                levels = self.scorer.levels(a[rows], b[rows])
                out[rule.name] = _Pairs(a[rows], b[rows], levels, np.ones(len(rows), dtype=np.int8))
        return out

    # --- expectation-maximisation --------------------------------------------------------------------

    def _em(
        self,
        pairs: _Pairs,
        included: list[int],
        m_start: list[np.ndarray],
        u: list[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray], float, int, bool]:
        """m and the session's own u for the included comparisons, and the share of matches.

        The non-matches of a session are not random pairs (in a postal-code block they share the city
        too), so the session learns its own u alongside m, starting from the random pairs' u; known
        matches and known non-matches are held, which keeps the two classes the right way round.
        """
        levels, clamp, counts = _encode(pairs.levels, pairs.clamp, self.width)
        m = [x.copy() for x in m_start]
        local_u = [x.copy() for x in u]
        known = clamp == 1
        lam = float(max(counts[known].sum() / counts.sum(), 0.05)) if len(counts) else 0.05
        lam = min(lam, 0.95)
        starts = [start_m(c) for c in self.comparisons]
        iterations, converged = 0, False
        for _ in range(self.settings.max_iterations):
            iterations += 1
            log_odds = np.full(len(counts), math.log2(lam / (1 - lam)))
            for k in included:
                column = levels[:, k]
                weights = _level_weights(m[k], local_u[k])
                log_odds += weights[column]
            posterior = probabilities(log_odds)
            posterior[clamp == 1] = 1.0
            posterior[clamp == 0] = 0.0
            matched = counts * posterior
            unmatched = counts - matched
            moved = 0.0
            for k in included:
                comparison = self.comparisons[k]
                column = levels[:, k]
                null = [i for i, level in enumerate(comparison.levels) if level.kind == "null"]
                tally = np.bincount(column, weights=matched, minlength=self.width[k])
                tally[null] = 0.0
                new = (tally + SMOOTHING * starts[k]) / (tally.sum() + SMOOTHING)
                new = self._pin_m(comparison, new)
                moved = max(moved, float(np.abs(new - m[k]).max()))
                m[k] = new
                other = np.bincount(column, weights=unmatched, minlength=self.width[k])
                other[null] = 0.0
                local_u[k] = (other + SMOOTHING * u[k]) / (other.sum() + SMOOTHING)
            new_lam = float(np.clip(matched.sum() / counts.sum(), 1e-9, 1 - 1e-9))
            moved = max(moved, abs(new_lam - lam))
            lam = new_lam
            if moved < self.settings.tolerance:
                converged = True
                break
        return m, local_u, lam, iterations, converged

    @staticmethod
    def _pin_m(comparison: Comparison, m: np.ndarray) -> np.ndarray:
        pinned = [i for i, level in enumerate(comparison.levels) if level.m is not None]
        if not pinned:
            return m
        out = m.copy()
        fixed = sum(comparison.levels[i].m or 0.0 for i in pinned)
        free = [i for i, level in enumerate(comparison.levels) if level.m is None and level.kind != "null"]
        rest = out[free].sum()
        for i in pinned:
            out[i] = comparison.levels[i].m or 0.0
        if free and rest > 0:
            out[free] = out[free] / rest * max(1.0 - fixed, 0.0)
        return out

    # --- the whole model -----------------------------------------------------------------------------

    def train(self) -> MatchModel:
        started = time.perf_counter()
        config = self.config
        a, b, sampled = self._random_pairs()
        random_levels = self.scorer.levels(a, b)
        shares, nonnull = self._level_shares(random_levels)
        floors = [0.5 / max(count, 1) for count in nonnull]
        self.report["u"] = {"pairs": len(a), "sampled": sampled}
        del random_levels
        candidates, scale, info = self._candidates()
        self.report["candidates"] = info
        anchors = self._anchors(candidates)
        self.report["anchors"] = {name: len(p.a) for name, p in anchors.items()}

        n = int(self.pool.trainable.sum())
        all_pairs = max(n * (n - 1) // 2, 1)
        prior = config.prior if config.prior is not None else min(0.5, max(len(self.pool) / all_pairs, 1e-9))
        m = [start_m(c) for c in self.comparisons]
        u = [self._u(k, shares[k], m[k], 0.0, floors[k]) for k in range(len(self.comparisons))]
        anchor_m: list[np.ndarray | None] = [None] * len(self.comparisons)
        for _round in range(2):
            self.look_alike_u = [np.zeros(len(c.levels)) for c in config.comparisons]
            m, anchor_m, sessions = self._sessions(candidates, anchors, u)
            if config.prior is None:
                prior, prior_report = self._prior(candidates, scale, anchors, m, u, all_pairs, prior)
                self.report["prior"] = prior_report
            u = [self._u(k, shares[k], m[k], prior, floors[k]) for k in range(len(self.comparisons))]
        self.report["sessions"] = sessions
        model = self._model(m, u, prior)
        self.report["check"] = self._check(model, anchors, m, anchor_m)
        self.report["seconds"] = round(time.perf_counter() - started, 3)
        model.report = self.report
        model.records = n
        return model

    def _u(self, k: int, share: np.ndarray, m: np.ndarray, prior: float, floor: float) -> np.ndarray:
        comparison = self.comparisons[k]
        u = (share - prior * m) / (1.0 - prior)
        u = np.maximum(u, floor)
        for i, level in enumerate(comparison.levels):
            if level.kind == "null":
                u[i] = 0.0
        u = u / u.sum()
        for i, level in enumerate(comparison.levels):
            if level.u is not None:
                u[i] = level.u
        return u

    def _sessions(
        self, candidates: _Pairs, anchors: dict[str, _Pairs], u: list[np.ndarray]
    ) -> tuple[list[np.ndarray], list[np.ndarray | None], list[dict[str, Any]]]:
        comparisons = self.comparisons
        sums = [np.zeros(len(c.levels)) for c in comparisons]
        totals = [0.0] * len(comparisons)
        anchor_sums = [np.zeros(len(c.levels)) for c in comparisons]
        anchor_totals = [0.0] * len(comparisons)
        sessions: list[dict[str, Any]] = []
        rules = {r.name: r for r in self.config.deterministic}
        for name, pairs in anchors.items():
            included = [k for k, c in enumerate(comparisons) if not _overlaps(c, rules[name])]
            for k in included:
                column = pairs.levels[:, k]
                tally = np.bincount(column[column >= 0], minlength=self.width[k]).astype(np.float64)
                for i, level in enumerate(comparisons[k].levels):
                    if level.kind == "null":
                        tally[i] = 0.0
                anchor_sums[k] += tally
                anchor_totals[k] += tally.sum()
            sessions.append(
                {
                    "session": f"known matches: {name}",
                    "pairs": len(pairs.a),
                    "left_out": [c.name for c in comparisons if _overlaps(c, rules[name])],
                }
            )
        anchor_m: list[np.ndarray | None] = []
        start = []
        for k, comparison in enumerate(comparisons):
            if anchor_totals[k] > 0:
                value = (anchor_sums[k] + SMOOTHING * start_m(comparison)) / (anchor_totals[k] + SMOOTHING)
                anchor_m.append(value)
                start.append(self._pin_m(comparison, value))
                sums[k] += anchor_sums[k]
                totals[k] += anchor_totals[k]
            else:
                anchor_m.append(None)
                start.append(self._pin_m(comparison, start_m(comparison)))
        blocking_columns = Blocker(self.pool, self.config, list(self.config.blocking)).members(
            candidates.a, candidates.b
        )
        for r, rule in enumerate(self.config.blocking):
            rows = np.flatnonzero(blocking_columns[:, r])
            if len(rows) < 10:
                continue
            included = [k for k, c in enumerate(comparisons) if not _overlaps(c, rule)]
            session = _Pairs(
                candidates.a[rows], candidates.b[rows], candidates.levels[rows], candidates.clamp[rows]
            )
            m, local_u, lam, iterations, converged = self._em(session, included, start, u)
            matches = lam * len(rows)
            for k in included:
                sums[k] += m[k] * matches
                totals[k] += matches
                self.look_alike_u[k] = np.maximum(self.look_alike_u[k], local_u[k])
            sessions.append(
                {
                    "session": f"blocking rule {rule.name}",
                    "pairs": len(rows),
                    "left_out": [c.name for c in comparisons if _overlaps(c, rule)],
                    "match_share": round(lam, 6),
                    "iterations": iterations,
                    "converged": converged,
                }
            )
        out = []
        for k, comparison in enumerate(comparisons):  # smoothed: a level no pair showed keeps some m
            out.append(self._pin_m(comparison, (sums[k] + SMOOTHING * start[k]) / (totals[k] + SMOOTHING)))
        return out, anchor_m, sessions

    def _weights(self, m: list[np.ndarray], u: list[np.ndarray], levels: np.ndarray) -> np.ndarray:
        total = np.zeros(len(levels))
        for k in range(len(self.comparisons)):
            total += _level_weights(m[k], u[k])[levels[:, k]]
        return total

    def _prior(
        self,
        candidates: _Pairs,
        scale: float,
        anchors: dict[str, _Pairs],
        m: list[np.ndarray],
        u: list[np.ndarray],
        all_pairs: int,
        prior: float,
    ) -> tuple[float, dict[str, Any]]:
        """The prior at which the expected matches among the candidates, over the blocking's recall of
        known matches, are that share of all record pairs."""
        recall = 1.0
        known = [p for p in anchors.values()]
        if known and self.config.blocking:
            a = np.concatenate([p.a for p in known])
            b = np.concatenate([p.b for p in known])
            found = Blocker(self.pool, self.config, list(self.config.blocking)).members(a, b).any(axis=1)
            recall = max(float(found.mean()), 0.5)
        weights = self._weights(m, u, candidates.levels)
        clamp = candidates.clamp
        expected = 0.0
        for _ in range(200):
            posterior = probabilities(math.log2(prior / (1 - prior)) + weights)
            posterior[clamp == 1] = 1.0
            posterior[clamp == 0] = 0.0
            expected = float(posterior.sum()) * scale / recall
            new = float(np.clip(expected / all_pairs, 1.0 / all_pairs, 0.5))
            if abs(new - prior) <= 1e-4 * prior:
                prior = new
                break
            prior = new
        return prior, {
            "estimated": prior,
            "expected_matches": round(expected, 1),
            "record_pairs": all_pairs,
            "blocking_recall_of_known_matches": round(recall, 4),
        }

    def _model(self, m: list[np.ndarray], u: list[np.ndarray], prior: float) -> MatchModel:
        levels: dict[str, list[LevelParameters]] = {}
        for k, comparison in enumerate(self.comparisons):
            row = []
            for i, level in enumerate(comparison.levels):
                if level.kind == "null":
                    row.append(LevelParameters(level.label, None, None, True))
                    continue
                pinned = level.m is not None and level.u is not None
                u_level = float(u[k][i])
                if level.u_source == "look_alikes" and level.u is None:
                    u_level = max(u_level, float(self.look_alike_u[k][i]))
                row.append(LevelParameters(level.label, float(m[k][i]), u_level, pinned))
            levels[comparison.name] = row
        return MatchModel(settings_digest=self.config.digest(), prior=prior, levels=levels)

    def _check(
        self,
        model: MatchModel,
        anchors: dict[str, _Pairs],
        m: list[np.ndarray],
        anchor_m: list[np.ndarray | None],
    ) -> dict[str, Any]:
        """How the learnt model agrees with the known matches: m differences, and how many it would link."""
        difference = {
            c.name: round(float(np.abs(m[k] - anchor_m[k]).max()), 4)
            for k, c in enumerate(self.comparisons)
            if anchor_m[k] is not None
        }
        out: dict[str, Any] = {"m_difference_to_known_matches": difference}
        if anchors:
            self.scorer.use(model)
            a = np.concatenate([p.a for p in anchors.values()])
            levels = np.concatenate([p.levels for p in anchors.values()])
            scores = probabilities(self.scorer.log2_odds(levels, a))
            out["known_matches_scored_auto"] = round(float((scores >= self.config.high).mean()), 4)
            out["known_matches_scored_review_or_auto"] = round(float((scores >= self.config.low).mean()), 4)
        return out


def train(
    pool: Pool,
    scorer: Scorer,
    config: MatchConfig,
    cannot_link: Constraints,
    review_when: Constraints,
    pairs: CandidatePairs | None = None,
) -> MatchModel:
    """Learn the model of ``config`` from ``pool`` (its trainable records) and its candidate ``pairs``
    (found here when not given)."""
    if config.fully_pinned:
        return MatchModel.pinned(config)
    if pairs is None:
        pairs = candidate_pairs(pool, config)
    model = Trainer(pool, scorer, config, cannot_link, review_when, pairs).train()
    log.info(
        "match model learnt on %d records in %.1f s: prior %.3g",
        model.records,
        model.report.get("seconds", 0.0),
        model.prior,
    )
    return model
