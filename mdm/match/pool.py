"""The record pool: the records of one match run as arrays, with their comparable features built once.

Records of both systems share one pool, so cross-system pairs and duplicates inside one system are found
by the same rules. Features are computed once per distinct input (many records share a city or a legal
form); key codes are small integers per distinct value (-1: no value), so blocking and exact comparisons
work on integer arrays.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import numpy as np
import pandas as pd

from mdm.config.match import Feature, KeyRule, MatchConfig
from mdm.match.features import TRANSFORMS

RecordRef = tuple[str, str]  # (system, source_key)


class CanonicalLike(Protocol):
    """What the engine needs of a record: a MatchRecord, a CanonicalRecord row, or anything alike."""

    system: str
    source_key: str
    values: dict[str, Any]
    values_hash: str


_FROM_NAME_CORE = {
    "name_first_token": lambda core: core.split(" ", 1)[0],
    "name_last_token": lambda core: core.rsplit(" ", 1)[-1],
    "name_compact": lambda core: core.replace(" ", ""),
}


def feature_key(feature: Feature) -> str:
    """A feature's name in prepared match keys: 'name_core(name)', 'street_address(street,house_number)'."""
    key = f"{feature.transform}({','.join(feature.fields)})"
    return f"{key}[:{feature.prefix}]" if feature.prefix else key


def needed_features(config: MatchConfig) -> list[Feature]:
    """Every feature the settings compare, block, sort or constrain on (those derived from the name's
    core are left out: the pool derives them itself)."""
    out: list[Feature] = []
    for comparison in config.comparisons:
        out.append(comparison.feature)
        out += [Feature(comparison.feature.fields, lv.transform) for lv in comparison.levels if lv.transform]
    for rule in (*config.deterministic, *config.blocking):
        out += [*rule.keys, *rule.sort_by]
    out += list(config.sort_by)
    out += [c.feature for c in (*config.cannot_link, *config.review_when)]
    core = [Feature(f.fields, "name_core") for f in out if f.transform in _FROM_NAME_CORE]
    return [f for f in dict.fromkeys([*out, *core]) if f.transform not in _FROM_NAME_CORE]


def prepare_keys(records: Iterable[CanonicalLike], config: MatchConfig) -> dict[str, list[str | None]]:
    """The match keys of the records as columns (feature_key -> one value per record), computed as a
    match run would: to hand the engine prepared keys (``match_records(prepared=...)``)."""
    pool = Pool(records, {})
    return {feature_key(f): pool.feature(f) for f in needed_features(config)}


