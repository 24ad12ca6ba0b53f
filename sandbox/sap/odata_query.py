"""OData V2 query options of the SAP sandbox, compiled against the entity model: key predicates, ``$filter``
(one tokenizer for both), ``$orderby``, ``$select`` and ``$expand``; errors as SAP Gateway words them."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.sap.model import EntitySet, Navigation, load_model
from sandbox.sap.odata import (
    DURATION,
    GUID,
    ODataError,
    aware_utc,
    bad_request,
    decode_value,
    naive_utc,
    parse_iso_datetime,
)

# --------------------------------------------------------------------------------------------------
# Tokenizer shared by $filter and key predicates

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<typed>(?:datetimeoffset|datetime|time|guid)'[^']*')
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[MmLlDdFf]?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<punct>[(),=])
    """,
    re.VERBOSE | re.IGNORECASE,
)


class _Tok:
    __slots__ = ("kind", "text", "pos")

    def __init__(self, kind: str, text: str, pos: int) -> None:
        self.kind, self.text, self.pos = kind, text, pos


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise bad_request(f"Invalid token detected at position {pos}")
        kind = m.lastgroup or ""
        if kind != "ws":
            # `name'..'` not matched as typed (e.g. X'..') is an unknown literal prefix
            if kind == "name" and m.end() < len(text) and text[m.end()] == "'":
                raise bad_request(f"Invalid token detected at position {pos}")
            tokens.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    tokens.append(_Tok("end", "", len(text)))
    return tokens


# Static kinds of filter operands, for SAP's operand type checks.
_KIND_OF_EDM = {
    "Edm.String": "string",
    "Edm.Guid": "guid",
    "Edm.Boolean": "bool",
    "Edm.Decimal": "number",
    "Edm.Double": "number",
    "Edm.Single": "number",
    "Edm.Float": "number",
    "Edm.Byte": "number",
    "Edm.SByte": "number",
    "Edm.Int16": "number",
    "Edm.Int32": "number",
    "Edm.Int64": "number",
    "Edm.DateTime": "datetime",
    "Edm.DateTimeOffset": "datetimeoffset",
    "Edm.Time": "time",
}


def _literal(tok: _Tok) -> tuple[object, str]:
    """A literal token as (native value, kind); ODataError 400 when malformed."""
    text = tok.text
    try:
        if tok.kind == "string":
            return text[1:-1].replace("''", "'"), "string"
        if tok.kind == "number":
            suffix = text[-1].upper()
            if suffix in "DF":
                return float(text[:-1]), "number"
            if suffix == "L":
                return int(text[:-1]), "number"
            if suffix == "M":
                return Decimal(text[:-1]), "number"
            if re.fullmatch(r"-?\d+", text):
                return int(text), "number"
            return Decimal(text), "number"
        if tok.kind == "typed":
            prefix, _, body = text.partition("'")
            body = body[:-1]
            prefix = prefix.lower()
            if prefix == "datetime":
                if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?Z?", body):
                    raise ValueError(body)
                return naive_utc(parse_iso_datetime(body)), "datetime"
            if prefix == "datetimeoffset":
                value = parse_iso_datetime(body)
                if value.tzinfo is None:
                    raise ValueError(body)
                return aware_utc(value), "datetimeoffset"
            if prefix == "time":
                m = DURATION.match(body)
                if not m or body == "PT":
                    raise ValueError(body)
                seconds = Decimal(m.group(3) or 0)
                micro = int((seconds - int(seconds)) * 1_000_000)
                return time(int(m.group(1) or 0), int(m.group(2) or 0), int(seconds), micro), "time"
            if prefix == "guid":
                if not GUID.match(body):
                    raise ValueError(body)
                return body.lower(), "guid"
    except (ValueError, InvalidOperation):
        pass
    raise bad_request(f"Invalid token detected at position {tok.pos}")


