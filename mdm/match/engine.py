"""The match engine: xref -> deterministic rules -> blocked fuzzy comparisons -> clusters and decisions.

Records of both systems go into one pool, so cross-system pairs and duplicates inside one system are
found by the same rules. Candidate pairs come from blocks (records sharing every key of a rule); a pair
that an earlier rule already produced is skipped by comparing that rule's key codes, so no global pair
set is ever held and memory stays flat. Pairs are scored in chunks with numpy and
``rapidfuzz.process.cpdist``; only pairs at or above the low threshold are kept.

Clustering is union-find over, in this order: the xref (records already linked to one golden record),
steward-approved pairs, deterministic links, then fuzzy auto links by falling score. A link that would
join two different existing golden records is sent to review instead; a pair the steward rejected (or
decided to keep as a new record) stays apart until either record's values hash changes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from rapidfuzz import distance, fuzz, process

from mdm.match.config import Comparison, Feature, KeyRule, MatchConfig

RecordRef = tuple[str, str]  # (system, source_key)
PairKey = tuple[RecordRef, RecordRef]  # ordered: left < right
Band = Literal["auto", "review"]

KEEP_APART = frozenset({"rejected", "new"})  # steward statuses that keep a pair apart
PAIR_CHUNK = 250_000  # candidate pairs scored per numpy batch

_SIMILARITY = {
    "jaro_winkler": (distance.JaroWinkler.normalized_similarity, 1.0),
    "jaro": (distance.Jaro.normalized_similarity, 1.0),
    "levenshtein": (distance.Levenshtein.normalized_similarity, 1.0),
    "ratio": (fuzz.ratio, 100.0),
    "token_set_ratio": (fuzz.token_set_ratio, 100.0),
    "token_sort_ratio": (fuzz.token_sort_ratio, 100.0),
    "partial_ratio": (fuzz.partial_ratio, 100.0),
}
_EPSILON = 1e-6  # cpdist answers in float32; 0.95 must still pass a 0.95 threshold


class CanonicalLike(Protocol):
    """What the engine needs of a record: a MatchRecord, a CanonicalRecord row, or anything alike."""

    system: str
    source_key: str
    values: dict[str, Any]
    values_hash: str


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


# --- the record pool -----------------------------------------------------------------------------------


class _Pool:
    """Records as arrays: system codes, values hashes, feature values and key codes, built once."""

    def __init__(self, records: Iterable[CanonicalLike], xref: Mapping[RecordRef, str]):
        self.refs: list[RecordRef] = []
        self.values: list[dict[str, Any]] = []
        self.hashes: list[str] = []
        seen: set[RecordRef] = set()
        for record in records:
            ref = (record.system, record.source_key)
            if ref in seen:
                raise ValueError(f"record {ref} given twice")
            seen.add(ref)
            self.refs.append(ref)
            self.values.append(record.values)
            self.hashes.append(record.values_hash)
        self.index = {ref: i for i, ref in enumerate(self.refs)}
        self.systems = sorted({ref[0] for ref in self.refs})
        self.system_code = np.fromiter(
            (self.systems.index(ref[0]) for ref in self.refs), dtype=np.int16, count=len(self.refs)
        )
        golden = sorted({g for ref, g in xref.items() if ref in self.index})
        golden_code = {g: i for i, g in enumerate(golden)}
        self.golden_ids = golden
        self.golden = np.full(len(self.refs), -1, dtype=np.int64)
        for ref, g in xref.items():
            i = self.index.get(ref)
            if i is not None:
                self.golden[i] = golden_code[g]
        self._features: dict[Feature, list[str | None]] = {}
        self._rule_codes: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.refs)

    def feature(self, feature: Feature) -> list[str | None]:
        """The feature's value for every record, computed once; repeated inputs are transformed once."""
        if feature not in self._features:
            if feature.transform == "name_first_token":  # derived from name_core, which is kept anyway
                core = self.feature(Feature(feature.fields, "name_core"))
                column = [c.split(" ", 1)[0] if c else None for c in core]
                if feature.prefix:
                    column = [c[: feature.prefix] if c else None for c in column]
            else:
                seen: dict[tuple[Any, ...], str | None] = {}
                column = []
                for values in self.values:
                    inputs = tuple(values.get(f) for f in feature.fields)
                    if inputs not in seen:
                        seen[inputs] = feature.of(values)
                    column.append(seen[inputs])
            self._features[feature] = column
        return self._features[feature]

    def rule_codes(self, rule: KeyRule) -> np.ndarray:
        """One integer per record for the rule's composite key; -1 when any key part is missing."""
        if rule.name not in self._rule_codes:
            columns = [self.feature(k) for k in rule.keys]
            codes: dict[tuple[str, ...], int] = {}
            out = np.full(len(self), -1, dtype=np.int64)
            for i, parts in enumerate(zip(*columns, strict=True)):
                if any(p is None for p in parts):
                    continue
                out[i] = codes.setdefault(parts, len(codes))
            self._rule_codes[rule.name] = out
        return self._rule_codes[rule.name]

    def system_ok(self, rule: KeyRule, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if rule.systems is None:
            return np.ones(len(a), dtype=bool)
        first, second = (self.systems.index(s) if s in self.systems else -99 for s in rule.systems)
        sa, sb = self.system_code[a], self.system_code[b]
        return ((sa == first) & (sb == second)) | ((sa == second) & (sb == first))


# --- candidate pairs -----------------------------------------------------------------------------------


def _block_pairs(codes: np.ndarray, max_block: int, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """All pairs (i < j) of records sharing a code, in chunks; blocks above ``max_block`` are skipped."""
    present = np.flatnonzero(codes >= 0)
    if len(present) < 2:
        return
    order = present[np.argsort(codes[present], kind="stable")]
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    ends = np.r_[starts[1:], len(order)]
    sizes = ends - starts
    keep = (sizes >= 2) & (sizes <= max_block)
    lefts: list[np.ndarray] = []
    rights: list[np.ndarray] = []
    pending = 0
    triu: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for start, end in zip(starts[keep].tolist(), ends[keep].tolist(), strict=True):
        members = np.sort(order[start:end])
        n = end - start
        if n not in triu:
            triu[n] = np.triu_indices(n, 1)
        i, j = triu[n]
        lefts.append(members[i])
        rights.append(members[j])
        pending += len(i)
        if pending >= chunk:
            yield np.concatenate(lefts), np.concatenate(rights)
            lefts, rights, pending = [], [], 0
    if lefts:
        yield np.concatenate(lefts), np.concatenate(rights)


def _candidate_pairs(
    pool: _Pool, rules: list[KeyRule], max_block: int, chunk: int, stats: dict[str, Any]
) -> Iterator[tuple[KeyRule, np.ndarray, np.ndarray]]:
    """Pairs of each rule in order, without pairs an earlier rule produced or the xref already links."""
    for position, rule in enumerate(rules):
        codes = pool.rule_codes(rule)
        count = 0
        for a, b in _block_pairs(codes, max_block, chunk):
            keep = pool.system_ok(rule, a, b)
            keep &= ~((pool.golden[a] == pool.golden[b]) & (pool.golden[a] >= 0))
            for earlier in rules[:position]:
                earlier_codes = pool.rule_codes(earlier)
                covered = (earlier_codes[a] == earlier_codes[b]) & (earlier_codes[a] >= 0)
                keep &= ~(covered & pool.system_ok(earlier, a, b))
            a, b = a[keep], b[keep]
            count += len(a)
            if len(a):
                yield rule, a, b
        stats.setdefault("candidate_pairs", {})[rule.name] = count


# --- scoring -------------------------------------------------------------------------------------------


class _Scorer:
    """Vectorised comparison levels: per pair, the level each comparison hits and the summed weight."""

    def __init__(self, pool: _Pool, config: MatchConfig):
        self.config = config
        self.columns: list[np.ndarray] = []
        self.codes: list[np.ndarray] = []
        self.weights: list[np.ndarray] = []
        for comparison in config.comparisons:
            values = [None if v in comparison.ignore else v for v in pool.feature(comparison.feature)]
            column = np.array(["" if v is None else v for v in values], dtype=object)
            lookup: dict[str, int] = {}
            codes = np.fromiter(
                (-1 if v is None else lookup.setdefault(v, len(lookup)) for v in values),
                dtype=np.int64,
                count=len(values),
            )
            self.columns.append(column)
            self.codes.append(codes)
            self.weights.append(np.array([level.weight for level in comparison.levels], dtype=np.float64))

    def levels(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Level index hit by each pair for each comparison: shape (pairs, comparisons)."""
        out = np.empty((len(a), len(self.config.comparisons)), dtype=np.int8)
        for k, comparison in enumerate(self.config.comparisons):
            out[:, k] = self._levels_of(comparison, self.columns[k], self.codes[k], a, b)
        return out

    @staticmethod
    def _levels_of(
        comparison: Comparison, column: np.ndarray, codes: np.ndarray, a: np.ndarray, b: np.ndarray
    ) -> np.ndarray:
        hit = np.full(len(a), -1, dtype=np.int8)
        ca, cb = codes[a], codes[b]
        for index, level in enumerate(comparison.levels):
            open_rows = np.flatnonzero(hit < 0)
            if not len(open_rows):
                break
            if level.kind == "null":
                cond = (ca[open_rows] < 0) | (cb[open_rows] < 0)
            elif level.kind == "exact":
                cond = (ca[open_rows] == cb[open_rows]) & (ca[open_rows] >= 0)
            elif level.kind == "else":
                cond = np.ones(len(open_rows), dtype=bool)
            else:
                scorer, scale = _SIMILARITY[level.kind]
                similarity = process.cpdist(
                    column[a[open_rows]], column[b[open_rows]], scorer=scorer, workers=-1
                )
                cond = similarity / scale >= (level.threshold or 0.0) - _EPSILON
            hit[open_rows[cond]] = index
        return hit

    def total_weight(self, levels: np.ndarray) -> np.ndarray:
        total = np.zeros(len(levels), dtype=np.float64)
        for k, weights in enumerate(self.weights):
            total += weights[levels[:, k]]
        return total

    def probability(self, total_weight: np.ndarray) -> np.ndarray:
        exponent = np.clip(self.config.prior_weight + total_weight, -60, 60)
        return 1.0 / (1.0 + np.power(2.0, -exponent))

    def evidence(self, pool: _Pool, i: int, j: int, levels: np.ndarray) -> dict[str, Any]:
        items = []
        total = 0.0
        for k, comparison in enumerate(self.config.comparisons):
            level = comparison.levels[int(levels[k])]
            weight = float(self.weights[k][int(levels[k])])
            total += weight
            left, right = self.columns[k][i], self.columns[k][j]
            items.append(
                {
                    "comparison": comparison.name,
                    "level": level.label,
                    "left": left or None,
                    "right": right or None,
                    "weight": round(weight, 3),
                }
            )
        return {
            "comparisons": items,
            "prior_weight": round(self.config.prior_weight, 3),
            "total_weight": round(total, 3),
            "probability": round(float(self.config.probability(total)), 6),
        }


# --- links and clusters --------------------------------------------------------------------------------


@dataclass
class _Link:
    a: int
    b: int
    score: float
    rule: str
    deterministic: bool
    levels: np.ndarray
    keys: dict[str, Any] | None = None


class _UnionFind:
    def __init__(self, size: int, golden: np.ndarray):
        self.parent = list(range(size))
        self.golden: dict[int, set[int]] = {i: {int(g)} for i, g in enumerate(golden.tolist()) if g >= 0}

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def conflict(self, a: int, b: int) -> tuple[set[int], set[int]] | None:
        """The two golden-id sets a union of a and b would join, if they differ and both exist."""
        ra, rb = self.find(a), self.find(b)
        ga, gb = self.golden.get(ra), self.golden.get(rb)
        if ra != rb and ga and gb and ga != gb:
            return ga, gb
        return None

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if rb < ra:
            ra, rb = rb, ra
        self.parent[rb] = ra
        if rb in self.golden:
            self.golden.setdefault(ra, set()).update(self.golden.pop(rb))


def match_records(
    records: Iterable[CanonicalLike],
    config: MatchConfig,
    xref: Mapping[RecordRef, str] | None = None,
    previous: Mapping[PairKey, PreviousDecision] | None = None,
    chunk_size: int = PAIR_CHUNK,
) -> MatchResult:
    """Match canonical records of one entity (both systems together) into clusters, with decisions.

    ``xref`` maps (system, key) to the golden id a record is already linked to; ``previous`` holds the
    stored decisions by pair (``pair_key`` orientation). This is also the function the benchmark calls.
    """
    started = time.perf_counter()
    xref = xref or {}
    previous = previous or {}
    pool = _Pool(records, xref)
    stats: dict[str, Any] = {"records": len(pool)}
    scorer = _Scorer(pool, config)
    rules = [*config.deterministic, *config.blocking]
    deterministic = {r.name for r in config.deterministic}
    links: list[_Link] = []
    scored = 0
    for rule, a, b in _candidate_pairs(pool, rules, config.max_block_size, chunk_size, stats):
        levels = scorer.levels(a, b)
        probability = scorer.probability(scorer.total_weight(levels))
        if rule.name in deterministic:
            for row in range(len(a)):
                i, j = int(a[row]), int(b[row])
                keys = {"+".join(k.fields): pool.feature(k)[i] for k in rule.keys}
                keys["fuzzy_probability"] = round(float(probability[row]), 6)
                links.append(_Link(i, j, 1.0, rule.name, True, levels[row].copy(), keys))
            continue
        scored += len(a)
        for row in np.flatnonzero(probability >= config.low - _EPSILON).tolist():
            links.append(
                _Link(int(a[row]), int(b[row]), float(probability[row]), "fuzzy", False, levels[row].copy())
            )
    stats["scored_pairs"] = scored
    result = _cluster(pool, config, scorer, links, previous, stats)
    stats["seconds"] = round(time.perf_counter() - started, 3)
    result.stats = stats
    return result


def _cluster(
    pool: _Pool,
    config: MatchConfig,
    scorer: _Scorer,
    links: list[_Link],
    previous: Mapping[PairKey, PreviousDecision],
    stats: dict[str, Any],
) -> MatchResult:
    uf = _UnionFind(len(pool), pool.golden)
    first_of_golden: dict[int, int] = {}
    for i, g in enumerate(pool.golden.tolist()):  # the xref: records of one golden record stay together
        if g >= 0:
            uf.union(first_of_golden.setdefault(g, i), i)
    approved = 0
    for (left, right), decision in previous.items():  # steward-approved pairs are linked
        if decision.status == "approved" and left in pool.index and right in pool.index:
            uf.union(pool.index[left], pool.index[right])
            approved += 1
    stats["approved_links"] = approved

    links.sort(key=lambda link: (not link.deterministic, -link.score, link.a, link.b))
    decisions: list[Decision] = []
    reviews: list[tuple[_Link, str | None]] = []
    kept_apart = 0
    for link in links:
        left, right = pair_key(pool.refs[link.a], pool.refs[link.b])
        li, ri = pool.index[left], pool.index[right]
        before = previous.get((left, right))
        if before is not None and before.status in KEEP_APART:
            if before.left_hash == pool.hashes[li] and before.right_hash == pool.hashes[ri]:
                kept_apart += 1
                continue
        if before is not None and before.status == "approved":
            continue
        if link.score < config.high - _EPSILON:
            reviews.append((link, None))
            continue
        conflict = uf.conflict(link.a, link.b)
        if conflict:
            names = sorted(pool.golden_ids[g] for g in conflict[0] | conflict[1])
            reviews.append((link, f"would join golden records {', '.join(names)}"))
            continue
        uf.union(link.a, link.b)
        decisions.append(_decision(pool, scorer, link, "auto", "auto_linked", None))
    stats["kept_apart"] = kept_apart
    settled = 0
    for link, note in reviews:
        if note is None and uf.find(link.a) == uf.find(link.b):
            settled += 1  # linked anyway through other records: nothing left for a steward to decide
            continue
        decisions.append(_decision(pool, scorer, link, "review", "review", note))
    stats["review_settled_by_other_links"] = settled

    groups: dict[int, list[int]] = {}
    for i in range(len(pool)):
        groups.setdefault(uf.find(i), []).append(i)
    clusters = []
    for root, members in groups.items():
        golden = sorted(pool.golden_ids[g] for g in uf.golden.get(root, ()))
        clusters.append(Cluster(tuple(sorted(pool.refs[i] for i in members)), tuple(golden)))
    clusters.sort(key=lambda c: c.members[0])
    stats["auto_links"] = sum(1 for d in decisions if d.band == "auto")
    stats["review"] = sum(1 for d in decisions if d.band == "review")
    stats["clusters"] = len(clusters)
    stats["multi_record_clusters"] = sum(1 for c in clusters if len(c.members) > 1)
    return MatchResult(clusters=clusters, decisions=decisions)


def _decision(
    pool: _Pool, scorer: _Scorer, link: _Link, band: Band, status: str, note: str | None
) -> Decision:
    left, right = pair_key(pool.refs[link.a], pool.refs[link.b])
    li, ri = pool.index[left], pool.index[right]
    evidence = scorer.evidence(pool, li, ri, link.levels)
    evidence["rule"] = link.rule
    if link.keys:
        evidence["keys"] = link.keys
    if note:
        evidence["note"] = note
    return Decision(
        left=left,
        right=right,
        score=round(link.score, 6),
        band=band,
        rule=link.rule,
        status=status,
        evidence=evidence,
        left_hash=pool.hashes[li],
        right_hash=pool.hashes[ri],
    )