class Pool:
    """Records as arrays: system codes, values hashes, golden ids, features and key codes."""

    def __init__(
        self,
        records: Iterable[CanonicalLike],
        xref: Mapping[RecordRef, str],
        exclude_from_training: Iterable[RecordRef] = (),
        prepared: Mapping[str, list[str | None]] | None = None,
    ):
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
        # Records SyncHub wrote itself (copies of a golden record) teach the model nothing about noise.
        self.trainable = np.ones(len(self.refs), dtype=bool)
        for ref in exclude_from_training:
            i = self.index.get(ref)
            if i is not None:
                self.trainable[i] = False
        self._features: dict[Feature, list[str | None]] = {}
        self._raw: dict[str, list[Any]] = {}
        # Match keys handed in as columns (feature_key -> one value per record, in record order).
        self._columns = dict(prepared or {})
        for key, column in self._columns.items():
            if len(column) != len(self.refs):
                raise ValueError(
                    f"prepared match key {key!r} has {len(column)} values for {len(self.refs)} records"
                )
        self._objects: dict[Feature, np.ndarray] = {}
        self._factorized: dict[Feature, tuple[np.ndarray, np.ndarray]] = {}
        self._codes: dict[tuple[Feature, frozenset[str]], np.ndarray] = {}
        self._rule_codes: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.refs)

    def system_index(self, system: str) -> int:
        """The pool's code of ``system`` (-99 when no record of it is in the pool)."""
        return self.systems.index(system) if system in self.systems else -99

    def feature(self, feature: Feature) -> list[str | None]:
        """The feature's value for every record, computed once; repeated inputs are transformed once."""
        if feature not in self._features:
            if feature.transform in _FROM_NAME_CORE:  # derived from name_core, which is kept anyway
                core = self.feature(Feature(feature.fields, "name_core"))
                derive = _FROM_NAME_CORE[feature.transform]
                column = [derive(c) if c else None for c in core]
                if feature.prefix:
                    column = [c[: feature.prefix] if c else None for c in column]
            elif feature_key(feature) in self._columns:
                column = list(self._columns[feature_key(feature)])
            else:
                transform = TRANSFORMS[feature.transform]
                if len(feature.fields) == 1:
                    inputs: list[Any] = self.raw(feature.fields[0])
                    seen = {x: transform([x]) for x in dict.fromkeys(inputs)}
                else:
                    inputs = list(zip(*(self.raw(f) for f in feature.fields), strict=True))
                    seen = {x: transform(x) for x in dict.fromkeys(inputs)}
                if feature.prefix:
                    seen = {x: v[: feature.prefix] if v else v for x, v in seen.items()}
                column = [seen[x] for x in inputs]
            self._features[feature] = column
        return self._features[feature]

    def raw(self, field: str) -> list[Any]:
        """The canonical value of ``field`` for every record (None where it has none)."""
        if field not in self._raw:
            self._raw[field] = [values.get(field) for values in self.values]
        return self._raw[field]

    def objects(self, feature: Feature) -> np.ndarray:
        """The feature's values as a numpy object array (made once; do not modify it)."""
        if feature not in self._objects:
            self._objects[feature] = np.array(self.feature(feature), dtype=object)
        return self._objects[feature]

    def factorized(self, feature: Feature) -> tuple[np.ndarray, np.ndarray]:
        """(codes, uniques): one integer per record (-1: no value) and the distinct values by code."""
        if feature not in self._factorized:
            codes, uniques = pd.factorize(self.objects(feature), use_na_sentinel=True)
            self._factorized[feature] = (codes.astype(np.int64), uniques)
        return self._factorized[feature]

    def codes(self, feature: Feature, ignore: frozenset[str] = frozenset()) -> np.ndarray:
        """One integer per distinct value of the feature (-1: no value, or a value in ``ignore``)."""
        if not ignore:
            return self.factorized(feature)[0]
        key = (feature, ignore)
        if key not in self._codes:
            codes, uniques = self.factorized(feature)
            dropped = np.flatnonzero(np.isin(uniques, list(ignore)))
            codes = codes.copy()
            codes[np.isin(codes, dropped)] = -1
            self._codes[key] = codes
        return self._codes[key]

    def rule_codes(self, rule: KeyRule) -> np.ndarray:
        """One integer per record for the rule's composite key; -1 when any key part is missing."""
        if rule.name not in self._rule_codes:
            if len(rule.keys) == 1:
                self._rule_codes[rule.name] = self.codes(rule.keys[0])
            else:  # combine the keys' own (dense) codes, then number the combinations densely
                combined = np.zeros(len(self), dtype=np.int64)
                missing = np.zeros(len(self), dtype=bool)
                for key in rule.keys:
                    codes = self.codes(key)
                    missing |= codes < 0
                    combined = combined * (int(codes.max(initial=0)) + 2) + codes + 1
                    combined = pd.factorize(combined)[0].astype(np.int64)
                combined[missing] = -1
                self._rule_codes[rule.name] = combined
        return self._rule_codes[rule.name]

    def between(self, systems: tuple[str, str] | None, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Which pairs join a record of each of ``systems`` (all pairs when ``systems`` is None)."""
        if systems is None:
            return np.ones(len(a), dtype=bool)
        first, second = (self.system_index(s) for s in systems)
        sa, sb = self.system_code[a], self.system_code[b]
        return ((sa == first) & (sb == second)) | ((sa == second) & (sb == first))
