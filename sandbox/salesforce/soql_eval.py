"""SOQL execution for the sandbox org: a parsed :class:`~sandbox.salesforce.soql.Query` compiled into
closures once per call, then filtering, sorting, paging and shaping stored records as the REST ``query`` /
``queryAll`` resources do."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sandbox.salesforce.schema import API_VERSION, KEY_PREFIX, FieldDef
from sandbox.salesforce.soql import (
    ID_TYPES,
    TEXT_TYPES,
    BoolOp,
    Compare,
    FieldPath,
    InList,
    Like,
    Literal,
    OrderItem,
    Predicate,
    Query,
    Step,
    format_datetime,
    unescape,
)

# ---------------------------------------------------------------------------------------------
# Execution
# ---------------------------------------------------------------------------------------------

Row = dict[str, Any]
Getter = Callable[[Row], Any]

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class _Runtime:
    """Per-execute state: the parent resolver (memoised) and the clock for relative dates."""

    def __init__(self, resolve: Callable[[str, str], dict | None], now: datetime) -> None:
        self._resolve = resolve
        self._cache: dict[tuple[str, str], Row | None] = {}
        self.today = now.astimezone(UTC).date()

    def parent(self, step: Step, ref: str) -> tuple[str, Row | None]:
        """The parent record behind ``ref`` and its type (polymorphic lookups go by key prefix)."""
        target = step.targets[0]
        if len(step.targets) > 1:
            prefix = ref[:3]
            target = next((t for t in step.targets if KEY_PREFIX.get(t) == prefix), target)
        key = (target, ref)
        if key not in self._cache:
            record = self._resolve(target, ref)
            if record is None and target in step.unstored:
                # Users and Groups are not stored by the sandbox: answer the lookup with its Id.
                record = {"Id": ref}
            self._cache[key] = record
        return target, self._cache[key]

    def getter(self, path: FieldPath) -> Getter:
        name = path.field.name
        if not path.steps:
            return lambda row: row.get(name)
        steps = path.steps
        parent = self.parent

        def get(row: Row) -> Any:
            record: Row | None = row
            for step in steps:
                ref = record.get(step.reference_field)
                if ref is None:
                    return None
                record = parent(step, ref)[1]
                if record is None:
                    return None
            return record.get(name)

        return get


def execute(
    query: Query,
    rows: Iterable[dict],
    resolve: Callable[[str, str], dict | None],
    *,
    base_url: str = f"/services/data/v{API_VERSION}",
    now: datetime | None = None,
) -> list[dict]:
    """Filter, sort, offset/limit ``rows`` (stored records of ``query.object_name``) and shape them
    like the REST API. For ``COUNT()`` queries the result holds one attributes-only record per
    match: totalSize is its length and the response's records list is empty."""
    runtime = _Runtime(resolve, now or datetime.now(UTC))
    matched: list[Row]
    if query.where is not None:
        predicate = _compile(query.where, runtime)
        matched = [row for row in rows if predicate(row)]
    else:
        matched = list(rows)
    for item in reversed(query.order_by):
        matched = _sorted(matched, item, runtime)
    start = query.offset or 0
    stop = None if query.limit is None else start + query.limit
    page = matched[start:stop]
    if query.count_only:
        return [_attributes(query.object_name, row.get("Id"), base_url) for row in page]
    shape = _shaper(query, runtime, base_url)
    return [shape(row) for row in page]


def _attributes(object_name: str, record_id: Any, base_url: str) -> dict:
    return {"attributes": {"type": object_name, "url": f"{base_url}/sobjects/{object_name}/{record_id}"}}


