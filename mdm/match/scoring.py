"""Vectorised comparison levels and match weights for arrays of record pairs.

``Scorer.levels`` answers, per pair and comparison, the index of the first level whose condition holds
(numpy on integer codes for null and exact levels, ``rapidfuzz.process.cpdist`` for fuzzy ones, each
similarity computed once per comparison and chunk). ``Scorer.total_weight`` adds the model's weights,
with the term-frequency adjustment on exact levels of comparisons that ask for it: agreeing on a value a
share f of records hold weighs log2(m / f) instead of log2(m / u) (Splink's adjustment).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rapidfuzz import distance, fuzz, process

from mdm.config.match import Comparison, Feature, MatchConfig, probability
from mdm.match.features import abbreviates
from mdm.match.model import MatchModel
from mdm.match.pool import Pool

_SIMILARITY = {
    "jaro_winkler": (distance.JaroWinkler.normalized_similarity, 1.0),
    "jaro": (distance.Jaro.normalized_similarity, 1.0),
    "levenshtein": (distance.Levenshtein.normalized_similarity, 1.0),
    "damerau_levenshtein": (distance.DamerauLevenshtein.normalized_similarity, 1.0),
    "ratio": (fuzz.ratio, 100.0),
    "token_set_ratio": (fuzz.token_set_ratio, 100.0),
    "token_sort_ratio": (fuzz.token_sort_ratio, 100.0),
    "partial_ratio": (fuzz.partial_ratio, 100.0),
}
EPSILON = 1e-6  # cpdist answers in float32; 0.95 must still pass a 0.95 threshold
MAX_WORDS = 8  # words of a value compared one by one (token_replaced)


def probabilities(log2_odds: np.ndarray) -> np.ndarray:
    exponent = np.clip(log2_odds, -60, 60)
    return 1.0 / (1.0 + np.power(2.0, -exponent))


class _ComparisonColumns:
    """One comparison's per-record data: its value strings, codes, level codes and term frequencies."""

    def __init__(self, pool: Pool, comparison: Comparison):
        self.comparison = comparison
        self.codes = pool.codes(comparison.feature, comparison.ignore)
        self.column = pool.objects(comparison.feature).copy()
        self.column[self.codes < 0] = ""
        # The distinct values by code (per-value work is done once per distinct value).
        self.uniques: list[str] = pool.factorized(comparison.feature)[1].tolist()
        # Levels comparing another transform of the same fields (e.g. the name without spaces).
        self.level_codes: dict[int, np.ndarray] = {}
        for index, level in enumerate(comparison.levels):
            if level.transform:
                self.level_codes[index] = pool.codes(Feature(comparison.feature.fields, level.transform))
        self.systems = comparison.systems
        self._tokens: np.ndarray | None = None
        self._lengths: np.ndarray | None = None
        self._initials: tuple[np.ndarray, np.ndarray] | None = None
        # The first level that needs a similarity (not null, exact or else): cheap levels stop there.
        self.first_similarity = next(
            (i for i, lv in enumerate(comparison.levels) if lv.kind not in ("null", "exact", "else")),
            len(comparison.levels),
        )
        # Share of the records with a value that hold each value: the term frequencies.
        present = self.codes[self.codes >= 0]
        counts = np.bincount(present, minlength=int(self.codes.max(initial=-1)) + 1).astype(np.float64)
        self.frequency = counts / max(len(present), 1)

    def similarity(self, scorer: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``scorer``'s similarity of the records' values, pair by pair (rapidfuzz, on every core). A
        column of few distinct values (cities, postal codes, streets of a crowded block) is compared
        once per distinct pair of values."""
        column = self.column
        if len(self.uniques) * 2 > len(column) or len(a) < 1_000:
            return process.cpdist(column[a], column[b], scorer=scorer, workers=-1)
        width = len(self.uniques) + 1
        pair, inverse = np.unique((self.codes[a] + 1) * width + self.codes[b] + 1, return_inverse=True)
        first = np.empty(len(pair), dtype=np.int64)
        first[inverse] = np.arange(len(a))  # a row of each distinct pair (all its rows are alike)
        return process.cpdist(column[a[first]], column[b[first]], scorer=scorer, workers=-1)[inverse]

    def lengths(self) -> np.ndarray:
        """Each record's value length (0: none)."""
        if self._lengths is None:
            per_value = np.fromiter((len(v) for v in self.uniques), dtype=np.int64, count=len(self.uniques))
            self._lengths = np.r_[per_value, 0][self.codes]  # code -1 (no value): the appended 0
        return self._lengths

    def initials(self) -> tuple[np.ndarray, np.ndarray]:
        """Each record's number of words and their first letters by position (0 padding)."""
        if self._initials is None:
            counts = np.zeros(len(self.uniques) + 1, dtype=np.int16)
            letters = np.zeros((len(self.uniques) + 1, MAX_WORDS), dtype=np.int32)
            for i, value in enumerate(self.uniques):
                words = value.split()
                counts[i] = len(words)
                for j, word in enumerate(words[:MAX_WORDS]):
                    letters[i, j] = ord(word[0])
            self._initials = (counts[self.codes], letters[self.codes])
        return self._initials

    def abbreviated(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Per pair: the same number of words, each equal or an abbreviation of the other's, not all equal."""
        column = self.column
        counts, letters = self.initials()
        # Word by word abbreviations share the number of words and every first letter: look only there.
        maybe = (counts[a] == counts[b]) & (letters[a] == letters[b]).all(axis=1)
        out = np.zeros(len(a), dtype=bool)
        rows = np.flatnonzero(maybe)
        if not len(rows):
            return out
        a, b = a[rows], b[rows]

        def check(i: int, j: int) -> bool:
            left, right = column[i].split(), column[j].split()
            if len(left) != len(right) or left == right:
                return False
            return all(
                x == y or abbreviates(x, y) or abbreviates(y, x) for x, y in zip(left, right, strict=True)
            )

        out[rows] = np.fromiter(
            (check(i, j) for i, j in zip(a.tolist(), b.tolist(), strict=True)), dtype=bool, count=len(a)
        )
        return out

    def differ_in(self, words: frozenset[str], a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Per pair: whether a word one value has and the other lacks is one of ``words``."""
        column = self.column
        return np.fromiter(
            (
                bool(words & set(column[i].split()).symmetric_difference(column[j].split()))
                for i, j in zip(a.tolist(), b.tolist(), strict=True)
            ),
            dtype=bool,
            count=len(a),
        )

    def tokens(self) -> np.ndarray:
        """Each record's words as integer ids (up to ``MAX_WORDS``, -1 padding): shape (records, words)."""
        if self._tokens is None:
            ids: dict[str, int] = {}
            out = np.full((len(self.uniques) + 1, MAX_WORDS), -1, dtype=np.int32)
            for i, value in enumerate(self.uniques):
                for j, word in enumerate(dict.fromkeys(value.split())):
                    if j >= MAX_WORDS:
                        break
                    out[i, j] = ids.setdefault(word, len(ids))
            self._tokens = out[self.codes]  # code -1 (no value): the appended row of padding
        return self._tokens


def _one_word_replaced(tokens: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairs whose values each have exactly one word the other lacks, and share at least one."""
    out = np.zeros(len(a), dtype=bool)
    for start in range(0, len(a), 100_000):
        left, right = tokens[a[start : start + 100_000]], tokens[b[start : start + 100_000]]
        equal = (left[:, :, None] == right[:, None, :]) & (left[:, :, None] >= 0)
        left_shared = equal.any(axis=2).sum(axis=1)
        right_shared = equal.any(axis=1).sum(axis=1)
        left_words, right_words = (left >= 0).sum(axis=1), (right >= 0).sum(axis=1)
        out[start : start + 100_000] = (
            (left_shared >= 1) & (left_words - left_shared == 1) & (right_words - right_shared == 1)
        )
    return out


class Scorer:
    """Comparison levels, weights and evidence for pairs of records of one pool."""

    def __init__(self, pool: Pool, config: MatchConfig):
        self.pool = pool
        self.config = config
        self.columns = [_ComparisonColumns(pool, c) for c in config.comparisons]
        names = [c.name for c in config.comparisons]
        self._only_without = [
            (k, names.index(c.only_without)) for k, c in enumerate(config.comparisons) if c.only_without
        ]
        self.model: MatchModel | None = None
        self._weights: list[np.ndarray] = []
        self._tf_level: list[int] = []  # per comparison: index of the TF-adjusted exact level, or -1
        self._tf_m: list[float] = []

    # --- levels --------------------------------------------------------------------------------------

    def levels(
        self,
        a: np.ndarray,
        b: np.ndarray,
        cheap: bool = False,
        known: dict[int, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Level index hit by each pair for each comparison: shape (pairs, comparisons).

        ``cheap``: only the levels up to a comparison's first similarity level (null and exact levels,
        on integer codes); pairs those leave open get -1. ``known``: levels already worked out, per
        comparison index (-1 where not), as ``keep_above`` gives them: only the rest are computed.
        """
        out = np.empty((len(a), len(self.columns)), dtype=np.int8)
        for k, columns in enumerate(self.columns):
            if known is not None and k in known:
                column = known[k].copy()
                missing = np.flatnonzero(column < 0)
                if len(missing):
                    column[missing] = self._levels_of(columns, a[missing], b[missing], cheap)
                out[:, k] = column
                continue
            out[:, k] = self._levels_of(columns, a, b, cheap)
        for k, j in self._only_without:
            out[out[:, j] != 0, k] = 0  # the other comparison could compare: this one lands on null
        return out

    def needs_steward(self, levels: np.ndarray) -> np.ndarray | None:
        """Per pair: a comparison whose level never links automatically (``auto_link: false``), or -1;
        None when no level says so."""
        manual = [
            (k, i)
            for k, c in enumerate(self.config.comparisons)
            for i, lv in enumerate(c.levels)
            if not lv.auto_link
        ]
        if not manual:
            return None
        out = np.full(len(levels), -1, dtype=np.int16)
        for k, i in reversed(manual):
            out[levels[:, k] == i] = k
        return out

    def keep_above(
        self, a: np.ndarray, b: np.ndarray, log_odds: float
    ) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """Which pairs could reach ``log_odds`` (the model must be set), without their similarities:
        the cheap levels, and for each comparison they leave open its best weight further down; then,
        for the pairs still in, the full levels of the most decisive comparison (usually the name).
        Also returns the levels worked out on the way (``levels(known=...)`` need not redo them)."""
        assert self.model is not None
        levels = self.levels(a, b, cheap=True)
        bound = self._bound(levels, a)
        keep = bound >= log_odds
        k = self._decisive
        rows = np.flatnonzero(keep & (levels[:, k] < 0))
        if len(rows):  # tighten: the decisive comparison in full
            full = self._levels_of(self.columns[k], a[rows], b[rows])
            bound[rows] += self._weights[k][full] - self._best_open[k]
            keep[rows] = bound[rows] >= log_odds
            levels[rows, k] = full
        # Cheap levels that hit are final; the decisive comparison is complete where it was computed.
        return keep, {k: levels[:, k]}

    def _bound(self, levels: np.ndarray, a: np.ndarray) -> np.ndarray:
        total = np.full(len(levels), self.model.prior_weight if self.model else 0.0)
        weights = self.weight_matrix(np.maximum(levels, 0), a)
        for k in range(len(self.columns)):
            open_rows = levels[:, k] < 0
            weights[open_rows, k] = self._best_open[k]
        return total + weights.sum(axis=1)

    def _levels_of(
        self, columns: _ComparisonColumns, a: np.ndarray, b: np.ndarray, cheap: bool = False
    ) -> np.ndarray:
        comparison = columns.comparison
        hit = np.full(len(a), -1, dtype=np.int8)
        ca, cb = columns.codes[a], columns.codes[b]
        # Similarity per scorer, computed once for the rows open when a level first asks for it (later
        # levels only ever ask for fewer rows).
        cached: dict[str, np.ndarray] = {}

        def similarity(kind: str, rows: np.ndarray, key: str | None = None) -> np.ndarray:
            key = key or kind
            if key not in cached:
                scorer, scale = _SIMILARITY[kind]
                full = np.zeros(len(a), dtype=np.float64)
                full[rows] = columns.similarity(scorer, a[rows], b[rows]) / scale
                cached[key] = full
            return cached[key][rows]

        for index, level in enumerate(comparison.levels):
            open_rows = np.flatnonzero(hit < 0)
            if not len(open_rows) or (cheap and index >= columns.first_similarity):
                break
            if level.kind == "null":
                cond = (ca[open_rows] < 0) | (cb[open_rows] < 0)
                if columns.systems is not None:
                    cond |= ~self.pool.between(columns.systems, a[open_rows], b[open_rows])
            elif level.kind == "exact":
                codes = columns.level_codes.get(index, columns.codes)
                la, lb = codes[a[open_rows]], codes[b[open_rows]]
                cond = (la == lb) & (la >= 0)
            elif level.kind == "else":
                cond = np.ones(len(open_rows), dtype=bool)
            elif level.kind == "token_subset":  # every word of one value is in the other, which has more
                cond = similarity("token_set_ratio", open_rows) >= 1.0 - EPSILON
                subset = open_rows[cond]  # the word order only matters where one set holds the other
                cond[cond] = similarity("token_sort_ratio", subset, "token_sort_ratio/subset") < 1.0 - EPSILON
                if level.words:
                    rows = np.flatnonzero(cond)
                    cond[rows] = columns.differ_in(level.words, a[open_rows[rows]], b[open_rows[rows]])
            elif level.kind == "token_replaced":
                cond = np.zeros(len(open_rows), dtype=bool)
                # Sharing all words but one needs some token overlap: look only where there is some.
                near = np.flatnonzero(similarity("token_set_ratio", open_rows) >= 0.5)
                if len(near):
                    cond[near] = _one_word_replaced(columns.tokens(), a[open_rows[near]], b[open_rows[near]])
                if level.words:
                    rows = np.flatnonzero(cond)
                    cond[rows] = columns.differ_in(level.words, a[open_rows[rows]], b[open_rows[rows]])
            elif level.kind == "abbreviation":
                cond = np.zeros(len(open_rows), dtype=bool)
                near = np.flatnonzero(similarity("token_set_ratio", open_rows) >= 0.4)
                if len(near):
                    cond[near] = columns.abbreviated(a[open_rows[near]], b[open_rows[near]])
            elif level.kind == "edit_distance":
                la, lb = a[open_rows], b[open_rows]
                edits = process.cpdist(
                    columns.column[la],
                    columns.column[lb],
                    scorer=distance.DamerauLevenshtein.distance,
                    workers=-1,
                )
                shorter = np.minimum(columns.lengths()[la], columns.lengths()[lb])
                cond = (edits <= (level.max_edits or 0)) & (edits * 4 <= shorter)
            else:
                cond = similarity(level.kind, open_rows) >= (level.threshold or 0.0) - EPSILON
            hit[open_rows[cond]] = index
        return hit

    # --- weights -------------------------------------------------------------------------------------

    def use(self, model: MatchModel) -> None:
        """Score with ``model``'s parameters from now on."""
        self.model = model
        self._weights = []
        self._tf_level = []
        self._tf_m = []
        for columns in self.columns:
            comparison = columns.comparison
            params = model.levels[comparison.name]
            self._weights.append(np.array([p.weight for p in params], dtype=np.float64))
            tf_index = -1
            if comparison.tf_adjustment:
                tf_index = next(
                    (i for i, lv in enumerate(comparison.levels) if lv.kind == "exact" and not lv.transform),
                    -1,
                )
            self._tf_level.append(tf_index)
            self._tf_m.append((params[tf_index].m or 0.0) if tf_index >= 0 else 0.0)
        # Per comparison: the best weight a pair the cheap levels leave open can still get; and the
        # comparison whose open levels range widest (the one worth computing in full first).
        self._best_open = [
            float(weights[columns.first_similarity :].max())
            if columns.first_similarity < len(weights)
            else 0.0
            for weights, columns in zip(self._weights, self.columns, strict=True)
        ]
        spans = [
            float(weights[columns.first_similarity :].max() - weights[columns.first_similarity :].min())
            if columns.first_similarity < len(weights)
            else 0.0
            for weights, columns in zip(self._weights, self.columns, strict=True)
        ]
        self._decisive = int(np.argmax(spans)) if spans else 0

    def tf_weight(self, k: int, i: int) -> float | None:
        """The term-frequency-adjusted weight of comparison ``k``'s exact level for record ``i``'s value."""
        columns = self.columns[k]
        code = int(columns.codes[i])
        if self._tf_level[k] < 0 or code < 0:
            return None
        frequency = max(float(columns.frequency[code]), 1e-12)
        return float(np.log2(self._tf_m[k] / frequency))

    def weight_matrix(self, levels: np.ndarray, a: np.ndarray) -> np.ndarray:
        """Match weight per pair and comparison (``a``: the left records, for the term frequencies)."""
        out = np.empty(levels.shape, dtype=np.float64)
        for k, weights in enumerate(self._weights):
            column = levels[:, k]
            out[:, k] = weights[column]
            tf_index = self._tf_level[k]
            if tf_index >= 0:
                rows = np.flatnonzero(column == tf_index)
                if len(rows):
                    frequency = self.columns[k].frequency[self.columns[k].codes[a[rows]]]
                    out[rows, k] = np.log2(self._tf_m[k] / np.maximum(frequency, 1e-12))
        return out

    def total_weight(self, levels: np.ndarray, a: np.ndarray) -> np.ndarray:
        """Summed match weight per pair (``a``: the left records, for the term frequencies)."""
        return self.weight_matrix(levels, a).sum(axis=1)

    def log2_odds(self, levels: np.ndarray, a: np.ndarray) -> np.ndarray:
        assert self.model is not None, "Scorer.use(model) first"
        return self.model.prior_weight + self.total_weight(levels, a)

    def score(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Match probability of arbitrary pairs (the model must be set)."""
        if not len(a):
            return np.zeros(0, dtype=np.float64)
        return probabilities(self.log2_odds(self.levels(a, b), a))

    # --- evidence ------------------------------------------------------------------------------------

    def evidence(self, levels: np.ndarray, weights: np.ndarray) -> dict[str, Any]:
        """Why a pair scored as it did, compactly: its level and its weight per comparison (in the
        settings' order; the weight term-frequency adjusted where that applies), the prior and the sum.
        ``mdm.match.evidence.describe`` turns it into labels, values and m/u with the model."""
        assert self.model is not None
        weight_row = weights.tolist()
        total = sum(weight_row)
        return {
            "model_version": self.model.version,
            "levels": levels.tolist(),
            "weights": weight_row,
            "prior_weight": round(self.model.prior_weight, 3),
            "total_weight": round(total, 3),
            "probability": round(probability(self.model.prior_weight + total), 6),
        }
