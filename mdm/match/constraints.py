"""Constraints: values that keep two records apart, whatever else they share.

A false merge writes one company's name and tax number over another's in both systems, so evidence
against a match is not just a small negative weight. ``cannot_link`` constraints (two different valid
tax numbers of one country, two different DUNS, a CRM account naming another SAP partner) keep records
out of one cluster, directly and through any chain of other records; ``review_when`` constraints (two
legal forms: GmbH and KG are two legal entities) let a steward decide instead of the engine.

Tax numbers are checked with python-stdnum (checksums of EU VAT ids and the Swiss UID; a US EIN has none): two
checksum-valid numbers of one country that differ conflict; a number that fails its checksum may be a
typo of the other, so it conflicts only when it differs by more than ``max_edits`` characters. Tax ids
of two countries never conflict (a company may be registered for VAT in several).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from rapidfuzz import distance, process
from stdnum import vatin
from stdnum.ch import uid as ch_uid
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError
from stdnum.us import ein as us_ein

from mdm.config.match import Constraint
from mdm.match.pool import Pool

Action = Literal["never", "review"]


@dataclass(frozen=True, slots=True)
class TaxId:
    country: str | None
    number: str  # without the country prefix, letters and digits only
    code: str  # as the checksum reads it: with the country prefix

    @property
    def valid(self) -> bool:
        """Passes its country's checksum (checked when first asked: most numbers never conflict)."""
        return _check(self.code, self.country) == "valid"

    @property
    def malformed(self) -> bool:
        """Not shaped like a tax id of its country (another kind of number, e.g. a German Steuernummer
        under a VAT id's prefix): it takes no part in the constraint."""
        return _check(self.code, self.country) == "malformed"


@functools.lru_cache(maxsize=65_536)
def parse_tax_id(key: str | None) -> TaxId | None:
    """The ``tax_id`` match key ('DE 123456789 DE123456789') as a TaxId."""
    if not key:
        return None
    country, number, code = key.split(" ")
    return TaxId(country or None, number, code)


@functools.cache
def _check(code: str, country: str | None) -> Literal["valid", "checksum fails", "unchecked", "malformed"]:
    """python-stdnum's verdict on a tax number: its checksum holds, fails, cannot be checked (a US EIN
    has no check digit; countries stdnum does not know), or its length or format is not its country's."""
    try:
        if country == "US" or code.isdigit():
            return "unchecked" if us_ein.is_valid(code) or country != "US" else "malformed"
        if code.startswith("CHE"):
            ch_uid.validate(code)
        else:
            vatin.validate(code)
        return "valid"
    except InvalidChecksum:
        return "checksum fails"
    except (InvalidFormat, InvalidLength, InvalidComponent):
        return "malformed"
    except ValidationError:
        return "unchecked"
    except Exception:  # noqa: BLE001 - stdnum raises on countries it does not know
        return "unchecked"


def _edits(a: str, b: str) -> int:
    """Typos between two values: insertions, deletions, substitutions and swapped neighbours."""
    return int(distance.DamerauLevenshtein.distance(a, b))