def _shaper(query: Query, runtime: _Runtime, base_url: str) -> Callable[[Row], dict]:
    """Build the function that turns a stored record into the REST shape, parents nested in place."""
    # Plan: ordered {key: FieldDef | (Step, sub-plan)}; the first path through a relationship fixes
    # where its nested object appears, as Salesforce does.
    plan: dict[str, Any] = {}
    for path in query.select:
        node = plan
        for step in path.steps:
            entry = node.setdefault(step.relationship, (step, {}))
            node = entry[1]
        node.setdefault(path.field.name, path.field)

    def render(record: Row, object_name: str, node: dict[str, Any]) -> dict:
        out = _attributes(object_name, record.get("Id"), base_url)
        for key, entry in node.items():
            if isinstance(entry, FieldDef):
                out[key] = record.get(key)
                continue
            step, sub = entry
            ref = record.get(step.reference_field)
            if ref is None:
                out[key] = None
                continue
            target, parent = runtime.parent(step, ref)
            out[key] = None if parent is None else render(parent, target, sub)
        return out

    name = query.object_name
    if all(isinstance(entry, FieldDef) for entry in plan.values()):
        # No parents selected: a flat record, built without the recursive walk.
        keys = tuple(plan)
        url = f"{base_url}/sobjects/{name}/"

        def flat(row: Row) -> dict:
            out: dict[str, Any] = {"attributes": {"type": name, "url": url + str(row.get("Id"))}}
            for key in keys:
                out[key] = row.get(key)
            return out

        return flat
    return lambda row: render(row, name, plan)


def _normalizer(fdef: FieldDef) -> Callable[[Any], Any] | None:
    """How a stored value is made comparable: strings compare case-insensitively, Ids on their
    case-sensitive 15-character form, everything else as stored."""
    if fdef.type in TEXT_TYPES:
        return str.lower
    if fdef.type in ID_TYPES:
        return lambda v: v[:15]
    return None


def _literal_value(fdef: FieldDef, literal: Literal) -> Any:
    if literal.kind == "string":
        if fdef.type in ID_TYPES:
            return literal.value[:15] if literal.value else None
        return literal.value.lower()
    if literal.kind == "date":
        return literal.value.isoformat()
    return literal.value