def parse_key_predicate(entity_set: EntitySet, text: str) -> dict:
    """``('1')``, ``(BusinessPartner='1')`` or ``(A='1',B=datetime'...')`` (already URL-decoded) as
    {key property: stored value}; ODataError 400 for a malformed or incomplete predicate."""
    invalid = bad_request(f"Invalid key predicate {text} for entity type {entity_set.type_name}")
    try:
        tokens = _tokenize(text)
    except ODataError:
        raise invalid from None
    if len(tokens) < 3 or tokens[0].text != "(" or tokens[-2].text != ")":
        raise invalid
    body = tokens[1:-2]
    values: dict[str, _Tok] = {}
    if len(body) == 1 and len(entity_set.keys) == 1:
        values[entity_set.keys[0]] = body[0]
    else:
        groups: list[list[_Tok]] = [[]]
        for tok in body:
            if tok.kind == "punct" and tok.text == ",":
                groups.append([])
            else:
                groups[-1].append(tok)
        for group in groups:
            if len(group) != 3 or group[0].kind != "name" or group[1].text != "=":
                raise invalid
            name = group[0].text
            if name not in entity_set.keys or name in values:
                raise invalid
            values[name] = group[2]
        if set(values) != set(entity_set.keys):
            raise invalid
    out: dict = {}
    for name, tok in values.items():
        if tok.kind not in ("string", "number", "typed") and tok.text not in ("true", "false"):
            raise invalid
        prop = entity_set.properties[name]
        value, kind = (tok.text == "true", "bool") if tok.kind == "name" else _literal(tok)
        expected = _KIND_OF_EDM.get(prop.edm_type, "string")
        if kind != expected:
            raise invalid
        if kind == "string":
            value = decode_value(prop, value)
        elif kind == "number":
            value = decode_value(prop, str(value))
        elif kind == "datetime" and prop.display_format == "date":
            value = datetime(value.year, value.month, value.day)  # type: ignore[attr-defined]
        out[name] = value
    return out


# --------------------------------------------------------------------------------------------------
# $filter

Getter = Callable[[dict], Any]

_COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
# function name -> (argument kinds, result kind); "any" accepts every kind
_FUNCTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "substringof": (("string", "string"), "bool"),
    "startswith": (("string", "string"), "bool"),
    "endswith": (("string", "string"), "bool"),
    "tolower": (("string",), "string"),
    "toupper": (("string",), "string"),
    "trim": (("string",), "string"),
    "length": (("string",), "number"),
    "indexof": (("string", "string"), "number"),
    "concat": (("string", "string"), "string"),
    "substring": (("string", "number", "number"), "string"),
    "year": (("date",), "number"),
    "month": (("date",), "number"),
    "day": (("date",), "number"),
    "hour": (("date",), "number"),
    "minute": (("date",), "number"),
    "second": (("date",), "number"),
}


def _string_fn(name: str, args: list[Getter]) -> Getter:
    a = args[0]
    b = args[1] if len(args) > 1 else None
    if name == "substringof":
        return lambda r: (x := a(r)) is not None and (y := b(r)) is not None and x in y  # type: ignore[misc]
    if name == "startswith":
        return lambda r: (x := a(r)) is not None and (y := b(r)) is not None and x.startswith(y)  # type: ignore[misc]
    if name == "endswith":
        return lambda r: (x := a(r)) is not None and (y := b(r)) is not None and x.endswith(y)  # type: ignore[misc]
    if name == "tolower":
        return lambda r: None if (x := a(r)) is None else x.lower()
    if name == "toupper":
        return lambda r: None if (x := a(r)) is None else x.upper()
    if name == "trim":
        return lambda r: None if (x := a(r)) is None else x.strip()
    if name == "length":
        return lambda r: None if (x := a(r)) is None else len(x)
    if name == "indexof":
        return lambda r: None if (x := a(r)) is None or (y := b(r)) is None else x.find(y)  # type: ignore[misc]
    if name == "concat":
        return lambda r: (a(r) or "") + (b(r) or "")  # type: ignore[misc]
    if name == "substring":
        c = args[2] if len(args) > 2 else None

        def substring(r: dict) -> Any:
            x, start = a(r), b(r)  # type: ignore[misc]
            if x is None or start is None:
                return None
            return x[start:] if c is None else x[start : start + c(r)]

        return substring
    attr = name
    return lambda r: None if (x := a(r)) is None else getattr(x, attr)