class Constraints:
    """One list of constraints (cannot-link or review caps) over a pool: per pair and per cluster."""

    def __init__(self, pool: Pool, constraints: Iterable[Constraint], action: Action):
        self.pool = pool
        self.action = action
        self.constraints = tuple(constraints)
        self._items: list[list[Any]] = []  # per constraint: per record its item (None: no value)
        self._groups: list[dict[str, int]] = []
        for constraint in self.constraints:
            self._groups.append({v: g for g, group in enumerate(constraint.compatible) for v in group})
            if constraint.kind == "tax_id":  # the key string; parsed when a pair needs it
                items = list(pool.feature(constraint.feature))
            elif constraint.kind == "reference":
                owner = pool.system_index(constraint.owner or "")
                items = [
                    None if v is None else (("owner" if s == owner else "claim"), v)
                    for v, s in zip(pool.feature(constraint.feature), pool.system_code.tolist(), strict=True)
                ]
            else:
                items = list(pool.feature(constraint.feature))
            self._items.append(items)
        # Integer codes per constraint: records that can only conflict when their codes differ.
        self._owners: list[np.ndarray | None] = []
        self._numbers: list[np.ndarray | None] = []
        self._codes: list[np.ndarray] = []
        self._groups_of: list[np.ndarray | None] = []
        for constraint in self.constraints:
            codes, uniques = pool.factorized(constraint.feature)
            self._owners.append(None)
            self._numbers.append(None)
            self._groups_of.append(None)
            if constraint.kind == "tax_id":  # split the distinct keys only: 'DE 123456789 DE123456789'
                parts = [key.split(" ", 2) for key in uniques.tolist()]
                numbers = np.array([p[1] for p in parts] + [None], dtype=object)
                self._numbers[-1] = numbers[codes]  # code -1: the appended None
                number_codes = pd.factorize(numbers[:-1], use_na_sentinel=True)[0].astype(np.int64)
                country_codes = pd.factorize(np.array([p[0] for p in parts], dtype=object))[0]
                self._codes.append(np.where(codes >= 0, np.r_[number_codes, -1][codes], -1))
                self._groups_of[-1] = np.r_[country_codes.astype(np.int64), -1][codes]
                continue
            if constraint.kind == "reference":
                self._owners[-1] = (codes >= 0) & (
                    pool.system_code == pool.system_index(constraint.owner or "")
                )
            self._codes.append(codes)

    def __bool__(self) -> bool:
        return bool(self.constraints)

    # --- two values, two records ---------------------------------------------------------------------

    def _conflict(self, k: int, x: Any, y: Any) -> bool:
        constraint = self.constraints[k]
        if x is None or y is None or x == y:
            return False
        if constraint.kind == "tax_id":
            x, y = parse_tax_id(x), parse_tax_id(y)
            if x is None or y is None or x.country != y.country or x.number == y.number:
                return False
            if x.malformed or y.malformed:
                return False
            return (x.valid and y.valid) or _edits(x.number, y.number) > constraint.max_edits
        if constraint.kind == "reference":
            if x[0] == "owner" and y[0] == "owner":
                return False  # two partners of the owner system: duplicates there are allowed
            return x[1] != y[1]
        groups = self._groups[k]
        if x in groups and groups.get(y) == groups[x]:
            return False
        return _edits(x, y) > constraint.max_edits

    def pair_conflicts(self, a: np.ndarray, b: np.ndarray, exact: bool = True) -> np.ndarray:
        """Per pair: the index of the first constraint the two records break, or -1. ``exact=False``
        skips checking the shape of tax numbers that differ by more than a typo (for training, where a
        rare Steuernummer under a VAT prefix does no harm and the check costs)."""
        out = np.full(len(a), -1, dtype=np.int16)
        for k, constraint in enumerate(self.constraints):
            open_rows = np.flatnonzero(out < 0)
            if not len(open_rows):
                break
            items = self._items[k]
            if constraint.kind == "distinct" and not self._groups[k]:
                codes = self.pool.codes(constraint.feature)
                ca, cb = codes[a[open_rows]], codes[b[open_rows]]
                differ = open_rows[(ca != cb) & (ca >= 0) & (cb >= 0)]
                if len(differ):
                    column = self.pool.objects(constraint.feature)
                    edits = process.cpdist(
                        column[a[differ]],
                        column[b[differ]],
                        scorer=distance.DamerauLevenshtein.distance,
                        workers=-1,
                    )
                    out[differ[edits > constraint.max_edits]] = k
                continue
            codes = self._codes[k]
            ca, cb = codes[a[open_rows]], codes[b[open_rows]]
            differ = (ca != cb) & (ca >= 0) & (cb >= 0)
            countries = self._groups_of[k]
            if countries is not None:  # tax numbers of two countries never conflict
                differ &= countries[a[open_rows]] == countries[b[open_rows]]
            both = open_rows[differ]
            if not len(both):
                continue
            if constraint.kind == "reference":  # two owner records (duplicates there) never conflict
                owners = self._owners[k]
                out[both[~(owners[a[both]] & owners[b[both]])]] = k
                continue
            if constraint.kind == "tax_id":  # numbers farther apart than a typo conflict, valid or not
                numbers = self._numbers[k]
                edits = process.cpdist(
                    numbers[a[both]],
                    numbers[b[both]],
                    scorer=distance.DamerauLevenshtein.distance,
                    workers=-1,
                )
                far = both[edits > constraint.max_edits]
                if len(far) and not exact:
                    out[far] = k
                elif len(far):  # a number not shaped like a tax id of its country conflicts with none
                    shaped = [
                        not (
                            parse_tax_id(items[int(a[row])]).malformed
                            or parse_tax_id(items[int(b[row])]).malformed
                        )
                        for row in far.tolist()
                    ]
                    out[far[np.array(shaped, dtype=bool)]] = k
                both = both[edits <= constraint.max_edits]
            hits = [row for row in both.tolist() if self._conflict(k, items[int(a[row])], items[int(b[row])])]
            out[hits] = k
        return out

    def name(self, k: int) -> str:
        return self.constraints[k].name

    def describe(self, k: int, i: int, j: int) -> str:
        """'different_vat: DE:123456789 / DE:987654321' for records i and j."""
        left, right = self.show(k, self._items[k][i]), self.show(k, self._items[k][j])
        return f"{self.constraints[k].name}: {left} / {right}"

    def show(self, k: int, item: Any) -> str:
        """Constraint ``k``'s value as a steward reads it ('DE:123456789', '1000042 (names)')."""
        if self.constraints[k].kind == "tax_id" and isinstance(item, str):
            item = parse_tax_id(item)
        return _show_item(item)

    # --- clusters ------------------------------------------------------------------------------------

    def state(self, i: int) -> tuple[frozenset[Any], ...] | None:
        """Record ``i``'s values, as the start of its cluster's state (None: it has none)."""
        items = tuple(frozenset() if item[i] is None else frozenset([item[i]]) for item in self._items)
        return items if any(items) else None

    @staticmethod
    def merged(x: tuple[frozenset[Any], ...] | None, y: tuple[frozenset[Any], ...] | None):
        if x is None:
            return y
        if y is None:
            return x
        return tuple(a | b for a, b in zip(x, y, strict=True))

    def cluster_conflict(
        self, x: tuple[frozenset[Any], ...] | None, y: tuple[frozenset[Any], ...] | None
    ) -> tuple[int, Any, Any] | None:
        """(constraint, value, value) two clusters would break if joined, or None."""
        if x is None or y is None:
            return None
        for k, constraint in enumerate(self.constraints):
            xs, ys = x[k], y[k]
            if not xs or not ys:
                continue
            if constraint.kind == "reference":
                found = _reference_conflict(xs, ys)
                if found:
                    return (k, *found)
                continue
            for v in xs:
                for w in ys:
                    if self._conflict(k, v, w):
                        return k, v, w
        return None


def _reference_conflict(xs: frozenset[Any], ys: frozenset[Any]) -> tuple[Any, Any] | None:
    """A number named in one cluster that the other's owner records (or other claims) contradict."""
    owners = {v for role, v in (*xs, *ys) if role == "owner"}
    for claims, other in ((xs, ys), (ys, xs)):
        for role, value in claims:
            if role != "claim":
                continue
            if owners and value not in owners:
                culprit = next((item for item in other if item[1] != value), None)
                return ("claim", value), culprit or ("owner", ", ".join(sorted(owners)))
            if not owners:
                rival = next((item for item in other if item[0] == "claim" and item[1] != value), None)
                if rival:
                    return ("claim", value), rival
    return None


def _show_item(item: Any) -> str:
    if isinstance(item, TaxId):
        verdict = _check(item.code, item.country)
        return f"{item.country or '?'}:{item.number}" + ("" if verdict == "valid" else f" ({verdict})")
    if isinstance(item, tuple):
        return f"{item[1]} ({'own number' if item[0] == 'owner' else 'names'})"
    return str(item)