def _relative_range(literal: Literal, today: date) -> tuple[date, date]:
    """[start, end) in days of a relative date literal, UTC days."""
    name, n = literal.value
    day = timedelta(days=1)

    def month_start(d: date, shift: int) -> date:
        index = d.year * 12 + d.month - 1 + shift
        return date(index // 12, index % 12 + 1, 1)

    week_start = today - timedelta(days=(today.weekday() + 1) % 7)  # weeks start on Sunday (en_US)
    ranges = {
        "TODAY": (today, today + day),
        "YESTERDAY": (today - day, today),
        "TOMORROW": (today + day, today + 2 * day),
        "THIS_WEEK": (week_start, week_start + 7 * day),
        "LAST_WEEK": (week_start - 7 * day, week_start),
        "NEXT_WEEK": (week_start + 7 * day, week_start + 14 * day),
        "THIS_MONTH": (month_start(today, 0), month_start(today, 1)),
        "LAST_MONTH": (month_start(today, -1), month_start(today, 0)),
        "NEXT_MONTH": (month_start(today, 1), month_start(today, 2)),
        "THIS_YEAR": (date(today.year, 1, 1), date(today.year + 1, 1, 1)),
        "LAST_YEAR": (date(today.year - 1, 1, 1), date(today.year, 1, 1)),
        "NEXT_YEAR": (date(today.year + 1, 1, 1), date(today.year + 2, 1, 1)),
        # LAST_N_DAYS includes today (LAST_N_DAYS:1 is yesterday and today); NEXT_N_DAYS starts tomorrow.
        "LAST_90_DAYS": (today - 90 * day, today + day),
        "NEXT_90_DAYS": (today + day, today + 91 * day),
    }
    if name in ranges:
        return ranges[name]
    assert n is not None
    if name == "LAST_N_DAYS":
        return today - n * day, today + day
    if name == "NEXT_N_DAYS":
        return today + day, today + (n + 1) * day
    if name == "N_DAYS_AGO":
        return today - n * day, today - (n - 1) * day
    if name == "LAST_N_MONTHS":
        return month_start(today, -n), month_start(today, 0)
    return month_start(today, 1), month_start(today, n + 1)  # NEXT_N_MONTHS


def _compile(pred: Predicate, runtime: _Runtime) -> Callable[[Row], bool]:
    """Turn the predicate tree into nested closures once; rows never see the tree."""
    if isinstance(pred, BoolOp):
        parts = [_compile(item, runtime) for item in pred.items]
        if pred.op == "not":
            inner = parts[0]
            return lambda row: not inner(row)
        if pred.op == "and":
            return lambda row: all(p(row) for p in parts)
        return lambda row: any(p(row) for p in parts)
    get = runtime.getter(pred.path)
    fdef = pred.path.field
    norm = _normalizer(fdef)
    if isinstance(pred, Like):
        pattern = unescape("", pred.literal.token, pred.literal.raw[1:-1], like=True)
        match = re.compile(pattern, re.IGNORECASE | re.DOTALL).fullmatch
        return lambda row: (v := get(row)) is not None and match(str(v)) is not None
    if isinstance(pred, InList):
        return _compile_in(pred, get, norm, runtime)
    return _compile_compare(pred, get, norm, runtime)


def _compile_in(
    pred: InList, get: Getter, norm: Callable[[Any], Any] | None, runtime: _Runtime
) -> Callable[[Row], bool]:
    fdef = pred.path.field
    wants_null = any(lit.kind == "null" for lit in pred.literals)
    ranges = [lit for lit in pred.literals if lit.kind == "relative"]
    values = {_literal_value(fdef, lit) for lit in pred.literals if lit.kind != "null" and lit not in ranges}
    bounds = [_range_bounds(fdef, lit, runtime) for lit in ranges]

    def contains(row: Row) -> bool:
        v = get(row)
        if v is None:
            return wants_null
        key = norm(v) if norm else v
        return key in values or any(lo <= key < hi for lo, hi in bounds)

    if pred.negated:
        return lambda row: not contains(row)
    return contains


def _range_bounds(fdef: FieldDef, literal: Literal, runtime: _Runtime) -> tuple[str, str]:
    """A day range as comparable stored values: dates for date fields, UTC stamps for dateTimes."""
    start, end = _relative_range(literal, runtime.today)
    if fdef.type == "datetime":
        return (
            format_datetime(datetime(start.year, start.month, start.day, tzinfo=UTC)),
            format_datetime(datetime(end.year, end.month, end.day, tzinfo=UTC)),
        )
    return start.isoformat(), end.isoformat()


def _compile_compare(
    pred: Compare, get: Getter, norm: Callable[[Any], Any] | None, runtime: _Runtime
) -> Callable[[Row], bool]:
    fdef = pred.path.field
    literal = pred.literal
    op = pred.op
    if literal.kind == "null":
        if op == "=":
            return lambda row: get(row) is None
        if op == "!=":
            return lambda row: get(row) is not None
        return lambda row: False
    if literal.kind == "relative":
        lo, hi = _range_bounds(fdef, literal, runtime)
        in_range: dict[str, Callable[[Any], bool]] = {
            "=": lambda v: lo <= v < hi,
            "!=": lambda v: not lo <= v < hi,
            "<": lambda v: v < lo,
            "<=": lambda v: v < hi,
            ">": lambda v: v >= hi,
            ">=": lambda v: v >= lo,
        }
        test = in_range[op]
        if op == "!=":
            return lambda row: (v := get(row)) is None or test(v)
        return lambda row: (v := get(row)) is not None and test(v)
    value = _literal_value(fdef, literal)
    compare = _OPS[op]
    if value is None:  # '' against an Id field: no record has an empty Id
        return (lambda row: get(row) is not None) if op == "!=" else (lambda row: False)
    if op == "!=":
        # SOQL's != keeps records where the field is null (unlike SQL).
        if norm is None:
            return lambda row: (v := get(row)) is None or v != value
        return lambda row: (v := get(row)) is None or norm(v) != value
    if norm is None:
        return lambda row: (v := get(row)) is not None and compare(v, value)
    return lambda row: (v := get(row)) is not None and compare(norm(v), value)


def _sorted(rows: list[Row], item: OrderItem, runtime: _Runtime) -> list[Row]:
    """One stable sort pass (passes run last key first); nulls are set apart so keys stay plain
    values, and strings fold case as Salesforce's sort does."""
    get = runtime.getter(item.path)
    values = [get(row) for row in rows]
    nulls = [row for row, v in zip(rows, values, strict=True) if v is None]
    keyed = [(v, row) for row, v in zip(rows, values, strict=True) if v is not None]
    if item.path.field.type in TEXT_TYPES:
        keyed = [(v.lower(), row) for v, row in keyed]
    keyed.sort(key=operator.itemgetter(0), reverse=item.descending)
    ordered = [row for _, row in keyed]
    return nulls + ordered if item.nulls_first else ordered + nulls