class _FilterParser:
    """Recursive descent over OData V2 $filter; builds closures with static kind checks."""

    def __init__(self, expr: str, entity_set: EntitySet) -> None:
        self.expr = expr
        self.entity_set = entity_set
        self.tokens = _tokenize(expr)
        self.i = 0

    def error(self, tok: _Tok | None = None) -> ODataError:
        tok = tok or self.tokens[self.i]
        return bad_request(f"Invalid token detected at position {tok.pos}")

    def peek(self) -> _Tok:
        return self.tokens[self.i]

    def take(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        if self.peek().text != text:
            raise self.error()
        self.i += 1

    def parse(self) -> Callable[[dict], bool]:
        fn, kind = self.or_expr()
        if self.peek().kind != "end":
            raise self.error()
        if kind not in ("bool", "any"):
            raise bad_request(f"Invalid filter expression: '{self.expr}' does not evaluate to a boolean")
        return lambda r: bool(fn(r))

    def require_bool(self, kind: str, tok: _Tok) -> None:
        if kind not in ("bool", "any", "null"):
            raise self.error(tok)

    def or_expr(self) -> tuple[Getter, str]:
        start = self.peek()
        left, kind = self.and_expr()
        while self.peek().kind == "name" and self.peek().text == "or":
            op = self.take()
            self.require_bool(kind, start)
            right, rkind = self.and_expr()
            self.require_bool(rkind, op)
            left = (lambda a, b: lambda r: bool(a(r)) or bool(b(r)))(left, right)
            kind = "bool"
        return left, kind

    def and_expr(self) -> tuple[Getter, str]:
        start = self.peek()
        left, kind = self.comparison()
        while self.peek().kind == "name" and self.peek().text == "and":
            op = self.take()
            self.require_bool(kind, start)
            right, rkind = self.comparison()
            self.require_bool(rkind, op)
            left = (lambda a, b: lambda r: bool(a(r)) and bool(b(r)))(left, right)
            kind = "bool"
        return left, kind

    def comparison(self) -> tuple[Getter, str]:
        left, lkind = self.unary()
        tok = self.peek()
        if tok.kind == "name" and tok.text in _COMPARISONS:
            self.take()
            right_tok = self.peek()
            right, rkind = self.unary()
            return self.compare(tok, left, lkind, right, rkind, right_tok), "bool"
        return left, lkind

    def unary(self) -> tuple[Getter, str]:
        # `not` binds tighter than the comparisons (OData V2 precedence): `not A eq B` is `(not A) eq B`
        tok = self.peek()
        if tok.kind == "name" and tok.text == "not":
            self.take()
            inner, kind = self.unary()
            self.require_bool(kind, tok)
            return (lambda a: lambda r: not a(r))(inner), "bool"
        return self.primary()

    def compare(self, op: _Tok, left: Getter, lkind: str, right: Getter, rkind: str, rtok: _Tok) -> Getter:
        kinds = {lkind, rkind} - {"null", "any"}
        if kinds == {"datetime", "datetimeoffset"}:
            left = (lambda g: lambda r: None if (v := g(r)) is None else naive_utc(v))(left)
            right = (lambda g: lambda r: None if (v := g(r)) is None else naive_utc(v))(right)
        elif len(kinds) > 1:
            raise bad_request(
                f"Invalid filter expression: operator '{op.text}' incompatible with operand types "
                f"at position {rtok.pos}"
            )
        if kinds == {"bool"} and op.text not in ("eq", "ne"):
            raise self.error(op)
        if kinds == {"guid"}:
            left = (lambda g: lambda r: None if (v := g(r)) is None else v.lower())(left)
            right = (lambda g: lambda r: None if (v := g(r)) is None else v.lower())(right)
        name = op.text
        if name == "eq":
            return lambda r: left(r) == right(r)
        if name == "ne":
            return lambda r: left(r) != right(r)
        fn = {"gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le}[name]

        def ordered(r: dict) -> bool:
            a, b = left(r), right(r)
            return a is not None and b is not None and fn(a, b)

        return ordered

    def primary(self) -> tuple[Getter, str]:
        tok = self.take()
        if tok.text == "(":
            inner, kind = self.or_expr()
            self.expect(")")
            return inner, kind
        if tok.kind in ("string", "number", "typed"):
            value, kind = _literal(tok)
            return (lambda v: lambda r: v)(value), kind
        if tok.kind != "name":
            raise self.error(tok)
        if tok.text in ("true", "false"):
            value = tok.text == "true"
            return (lambda v: lambda r: v)(value), "bool"
        if tok.text == "null":
            return (lambda r: None), "null"
        if self.peek().text == "(":
            return self.function(tok)
        if tok.text in _COMPARISONS or tok.text in ("and", "or", "not"):
            raise self.error(tok)
        return self.property(tok)

    def property(self, tok: _Tok) -> tuple[Getter, str]:
        name = tok.text
        if "/" in name:
            raise bad_request(
                f"Invalid filter expression: navigation path '{name}' at position {tok.pos} is not supported"
            )
        prop = self.entity_set.properties.get(name)
        if prop is None:
            raise bad_request(f"Property '{name}' not found in type '{self.entity_set.type_name}'")
        return (lambda n: lambda r: r.get(n))(name), _KIND_OF_EDM.get(prop.edm_type, "string")

    def function(self, tok: _Tok) -> tuple[Getter, str]:
        spec = _FUNCTIONS.get(tok.text)
        if spec is None:
            raise bad_request(f"Invalid filter expression: unknown function '{tok.text}' at {tok.pos}")
        arg_kinds, result = spec
        self.expect("(")
        args: list[Getter] = []
        kinds: list[tuple[str, _Tok]] = []
        while True:
            arg_tok = self.peek()
            fn, kind = self.or_expr()
            args.append(fn)
            kinds.append((kind, arg_tok))
            if self.peek().text == ",":
                self.take()
                continue
            self.expect(")")
            break
        optional = 1 if tok.text == "substring" else 0
        if not len(arg_kinds) - optional <= len(args) <= len(arg_kinds):
            raise bad_request(
                f"Invalid filter expression: wrong number of parameters for function '{tok.text}' "
                f"at position {tok.pos}"
            )
        for (kind, arg_tok), wanted in zip(kinds, arg_kinds[: len(kinds)], strict=True):
            ok = kind in ("null", "any") or kind == wanted
            if wanted == "date":
                ok = ok or kind in ("datetime", "datetimeoffset")
            if not ok:
                raise bad_request(
                    f"Invalid parametertype used at function '{tok.text}' (Position: {arg_tok.pos})"
                )
        return _string_fn(tok.text, args), result


def parse_filter(expr: str, entity_set: EntitySet) -> Callable[[dict], bool]:
    """Compile a ``$filter`` expression once into a predicate over stored records.

    Supports eq ne gt ge lt le, and or not, parentheses, substringof/startswith/endswith,
    tolower/toupper/trim/length/indexof/concat/substring, year..second, and the literals
    'string' ('' escapes), 12 / 12.5 / 12.5M / 10L / 1.5d, true/false, null, datetime'...',
    datetimeoffset'...', time'PT..', guid'...'. Unknown properties and syntax errors are
    ODataError 400. Comparisons with null are false except eq/ne.
    """
    if not expr.strip():
        raise bad_request("Invalid filter expression: the expression is empty")
    return _FilterParser(expr, entity_set).parse()


# --------------------------------------------------------------------------------------------------
# $orderby, $select, $expand


def _unknown_property(entity_set: EntitySet, name: str) -> ODataError:
    return bad_request(f"Property '{name}' not found in type '{entity_set.type_name}'")


def parse_orderby(expr: str, entity_set: EntitySet) -> list[tuple[str, bool]]:
    """``A, B desc`` as [(property, descending)]; properties of the set itself only."""
    out: list[tuple[str, bool]] = []
    for item in expr.split(","):
        parts = item.split()
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1] not in ("asc", "desc")):
            raise bad_request(f"Invalid sort expression '{item.strip()}' in $orderby")
        if parts[0] not in entity_set.properties:
            raise _unknown_property(entity_set, parts[0])
        out.append((parts[0], len(parts) == 2 and parts[1] == "desc"))
    return out


