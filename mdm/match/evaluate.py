"""Match quality against a labelled truth: pairwise precision, recall and F1, the blocking's recall.

A truth says which records are one real-world thing. Two formats are read:

- JSON as ``synchub sandbox seed`` writes it (``truth.json``): ``{"<entity>s": [{"salesforce": [keys],
  "sap": [keys]}, ...]}`` (``customers`` for the customer entity), or a plain list of such objects;
- CSV with a header ``system,key,entity_id``: one row per record, records of one ``entity_id`` are one
  thing.

Pairs are unordered pairs of records in one cluster, across and inside the systems. Only records the
truth knows are scored (records it does not list are left out of both sides).
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mdm.config.match import MatchConfig
from mdm.match.blocking import Blocker
from mdm.match.pool import CanonicalLike, Pool, RecordRef

PairKey = tuple[RecordRef, RecordRef]
SYSTEMS = ("salesforce", "sap")


class TruthError(ValueError):
    """A truth file that cannot be read; the message names the file and what is wrong."""


def read_truth(path: Path, entity: str = "customer") -> list[list[RecordRef]]:
    """The truth's groups of records (each group one real-world thing)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TruthError(f"{path}: {exc.strerror or exc}") from None
    if path.suffix.lower() == ".csv":
        return _csv_truth(path, text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TruthError(f"{path}:{exc.lineno}: not JSON ({exc.msg})") from None
    items = data.get(f"{entity}s", data.get(entity)) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise TruthError(f"{path}: no list '{entity}s' of records per real-world {entity}")
    groups = []
    for number, item in enumerate(items):
        if not isinstance(item, dict):
            raise TruthError(f"{path}: {entity}s[{number}] is not an object")
        group = []
        for system in SYSTEMS:
            keys = item.get(system) or []
            if isinstance(keys, str):
                keys = [keys]
            if not isinstance(keys, list):
                raise TruthError(f"{path}: {entity}s[{number}].{system} is not a list of keys")
            group += [(system, str(k)) for k in keys]
        groups.append(group)
    return groups


def _csv_truth(path: Path, text: str) -> list[list[RecordRef]]:
    reader = csv.DictReader(text.splitlines())
    missing = {"system", "key", "entity_id"} - set(reader.fieldnames or ())
    if missing:
        raise TruthError(
            f"{path}: the header needs the columns system,key,entity_id "
            f"(missing {', '.join(sorted(missing))})"
        )
    groups: dict[str, list[RecordRef]] = {}
    for line, row in enumerate(reader, start=2):
        if row["system"] not in SYSTEMS:
            raise TruthError(
                f"{path}:{line}: system must be one of {', '.join(SYSTEMS)}, not {row['system']!r}"
            )
        groups.setdefault(row["entity_id"], []).append((row["system"], row["key"]))
    return list(groups.values())


def pairs_of(groups: Iterable[Sequence[RecordRef]], known: set[RecordRef] | None = None) -> Iterator[PairKey]:
    """Every unordered pair (left < right) of records in one group (only ``known`` records, if given)."""
    for group in groups:
        members = sorted(r for r in group if known is None or r in known)
        yield from itertools.combinations(members, 2)


@dataclass
class Evaluation:
    """Pairwise quality of predicted clusters against the truth."""

    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    false_links: list[PairKey] = field(default_factory=list)  # predicted, not in the truth
    missed: list[PairKey] = field(default_factory=list)  # in the truth, not predicted
    records: int = 0

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "true_pairs": self.true_pairs,
            "predicted_pairs": self.predicted_pairs,
            "correct_pairs": self.correct_pairs,
            "precision": round(self.precision, 6),
            "recall": round(self.recall, 6),
            "f1": round(self.f1, 6),
            "false_links": len(self.false_links),
            "missed": len(self.missed),
        }


def evaluate(predicted: Iterable[Sequence[RecordRef]], truth: Iterable[Sequence[RecordRef]]) -> Evaluation:
    """Pairwise precision/recall/F1 of predicted clusters (e.g. golden records' xref) against the truth."""
    truth = [list(g) for g in truth]
    known = {r for group in truth for r in group}
    expected = set(pairs_of(truth))
    found = set(pairs_of(predicted, known))
    correct = expected & found
    return Evaluation(
        true_pairs=len(expected),
        predicted_pairs=len(found),
        correct_pairs=len(correct),
        false_links=sorted(found - expected),
        missed=sorted(expected - found),
        records=len(known),
    )


def blocking_recall(
    records: Iterable[CanonicalLike], config: MatchConfig, truth: Iterable[Sequence[RecordRef]]
) -> dict[str, Any]:
    """Which share of the true pairs each rule (and all of them together) makes a candidate pair.

    Large blocks count as the engine compares them (sorted neighbourhood), so this is the recall the
    match step can reach at most.
    """
    pool = Pool(records, {})
    expected = [p for p in pairs_of(truth) if p[0] in pool.index and p[1] in pool.index]
    if not expected:
        return {"true_pairs": 0, "rules": {}, "all_rules": 1.0}
    n = len(pool)
    wanted = np.array(
        sorted(
            {min(pool.index[a], pool.index[b]) * n + max(pool.index[a], pool.index[b]) for a, b in expected}
        )
    )
    rules = [*config.deterministic, *config.blocking]
    found_any = np.zeros(len(wanted), dtype=bool)
    per_rule: dict[str, float] = {}
    for rule in rules:
        found = np.zeros(len(wanted), dtype=bool)
        for _rule, a, b, _stats in Blocker(pool, config, [rule]).pairs():
            if len(a):
                hits = np.isin(wanted, a * n + b)
                found |= hits
        per_rule[rule.name] = round(float(found.mean()), 6)
        found_any |= found
    return {"true_pairs": len(wanted), "rules": per_rule, "all_rules": round(float(found_any.mean()), 6)}
