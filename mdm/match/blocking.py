"""Candidate pairs: records sharing every key of a rule, with no block skipped.

A block (records with one key value) of at most ``max_block_size`` records gives all its pairs; a larger
one (a postal code or city shared by hundreds of companies, a group's switchboard number) is compared by
sorted neighbourhood: its records are sorted by each of the rule's ``sort_by`` features (default: the
settings' ``sort_by``, else the first comparison's feature) and each is paired with the next ``window``
records, so cost stays near-linear in its size. Blocks of one size are cut into pairs together, with
numpy, so millions of small blocks cost a handful of array operations.

Rules run in order; a pair an earlier rule already produced is left out (the earlier rule's block had
it complete), so no global pair set is ever held. Pairs from two neighbourhood blocks may still come
twice; the engine keeps one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np

from mdm.config.match import Feature, KeyRule, MatchConfig
from mdm.match.pool import Pool


@dataclass
class RuleStats:
    """What one rule contributed: pairs, blocks, and how many blocks were too large for all pairs."""

    pairs: int = 0
    blocks: int = 0
    large_blocks: int = 0
    largest_block: int = 0
    neighbourhood_pairs: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class _Blocks:
    order: np.ndarray  # record indices, grouped by code
    starts: np.ndarray
    sizes: np.ndarray
    complete: np.ndarray  # per code: True when its block gave all its pairs


class Blocker:
    """Candidate pairs of a pool under a list of rules (deterministic rules first, then blocking)."""

    def __init__(self, pool: Pool, config: MatchConfig, rules: list[KeyRule]):
        self.pool = pool
        self.config = config
        self.rules = rules
        self._blocks: dict[str, _Blocks] = {}
        self._ranks: dict[Feature, np.ndarray] = {}
        self.default_sort = config.sort_by or (config.comparisons[0].feature,)

    def blocks(self, rule: KeyRule) -> _Blocks:
        if rule.name not in self._blocks:
            codes = self.pool.rule_codes(rule)
            present = np.flatnonzero(codes >= 0)
            order = present[np.argsort(codes[present], kind="stable")]
            sorted_codes = codes[order]
            if len(order):
                starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
            else:
                starts = np.zeros(0, dtype=np.int64)
            sizes = np.diff(np.r_[starts, len(order)])
            complete = np.ones(int(codes.max(initial=-1)) + 1, dtype=bool)
            if len(order):
                complete[sorted_codes[starts[sizes > self.config.max_block_size]]] = False
            self._blocks[rule.name] = _Blocks(order, starts, sizes, complete)
        return self._blocks[rule.name]

    def _rank(self, feature: Feature) -> np.ndarray:
        """Each record's position in the sorted values of ``feature`` (no value: after all values)."""
        if feature not in self._ranks:
            codes, uniques = self.pool.factorized(feature)
            # Sort the distinct values only (Python's sort of strings), then rank every record by its code.
            order = sorted(range(len(uniques)), key=uniques.__getitem__)
            rank_of = np.empty(len(uniques) + 1, dtype=np.int64)
            rank_of[np.array(order, dtype=np.int64)] = np.arange(len(uniques), dtype=np.int64)
            rank_of[-1] = len(uniques)  # no value (code -1): after all values
            self._ranks[feature] = rank_of[codes]
        return self._ranks[feature]

    def upper_bound(self) -> int:
        """At most this many pairs come out (before rules leave out each other's pairs)."""
        total = 0
        for rule in self.rules:
            sizes = self.blocks(rule).sizes
            small = sizes[sizes <= self.config.max_block_size]
            large = sizes[sizes > self.config.max_block_size]
            keys = len(rule.sort_by or self.default_sort)
            total += int((small * (small - 1) // 2).sum()) + int((large * self.config.window * keys).sum())
        return total

    def _rule_pairs(self, rule: KeyRule, stats: RuleStats) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        blocks = self.blocks(rule)
        limit = self.config.max_block_size
        stats.blocks = int((blocks.sizes >= 2).sum())
        stats.largest_block = int(blocks.sizes.max(initial=0))
        for size in np.unique(blocks.sizes[(blocks.sizes >= 2) & (blocks.sizes <= limit)]).tolist():
            starts = blocks.starts[blocks.sizes == size]
            members = np.sort(blocks.order[starts[:, None] + np.arange(size)], axis=1)
            i, j = np.triu_indices(size, 1)
            step = max(1, 2_000_000 // max(len(i), 1))  # blocks per slice: bounded memory
            for first in range(0, len(members), step):
                part = members[first : first + step]
                yield part[:, i].ravel(), part[:, j].ravel()
        large = np.flatnonzero(blocks.sizes > limit)
        stats.large_blocks = len(large)
        sort_keys = rule.sort_by or self.default_sort
        for block in large.tolist():
            start, size = int(blocks.starts[block]), int(blocks.sizes[block])
            members = blocks.order[start : start + size]
            lefts, rights = [], []
            for feature in sort_keys:
                ranked = members[np.lexsort((members, self._rank(feature)[members]))]
                for k in range(1, min(self.config.window, size - 1) + 1):
                    lefts.append(ranked[:-k])
                    rights.append(ranked[k:])
            a, b = np.concatenate(lefts), np.concatenate(rights)
            low, high = np.minimum(a, b), np.maximum(a, b)
            unique = np.unique(low * len(self.pool) + high)
            a, b = unique // len(self.pool), unique % len(self.pool)
            stats.neighbourhood_pairs += len(a)
            yield a, b

    def pairs(
        self, chunk: int = 250_000, leave_out_earlier: bool = True
    ) -> Iterator[tuple[KeyRule, np.ndarray, np.ndarray, RuleStats]]:
        """Pairs (a < b) of each rule in order, in chunks of about ``chunk``, without pairs the xref
        already links (and, with ``leave_out_earlier``, pairs an earlier rule produced); each rule's
        stats are complete when its last chunk is out."""
        pool = self.pool
        for position, rule in enumerate(self.rules):
            stats = RuleStats()
            pending_a: list[np.ndarray] = []
            pending_b: list[np.ndarray] = []
            pending = 0
            for a, b in self._rule_pairs(rule, stats):
                keep = pool.between(rule.systems, a, b)
                keep &= ~((pool.golden[a] == pool.golden[b]) & (pool.golden[a] >= 0))
                for earlier in self.rules[:position] if leave_out_earlier else ():
                    codes = pool.rule_codes(earlier)
                    ca = codes[a]
                    covered = (ca == codes[b]) & (ca >= 0)
                    if covered.any():
                        covered[covered] = self.blocks(earlier).complete[ca[covered]]
                        keep &= ~(covered & pool.between(earlier.systems, a, b))
                a, b = a[keep], b[keep]
                stats.pairs += len(a)
                if len(a):
                    pending_a.append(a)
                    pending_b.append(b)
                    pending += len(a)
                if pending >= chunk:
                    yield rule, np.concatenate(pending_a), np.concatenate(pending_b), stats
                    pending_a, pending_b, pending = [], [], 0
            yield (
                rule,
                (np.concatenate(pending_a) if pending_a else np.zeros(0, dtype=np.int64)),
                (np.concatenate(pending_b) if pending_b else np.zeros(0, dtype=np.int64)),
                stats,
            )

    def members(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Per pair and rule: do both records share the rule's key (shape (pairs, rules))."""
        out = np.zeros((len(a), len(self.rules)), dtype=bool)
        for r, rule in enumerate(self.rules):
            codes = self.pool.rule_codes(rule)
            out[:, r] = (codes[a] == codes[b]) & (codes[a] >= 0) & self.pool.between(rule.systems, a, b)
        return out


@dataclass
class CandidatePairs:
    """Every candidate pair of a run (a < b, each pair once).

    ``rule`` indexes ``rules`` (the deterministic rules first, ``deterministic`` of them): the first rule
    that produced the pair.
    """

    rules: list[KeyRule]
    deterministic: int
    a: np.ndarray
    b: np.ndarray
    rule: np.ndarray
    stats: dict[str, RuleStats]

    def __len__(self) -> int:
        return len(self.a)

    @property
    def is_deterministic(self) -> np.ndarray:
        return self.rule < self.deterministic


def candidate_pairs(pool: Pool, config: MatchConfig, chunk: int = 250_000) -> CandidatePairs:
    """All candidate pairs of the deterministic and blocking rules."""
    rules = [*config.deterministic, *config.blocking]
    parts_key, parts_rule = [], []
    stats: dict[str, RuleStats] = {}
    n = len(pool)
    for rule, a, b, rule_stats in Blocker(pool, config, rules).pairs(chunk, leave_out_earlier=False):
        stats[rule.name] = rule_stats
        if len(a):
            parts_key.append(a.astype(np.int64) * n + b)
            parts_rule.append(np.full(len(a), rules.index(rule), dtype=np.int16))
    if not parts_key:
        empty = np.zeros(0, dtype=np.int64)
        return CandidatePairs(rules, len(config.deterministic), empty, empty, empty.astype(np.int16), stats)
    # One row per pair, credited to the first rule that found it (rules were collected in order, and a
    # stable sort keeps that order among equal keys).
    key, rule_index = np.concatenate(parts_key), np.concatenate(parts_rule)
    del parts_key, parts_rule
    order = np.argsort(key, kind="stable")
    key, rule_index = key[order], rule_index[order]
    first = np.r_[True, key[1:] != key[:-1]]
    key, rule_index = key[first], rule_index[first]
    per_rule = np.bincount(rule_index, minlength=len(rules))
    for r, rule in enumerate(rules):
        stats[rule.name].pairs = int(per_rule[r])  # the pairs no earlier rule found
    return CandidatePairs(rules, len(config.deterministic), key // n, key % n, rule_index, stats)