def sort_records(records: list[dict], orderby: list[tuple[str, bool]]) -> list[dict]:
    """A sorted copy; null sorts first ascending and last descending (as HANA does)."""
    result = list(records)
    for name, descending in reversed(orderby):
        result.sort(key=lambda r: (0, 0) if r.get(name) is None else (1, r.get(name)), reverse=descending)
    return result


def _target(entity_set: EntitySet, nav: Navigation) -> EntitySet:
    return load_model()[entity_set.service][nav.target_set]


def _walk(entity_set: EntitySet, path: list[str], option: str) -> tuple[list[Navigation], EntitySet]:
    navs: list[Navigation] = []
    current = entity_set
    for step in path:
        nav = current.navigations.get(step)
        if nav is None:
            raise bad_request(
                f"Invalid {option}: '{step}' is not a navigation property of type '{current.type_name}'"
            )
        navs.append(nav)
        current = _target(current, nav)
    return navs, current


def parse_select(expr: str, entity_set: EntitySet) -> tuple[list[str], dict[str, list[str]]]:
    """``$select`` as (own properties, {navigation path: its selected properties}).

    ``*`` selects all own properties; ``to_X`` or ``to_X/*`` selects every property of the
    navigation target (an empty list); ``to_X/CityName`` selects one. Unknown names are 400.
    """
    own: list[str] = []
    navs: dict[str, list[str]] = {}
    whole: set[str] = set()
    for raw in expr.split(","):
        item = raw.strip()
        if not item:
            raise bad_request(f"Invalid $select expression '{expr}'")
        if item == "*":
            own.extend(p for p in entity_set.properties if p not in own)
            continue
        parts = item.split("/")
        if len(parts) == 1 and parts[0] in entity_set.properties:
            if parts[0] not in own:
                own.append(parts[0])
            continue
        last = parts[-1]
        _, target = _walk(entity_set, parts[:-1], "$select") if len(parts) > 1 else (None, entity_set)
        if last in target.navigations:
            _walk(target, [last], "$select")
            key = item
            whole.add(key)
            navs[key] = []
        elif len(parts) > 1 and (last == "*" or last in target.properties):
            key = "/".join(parts[:-1])
            if last == "*":
                whole.add(key)
                navs[key] = []
            elif key not in whole and last not in navs.setdefault(key, []):
                navs[key].append(last)
        else:
            raise _unknown_property(target, last)
    return own, navs


def parse_expand(expr: str, entity_set: EntitySet) -> list[list[Navigation]]:
    """``to_A/to_B,to_C`` as navigation paths, each checked against the model (400 otherwise)."""
    paths: list[list[Navigation]] = []
    for raw in expr.split(","):
        item = raw.strip()
        if not item:
            raise bad_request(f"Invalid $expand expression '{expr}'")
        navs, _ = _walk(entity_set, item.split("/"), "$expand")
        if navs not in paths:
            paths.append(navs)
    return paths
