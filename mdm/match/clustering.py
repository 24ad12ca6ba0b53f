"""Clustering under constraints: scored links joined into clusters strongest first, never across a
constraint (two VAT ids, a steward's 'keep apart'), with chains through a weak link broken."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mdm.config.match import KeyRule, MatchConfig
from mdm.match.constraints import Constraints
from mdm.match.pool import Pool
from mdm.match.records import (
    AMBIGUITY_MARGIN,
    KEEP_APART,
    Band,
    Cluster,
    Decision,
    MatchResult,
    PairKey,
    PreviousDecision,
    ScoredLinks,
    auto_link_threshold,
    pair_key,
)
from mdm.match.scoring import EPSILON, Scorer


class _Clusters:
    """Union-find with per-cluster members, golden ids and constraint values."""

    def __init__(self, pool: Pool, constraints: list[Constraints]):
        self.parent = list(range(len(pool)))
        self.golden: dict[int, set[int]] = {i: {int(g)} for i, g in enumerate(pool.golden.tolist()) if g >= 0}
        self.members: dict[int, list[int]] = {}
        self.constraints = constraints
        # Per constraint group, root -> the constraint values its cluster holds, worked out when first
        # asked for (most clusters are never asked: two single records were checked as a pair).
        self.state: list[dict[int, Any]] = [{} for _ in constraints]

    def state_of(self, g: int, root: int) -> Any:
        states = self.state[g]
        if root not in states:
            group = self.constraints[g]
            value = None
            if group:
                for member in self.of(root):
                    value = group.merged(value, group.state(member))
            states[root] = value
        return states[root]

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def of(self, root: int) -> list[int]:
        return self.members.get(root, [root])

    def golden_conflict(self, ra: int, rb: int) -> set[int] | None:
        ga, gb = self.golden.get(ra), self.golden.get(rb)
        if ga and gb and ga != gb:
            return ga | gb
        return None

    def constraint_conflict(self, ra: int, rb: int) -> tuple[int, int, Any, Any] | None:
        """(group, constraint, value, value) joining the two clusters would break, or None.

        Two single records need no look: their pair was checked (and dropped or capped) already."""
        if ra not in self.members and rb not in self.members:
            return None
        for g, group in enumerate(self.constraints):
            if not group:
                continue
            found = group.cluster_conflict(self.state_of(g, ra), self.state_of(g, rb))
            if found:
                return (g, *found)
        return None

    def union(self, ra: int, rb: int) -> int:
        if ra == rb:
            return ra
        if rb < ra:
            ra, rb = rb, ra
        self.parent[rb] = ra
        members = self.members
        members[ra] = members.get(ra, [ra]) + (members.pop(rb, None) or [rb])
        if rb in self.golden:
            self.golden.setdefault(ra, set()).update(self.golden.pop(rb))
        for states in self.state:  # worked out again from the members when next asked for
            states.pop(ra, None)
            states.pop(rb, None)
        return ra


class Clustering:
    def __init__(
        self,
        pool: Pool,
        config: MatchConfig,
        scorer: Scorer,
        cannot_link: Constraints,
        review_when: Constraints,
        previous: Mapping[PairKey, PreviousDecision],
        stats: dict[str, Any],
    ):
        self.pool = pool
        self.config = config
        self.scorer = scorer
        self.cannot_link = cannot_link
        self.review_when = review_when
        self.previous = previous
        self.stats = stats
        self.rules = [*config.deterministic, *config.blocking]
        self.uf = _Clusters(pool, [cannot_link, review_when])
        self._pair_scores: dict[tuple[int, int], float] = {}
        self._rows: tuple[Any, ...] | None = None
        self._keys: dict[str, list[tuple[str, list[str | None]]]] = {}

    def _rule_keys(self, rule: KeyRule) -> list[tuple[str, list[str | None]]]:
        if rule.name not in self._keys:
            self._keys[rule.name] = [("+".join(k.fields), self.pool.feature(k)) for k in rule.keys]
        return self._keys[rule.name]

    def pair_score(self, i: int, j: int) -> float:
        key = (i, j) if i < j else (j, i)
        if key not in self._pair_scores:
            self.score_pairs([key])
        return self._pair_scores[key]

    def score_pairs(self, pairs: list[tuple[int, int]]) -> None:
        """Score pairs not scored yet, all at once (a < b)."""
        missing = [p for p in dict.fromkeys(pairs) if p not in self._pair_scores]
        if missing:
            a = np.array([p[0] for p in missing])
            b = np.array([p[1] for p in missing])
            self._pair_scores.update(zip(missing, self.scorer.score(a, b).tolist(), strict=True))

    def same_system_break(self, ra: int, rb: int) -> tuple[int, int, float] | None:
        """Two records of one system, one in each cluster, whose own pair scores below low."""
        if ra not in self.uf.members and rb not in self.uf.members:
            return None  # two single records: their own pair is the link being made
        xs, ys = self.uf.of(ra), self.uf.of(rb)
        codes = self.pool.system_code
        pairs = [(x, y) for x in xs for y in ys if codes[x] == codes[y]]
        if not pairs:
            return None
        self.score_pairs([(min(x, y), max(x, y)) for x, y in pairs])
        for x, y in pairs:
            s = self._pair_scores[(min(x, y), max(x, y))]
            if s < self.config.low - EPSILON:
                return x, y, s
        return None

    def ambiguous(self, links: ScoredLinks, eligible: np.ndarray) -> dict[int, str]:
        """Row -> note, for auto links of a record that auto-matches records which must stay apart.

        Two such links closer than ``AMBIGUITY_MARGIN`` (log2 odds) are both ambiguous; when the
        record's strongest link is ambiguous, so is every link of it to a record in such a conflict.
        """
        rows_all = np.flatnonzero(eligible)
        ends = np.concatenate([links.a[rows_all], links.b[rows_all]])
        end_rows = np.concatenate([rows_all, rows_all])
        unique, counts = np.unique(ends, return_counts=True)
        busy = np.isin(ends, unique[counts >= 2])  # only records with two or more auto links
        by_end: dict[int, list[int]] = {}
        for end, row in zip(ends[busy].tolist(), end_rows[busy].tolist(), strict=True):
            by_end.setdefault(end, []).append(row)
        notes: dict[int, str] = {}
        refs = self.pool.refs
        codes = self.pool.system_code
        left, right = links.a.tolist(), links.b.tolist()
        partners_of = {
            end: [right[r] if left[r] == end else left[r] for r in rows] for end, rows in by_end.items()
        }
        # Every pair of partners of one record, checked at once: (end, x, y) -> why they stay apart.
        triples = [
            (end, x, y)
            for end, partners in partners_of.items()
            for x in range(len(partners))
            for y in range(x + 1, len(partners))
        ]
        if not triples:
            return notes
        p = np.array([partners_of[end][x] for end, x, _ in triples])
        q = np.array([partners_of[end][y] for end, _, y in triples])
        lo, hi = np.minimum(p, q), np.maximum(p, q)
        reasons: list[str | None] = [None] * len(triples)
        grouped = self.uf.members
        for group in (self.cannot_link, self.review_when):
            if not group:
                continue
            broken = group.pair_conflicts(lo, hi)
            for t in np.flatnonzero(broken >= 0).tolist():
                if reasons[t] is not None:
                    continue
                end, pp, qq = triples[t][0], int(p[t]), int(q[t])
                k = int(broken[t])
                if group.constraints[k].kind == "reference" or grouped:
                    reasons[t] = self._apart(end, pp, qq)  # owners and claims: as clusters, not pairs
                else:
                    reasons[t] = group.describe(k, pp, qq)
        if grouped:  # records already in clusters (the xref): constraints as clusters too
            for t, (end, _x, _y) in enumerate(triples):
                if reasons[t] is None and ({end, int(p[t]), int(q[t])} & grouped.keys()):
                    reasons[t] = self._apart(end, int(p[t]), int(q[t]))
        same = np.flatnonzero((codes[p] == codes[q]) & np.array([r is None for r in reasons]))
        if len(same):
            self.score_pairs(list(zip(lo[same].tolist(), hi[same].tolist(), strict=True)))
            for t in same.tolist():
                score = self._pair_scores[(int(lo[t]), int(hi[t]))]
                if score < self.config.low - EPSILON:
                    reasons[t] = f"their own pair scores {score:.3f}"
        conflicts_of: dict[int, list[tuple[int, int, str]]] = {}
        for (end, x, y), reason in zip(triples, reasons, strict=True):
            if reason is not None:
                conflicts_of.setdefault(end, []).append((x, y, reason))
        for end, conflicts in conflicts_of.items():
            rows = by_end[end]
            partners = partners_of[end]
            odds = [float(links.log_odds[r]) for r in rows]
            marked: dict[int, tuple[int, str]] = {}
            for x, y, reason in conflicts:
                if abs(odds[x] - odds[y]) < AMBIGUITY_MARGIN:
                    marked.setdefault(x, (y, reason))
                    marked.setdefault(y, (x, reason))
            best = max(range(len(rows)), key=lambda k: odds[k])
            if best in marked:
                for x, y, reason in conflicts:
                    marked.setdefault(x, (y, reason))
                    marked.setdefault(y, (x, reason))
            for x, (y, reason) in marked.items():
                notes[rows[x]] = (
                    f"ambiguous: {refs[end][0]}:{refs[end][1]} also matches {refs[partners[y]][0]}:"
                    f"{refs[partners[y]][1]} about as well, and those two stay apart ({reason})"
                )
        return notes

    def _apart(self, end: int, p: int, q: int) -> str | None:
        """Why a cluster of ``end`` and ``p`` could not take ``q`` (constraints, or a weak own pair)."""
        uf = self.uf
        for g, group in enumerate((self.cannot_link, self.review_when)):
            if not group:
                continue
            found = group.cluster_conflict(
                group.merged(uf.state_of(g, uf.find(end)), uf.state_of(g, uf.find(p))),
                uf.state_of(g, uf.find(q)),
            )
            if found:
                k, x, y = found
                return f"{group.name(k)}: {group.show(k, x)} / {group.show(k, y)}"
        codes = self.pool.system_code
        if codes[p] == codes[q] and self.pair_score(p, q) < self.config.low - EPSILON:
            return f"their own pair scores {self.pair_score(p, q):.3f}"
        return None

    def run(self, links: ScoredLinks) -> MatchResult:
        pool, config, uf, stats = self.pool, self.config, self.uf, self.stats
        first_of_golden: dict[int, int] = {}
        for i, g in enumerate(pool.golden.tolist()):  # the xref: records of one golden record stay together
            if g >= 0:
                uf.union(uf.find(first_of_golden.setdefault(g, i)), uf.find(i))
        approved = 0
        for (left, right), decision in self.previous.items():  # steward-approved pairs are linked
            if decision.status == "approved" and left in pool.index and right in pool.index:
                uf.union(uf.find(pool.index[left]), uf.find(pool.index[right]))
                approved += 1
        stats["approved_links"] = approved

        self._pair_scores.update(
            zip(zip(links.a.tolist(), links.b.tolist(), strict=True), links.score.tolist(), strict=True)
        )
        never = self.cannot_link.pair_conflicts(links.a, links.b) if self.cannot_link else None
        capped = self.review_when.pair_conflicts(links.a, links.b) if self.review_when else None
        if never is not None:
            stats["cannot_link_pairs"] = int((never >= 0).sum())
            keep = never < 0
            links = links.take(np.flatnonzero(keep))
            capped = capped[keep] if capped is not None else None
        auto_threshold, expected = auto_link_threshold(
            links.score[~links.deterministic], config.high, config.target_precision
        )
        stats["auto_threshold"] = round(auto_threshold, 6)
        # A deterministic rule's pair (same VAT id, the SAP number in the CRM) links unless its other
        # fields contradict it (a score below low): then a steward decides. A fuzzy pair links at the
        # auto threshold.
        eligible = np.where(
            links.deterministic, links.score >= config.low - EPSILON, links.score >= auto_threshold - EPSILON
        )
        manual = self.scorer.needs_steward(links.levels)
        if manual is not None:
            eligible &= manual < 0
            stats["review_by_level"] = int((manual >= 0).sum())
        if capped is not None:
            eligible &= capped < 0
            stats["review_capped_pairs"] = int((capped >= 0).sum())
        notes = self.ambiguous(links, eligible)
        stats["ambiguous_links"] = len(notes)

        decisions: list[Decision] = []
        # A link whose two records take part in no other link, are on their own and carry at most one
        # golden id between them cannot meet any conflict: link it without the checks below.
        ends = np.bincount(np.concatenate([links.a, links.b]), minlength=len(pool))
        alone = eligible & (ends[links.a] == 1) & (ends[links.b] == 1)
        alone &= (pool.golden[links.a] < 0) | (pool.golden[links.b] < 0)
        if uf.members:
            grouped = np.zeros(len(pool), dtype=bool)
            grouped[[m for members in uf.members.values() for m in members]] = True
            alone &= ~grouped[links.a] & ~grouped[links.b]
        if self.previous:
            alone &= ~np.fromiter(
                (
                    pair_key(pool.refs[i], pool.refs[j]) in self.previous
                    for i, j in zip(links.a.tolist(), links.b.tolist(), strict=True)
                ),
                dtype=bool,
                count=len(links),
            )
        parent, members = uf.parent, uf.members
        for row in np.flatnonzero(alone).tolist():
            i, j = int(links.a[row]), int(links.b[row])  # two single records (i < j): j joins i
            parent[j] = i
            members[i] = [i, j]
            if j in uf.golden:
                uf.golden[i] = uf.golden.pop(j)
            decisions.append(self._decision(links, row, "auto", "auto_linked", None))
        stats["links_without_neighbours"] = int(alone.sum())

        order = np.lexsort((links.b, links.a, ~links.deterministic, -links.score))
        order = order[~alone[order]]
        reviews: list[tuple[int, str | None]] = []
        kept_apart = chain_breaks = same_system = 0
        refs = pool.refs
        for row in order.tolist():
            i, j = int(links.a[row]), int(links.b[row])
            left, right = pair_key(refs[i], refs[j])
            li, ri = pool.index[left], pool.index[right]
            before = self.previous.get((left, right)) if self.previous else None
            if before is not None and before.status in KEEP_APART:
                if before.left_hash == pool.hashes[li] and before.right_hash == pool.hashes[ri]:
                    kept_apart += 1
                    continue
            if before is not None and before.status == "approved":
                continue
            if not eligible[row]:
                note = None
                if capped is not None and capped[row] >= 0:
                    note = f"needs a steward: {self.review_when.describe(int(capped[row]), i, j)}"
                elif manual is not None and manual[row] >= 0:
                    comparison = config.comparisons[int(manual[row])]
                    label = comparison.levels[int(links.levels[row, int(manual[row])])].label
                    note = f"needs a steward: {comparison.name} {label}"
                reviews.append((row, note))
                continue
            if row in notes:
                reviews.append((row, notes[row]))
                continue
            ra, rb = uf.find(i), uf.find(j)
            if ra == rb:
                decisions.append(self._decision(links, row, "auto", "auto_linked", None))
                continue
            golden = uf.golden_conflict(ra, rb)
            if golden:
                names = sorted(pool.golden_ids[g] for g in golden)
                reviews.append((row, f"would join golden records {', '.join(names)}"))
                continue
            conflict = uf.constraint_conflict(ra, rb)
            if conflict:
                group, k, x, y = conflict
                constraint = (self.cannot_link, self.review_when)[group].constraints[k]
                chain_breaks += 1
                shown = (self.cannot_link, self.review_when)[group]
                reviews.append(
                    (
                        row,
                        f"would put records with {constraint.name} in one cluster "
                        f"({shown.show(k, x)} / {shown.show(k, y)})",
                    )
                )
                continue
            broken = self.same_system_break(ra, rb)
            if broken:
                x, y, s = broken
                same_system += 1
                reviews.append(
                    (
                        row,
                        f"would join {refs[x][0]}:{refs[x][1]} and {refs[y][0]}:{refs[y][1]}, whose own pair "
                        f"scores {s:.3f}",
                    )
                )
                continue
            uf.union(ra, rb)
            decisions.append(self._decision(links, row, "auto", "auto_linked", None))
        stats["kept_apart"] = kept_apart
        stats["chain_breaks"] = chain_breaks
        stats["same_system_breaks"] = same_system
        settled = 0
        for row, note in reviews:
            if note is None and uf.find(int(links.a[row])) == uf.find(int(links.b[row])):
                settled += 1  # linked anyway through other records: nothing left for a steward to decide
                continue
            decisions.append(self._decision(links, row, "review", "review", note))
        stats["review_settled_by_other_links"] = settled

        clusters = []
        refs, golden_ids = pool.refs, pool.golden_ids
        for root, members in uf.members.items():
            golden = uf.golden.get(root)
            clusters.append(
                Cluster(
                    tuple(sorted([refs[i] for i in members])),
                    tuple(sorted([golden_ids[g] for g in golden])) if golden else (),
                )
            )
        for i in range(len(pool)):
            if uf.parent[i] == i and i not in uf.members:  # on its own
                golden = uf.golden.get(i)
                clusters.append(Cluster((refs[i],), tuple(golden_ids[g] for g in golden) if golden else ()))
        clusters.sort(key=lambda c: c.members[0])
        auto = [d for d in decisions if d.band == "auto"]
        stats["auto_links"] = len(auto)
        stats["review"] = sum(1 for d in decisions if d.band == "review")
        stats["clusters"] = len(clusters)
        stats["multi_record_clusters"] = sum(1 for c in clusters if len(c.members) > 1)
        if auto:
            stats["estimated_precision"] = round(float(np.mean([d.score for d in auto])), 6)
        stats["expected_matches_kept"] = round(float(links.score.sum()), 1)
        if expected is not None:
            stats["estimated_precision_at_threshold"] = round(expected, 6)
        return MatchResult(clusters=clusters, decisions=decisions)

    def _decision(self, links: ScoredLinks, row: int, band: Band, status: str, note: str | None) -> Decision:
        if self._rows is None or self._rows[0] is not links:  # the links as plain lists, made once
            weights = np.round(self.scorer.weight_matrix(links.levels, links.a), 3)
            self._rows = (
                links,
                links.a.tolist(),
                links.b.tolist(),
                np.round(links.score, 6).tolist(),
                links.rule.tolist(),
                links.deterministic.tolist(),
                links.levels.tolist(),
                weights.tolist(),
                weights.sum(axis=1).tolist(),
            )
        _, a, b, scores, rules, deterministic, levels, weights, totals = self._rows
        pool = self.pool
        i, j = a[row], b[row]
        if pool.refs[j] < pool.refs[i]:
            i, j = j, i
        rule = self.rules[rules[row]]
        model = self.scorer.model
        assert model is not None
        prior = model.prior_weight
        evidence: dict[str, Any] = {
            "model_version": model.version,
            "levels": levels[row],
            "weights": weights[row],
            "prior_weight": round(prior, 3),
            "total_weight": round(totals[row], 3),
            "probability": scores[row],
            "rule": rule.name if deterministic[row] else "fuzzy",
        }
        if deterministic[row]:
            evidence["keys"] = {name: column[i] for name, column in self._rule_keys(rule)}
        if note:
            evidence["note"] = note
        return Decision(
            left=pool.refs[i],
            right=pool.refs[j],
            score=scores[row],
            band=band,
            rule=evidence["rule"],
            status=status,
            evidence=evidence,
            left_hash=pool.hashes[i],
            right_hash=pool.hashes[j],
        )
