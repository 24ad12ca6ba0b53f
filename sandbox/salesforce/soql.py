"""SOQL for the sandbox org: a lark (LALR) parser and schema validation.

``parse`` turns a query into a validated :class:`Query` (or raises :class:`SoqlError` with the
error code and caret-annotated message Salesforce sends); ``sandbox.salesforce.soql_eval.execute``
filters, sorts, pages and shapes stored records exactly like the REST ``query`` / ``queryAll``
resources, with the WHERE clause compiled once per call into closures.

Supported: field lists with parent relationship paths, ``COUNT()``, WHERE with AND / OR / NOT
(parentheses required when mixing them, as in Salesforce), = != <> < <= > >= LIKE IN NOT IN,
string / number / boolean / null / date / dateTime literals and the common relative date
literals, ORDER BY ... ASC|DESC NULLS FIRST|LAST, LIMIT and OFFSET.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from sandbox.salesforce.schema import FieldDef, ObjectDef

MAX_OFFSET = 2000
# Long text areas (Description) can be neither filtered nor sorted; short ones (BillingStreet) can.
MAX_FILTERABLE_TEXT = 255

TEXT_TYPES = {"string", "textarea", "picklist", "phone", "url", "email", "combobox", "multipicklist"}
ID_TYPES = {"id", "reference"}
NUMBER_TYPES = {"double", "currency", "int", "percent"}

_GRAMMAR = r"""
start: _SELECT select_list _FROM PATH where_clause? order_clause? limit_clause? offset_clause?

select_list: _COUNT "(" ")"              -> count_list
           | PATH ("," PATH)*            -> field_list

where_clause: _WHERE condition
?condition: simple | and_cond | or_cond | not_cond
and_cond: simple (_AND simple)+
or_cond: simple (_OR simple)+
not_cond: _NOT simple
?simple: comparison | "(" condition ")"
comparison: PATH OP value                          -> compare
          | PATH _LIKE value                       -> like
          | PATH _IN "(" value ("," value)* ")"       -> in_list
          | PATH _NOT _IN "(" value ("," value)* ")"  -> not_in_list
value: STRING | NUMBER | DATETIME | DATE | DATE_LITERAL | DATE_N_LITERAL | TRUE | FALSE | NULL

order_clause: _ORDER _BY order_item ("," order_item)*
order_item: PATH DIRECTION? (_NULLS NULLS_POSITION)?
limit_clause: _LIMIT NUMBER
offset_clause: _OFFSET NUMBER

_SELECT.2: /select\b/i
_FROM.2: /from\b/i
_WHERE.2: /where\b/i
_COUNT.2: /count\b/i
_AND.2: /and\b/i
_OR.2: /or\b/i
_NOT.2: /not\b/i
_LIKE.2: /like\b/i
_IN.2: /in\b/i
_ORDER.2: /order\b/i
_BY.2: /by\b/i
_NULLS.2: /nulls\b/i
_LIMIT.2: /limit\b/i
_OFFSET.2: /offset\b/i
DIRECTION.2: /(asc|desc)\b/i
NULLS_POSITION.2: /(first|last)\b/i
TRUE.2: /true\b/i
FALSE.2: /false\b/i
NULL.2: /null\b/i
DATE_LITERAL.2: /(today|yesterday|tomorrow|(last|this|next)_(week|month|year)|(last|next)_90_days)\b/i
DATE_N_LITERAL.3: /(last_n_days|next_n_days|n_days_ago|last_n_months|next_n_months):\d+\b/i
DATETIME.4: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})/
DATE.3: /\d{4}-\d{2}-\d{2}(?![\d:])/
NUMBER: /[+-]?(\d+(\.\d*)?|\.\d+)/
STRING: /'(\\.|[^'\\])*'/s
PATH: /[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*/
OP: /!=|<>|<=|>=|=|<|>/

%ignore /\s+/
"""

_PARSER = Lark(_GRAMMAR, parser="lalr", lexer="contextual", maybe_placeholders=False)

# Tokens for the context window Salesforce prints above the caret (a few tokens either side).
_WINDOW_TOKEN = re.compile(r"'(?:\\.|[^'\\])*'?|[A-Za-z0-9_.:+\-]+|!=|<>|<=|>=|\S")
_WINDOW_TOKENS = 4


class SoqlError(Exception):
    """A SOQL failure as Salesforce reports it: ``code`` is the errorCode (MALFORMED_QUERY,
    INVALID_FIELD, INVALID_TYPE, INVALID_QUERY_FILTER_OPERATOR, NUMBER_OUTSIDE_VALID_RANGE) and
    ``message`` the exact message text, caret block included."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def body(self) -> list[dict[str, str]]:
        """The REST error body: ``[{"message": ..., "errorCode": ...}]``."""
        return [{"message": self.message, "errorCode": self.code}]


def _located(soql: str, line: int, column: int, text: str) -> str:
    """Salesforce's caret block: the tokens around the error, a caret, Row/Column (1-based), text."""
    lines = soql.split("\n")
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    at = column - 1
    tokens = list(_WINDOW_TOKEN.finditer(source))
    index = next((i for i, t in enumerate(tokens) if t.end() > at), len(tokens))
    first = tokens[max(0, index - _WINDOW_TOKENS)].start() if tokens else 0
    last = tokens[min(len(tokens), index + _WINDOW_TOKENS + 1) - 1].end() if tokens else 0
    window = source[first:last]
    caret = " " * max(0, at - first) + "^"
    return f"\n{window}\n{caret}\nERROR at Row:{line}:Column:{column}\n{text}"


def _error_at(code: str, soql: str, token: Token, text: str) -> SoqlError:
    return SoqlError(code, _located(soql, token.line or 1, token.column or 1, text))


# ---------------------------------------------------------------------------------------------
# The validated query
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One parent hop: the reference field to follow and the objects it may point to."""

    relationship: str  # canonical relationship name, e.g. "Account"
    reference_field: str  # e.g. "AccountId"
    targets: tuple[str, ...]  # reference_to; several for polymorphic lookups (Owner -> Group, User)
    unstored: frozenset[str] = frozenset()  # targets the schema lacks (User, Group): Id-only stubs


@dataclass(frozen=True)
class FieldPath:
    """A validated field reference such as ``Account.Owner.Id``."""

    text: str
    steps: tuple[Step, ...]
    field: FieldDef
    token: Token = field(compare=False, repr=False)


@dataclass(frozen=True)
class Literal:
    kind: str  # string, number, boolean, null, date, datetime, relative
    value: Any  # decoded value; for relative: (name, n)
    raw: str
    token: Token = field(compare=False, repr=False)


@dataclass(frozen=True)
class Compare:
    path: FieldPath
    op: str  # = != < <= > >=
    literal: Literal


@dataclass(frozen=True)
class Like:
    path: FieldPath
    literal: Literal


@dataclass(frozen=True)
class InList:
    path: FieldPath
    literals: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True)
class BoolOp:
    op: str  # and, or, not
    items: tuple[Predicate, ...]


Predicate = Compare | Like | InList | BoolOp


@dataclass(frozen=True)
class OrderItem:
    path: FieldPath
    descending: bool
    nulls_first: bool


@dataclass
class Query:
    """A parsed, schema-validated SOQL query."""

    object_name: str
    count_only: bool
    limit: int | None
    offset: int | None
    select: tuple[FieldPath, ...] = ()
    where: Predicate | None = None
    order_by: tuple[OrderItem, ...] = ()
    soql: str = ""


# ---------------------------------------------------------------------------------------------
# Parsing and validation
# ---------------------------------------------------------------------------------------------


def parse(soql: str, schema: dict[str, ObjectDef]) -> Query:
    """Parse and validate ``soql`` against ``schema`` (load_schema()). Raises SoqlError."""
    try:
        tree = _PARSER.parse(soql)
    except UnexpectedInput as exc:
        raise _syntax_error(soql, exc) from None
    return _Validator(soql, schema).query(tree)


def _syntax_error(soql: str, exc: UnexpectedInput) -> SoqlError:
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        token = exc.token
        return SoqlError(
            "MALFORMED_QUERY",
            _located(soql, token.line or 1, token.column or 1, f"unexpected token: '{token.value}'"),
        )
    if isinstance(exc, UnexpectedCharacters):
        rest = soql.split("\n")[exc.line - 1][exc.column - 1 :]
        word = re.match(r"\S+", rest)
        shown = word.group(0) if word else rest[:1]
        return SoqlError(
            "MALFORMED_QUERY", _located(soql, exc.line, exc.column, f"unexpected token: '{shown}'")
        )
    assert isinstance(exc, UnexpectedToken | UnexpectedEOF)
    lines = soql.rstrip().split("\n")
    return SoqlError(
        "MALFORMED_QUERY", _located(soql, len(lines), len(lines[-1]) + 1, "unexpected token: '<EOF>'")
    )


# Objects the sandbox does not store (User, Group) still answer Id and Name through a lookup.
_STUB_FIELDS = {
    "id": FieldDef(name="Id", type="id", nillable=False, createable=False, updateable=False, length=18),
    "name": FieldDef(
        name="Name", type="string", nillable=True, createable=False, updateable=False, length=255
    ),
}


class _Validator:
    def __init__(self, soql: str, schema: dict[str, ObjectDef]) -> None:
        self.soql = soql
        self.schema = schema
        self.by_lower = {name.lower(): obj for name, obj in schema.items()}

    def query(self, tree: Tree) -> Query:
        select_list, object_token, *clauses = tree.children
        obj = self.by_lower.get(str(object_token).lower())
        if obj is None:
            raise _error_at(
                "INVALID_TYPE",
                self.soql,
                object_token,
                f"sObject type '{object_token}' is not supported. If you are attempting to use a custom "
                "object, be sure to append the '__c' after the entity name. Please reference your WSDL "
                "or the describe call for the appropriate names.",
            )
        self.obj = obj
        query = Query(
            object_name=obj.name,
            count_only=select_list.data == "count_list",
            limit=None,
            offset=None,
            soql=self.soql,
        )
        if not query.count_only:
            query.select = self._select(select_list.children)
        for clause in clauses:
            if clause.data == "where_clause":
                query.where = self._condition(clause.children[0])
            elif clause.data == "order_clause":
                query.order_by = tuple(self._order_item(item) for item in clause.children)
            elif clause.data == "limit_clause":
                query.limit = self._integer(clause.children[0])
            elif clause.data == "offset_clause":
                query.offset = self._integer(clause.children[0])
                if query.offset > MAX_OFFSET:
                    raise SoqlError(
                        "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}"
                    )
        return query

    def _integer(self, token: Token) -> int:
        if not re.fullmatch(r"\d+", token):
            raise _error_at("MALFORMED_QUERY", self.soql, token, f"unexpected token: '{token}'")
        return int(token)

    def _select(self, tokens: list[Token]) -> tuple[FieldPath, ...]:
        paths: list[FieldPath] = []
        seen: set[str] = set()
        for token in tokens:
            path = self.path(token)
            key = ".".join([s.relationship for s in path.steps] + [path.field.name]).lower()
            if key in seen:
                raise _error_at("MALFORMED_QUERY", self.soql, token, f"duplicate field selected: {token}")
            seen.add(key)
            paths.append(path)
        return tuple(paths)

    def path(self, token: Token) -> FieldPath:
        """Resolve ``Rel.Rel.Field`` from the queried object; an ``Account.`` prefix naming the
        queried object itself is allowed, as in SOQL."""
        parts = str(token).split(".")
        obj: ObjectDef | None = self.obj
        entity = self.obj.name
        qualified = len(parts) > 1 and parts[0].lower() == self.obj.name.lower()
        if qualified and not self.obj.relationship(parts[0]):
            parts = parts[1:]
        steps: list[Step] = []
        for name in parts[:-1]:
            ref = obj.relationship(name) if obj is not None else None
            if ref is None:
                raise _error_at(
                    "INVALID_FIELD",
                    self.soql,
                    token,
                    f"Didn't understand relationship '{name}' in field path. If you are attempting to use "
                    "a custom relationship, be sure to append the '__r' after the custom relationship "
                    "name. Please reference your WSDL or the describe call for the appropriate names.",
                )
            known = [t for t in ref.reference_to if t in self.schema]
            unstored = frozenset(t for t in ref.reference_to if t not in self.schema)
            steps.append(Step(ref.relationship_name or name, ref.name, ref.reference_to, unstored))
            entity = known[0] if known else ref.reference_to[0]
            obj = self.schema[entity] if known else None
        last = parts[-1]
        fdef = obj.field(last) if obj is not None else _STUB_FIELDS.get(last.lower())
        if fdef is None:
            raise _error_at(
                "INVALID_FIELD",
                self.soql,
                token,
                f"No such column '{last}' on entity '{entity}'. If you are attempting to use a custom "
                "field, be sure to append the '__c' after the custom field name. Please reference your "
                "WSDL or the describe call for the appropriate names.",
            )
        return FieldPath(str(token), tuple(steps), fdef, token)

    def _order_item(self, item: Tree) -> OrderItem:
        path_token, *rest = item.children
        path = self.path(path_token)
        if not _sortable(path.field):
            raise _error_at(
                "INVALID_FIELD",
                self.soql,
                path_token,
                f"field '{path.field.name}' can not be sorted in a query call",
            )
        descending = False
        nulls_first: bool | None = None
        for token in rest:
            if token.type == "DIRECTION":
                descending = token.lower() == "desc"
            else:
                nulls_first = token.lower() == "first"
        # Salesforce sorts nulls as the lowest value: first ascending, last descending.
        return OrderItem(path, descending, (not descending) if nulls_first is None else nulls_first)

    def _condition(self, node: Tree) -> Predicate:
        kind = node.data
        if kind in ("and_cond", "or_cond", "not_cond"):
            items = tuple(self._condition(child) for child in node.children)
            return BoolOp(kind.removesuffix("_cond"), items)
        path_token, *rest = node.children
        path = self.path(path_token)
        if not _filterable(path.field):
            raise _error_at(
                "INVALID_FIELD",
                self.soql,
                path_token,
                f"field '{path.field.name}' can not be filtered in query call",
            )
        if kind == "compare":
            op_token, value = rest
            literal = self._literal(path, value)
            op = "!=" if op_token == "<>" else str(op_token)
            return Compare(path, op, literal)
        if kind == "like":
            literal = self._literal(path, rest[0], like=True)
            if literal.kind != "string":
                raise _error_at(
                    "MALFORMED_QUERY", self.soql, literal.token, f"unexpected token: '{literal.raw}'"
                )
            return Like(path, literal)
        literals = tuple(self._literal(path, value) for value in rest)
        return InList(path, literals, negated=kind == "not_in_list")

    def _literal(self, path: FieldPath, value: Tree, *, like: bool = False) -> Literal:
        token: Token = value.children[0]
        literal = _decode_literal(self.soql, token)
        self._check_type(path, literal, like=like)
        return literal

    def _check_type(self, path: FieldPath, literal: Literal, *, like: bool = False) -> None:
        ftype = path.field.type
        kind = literal.kind
        if kind == "null":
            return
        if ftype in TEXT_TYPES or ftype in ID_TYPES:
            if kind != "string":
                expected = "id" if ftype in ID_TYPES else "string"
                raise self._type_error(path, literal, expected, quoted=True)
            if (
                ftype in ID_TYPES
                and not like
                and literal.value
                and not re.fullmatch(r"[A-Za-z0-9]{15}([A-Za-z0-9]{3})?", literal.value)
            ):
                raise _error_at(
                    "INVALID_QUERY_FILTER_OPERATOR",
                    self.soql,
                    literal.token,
                    f"invalid ID field: {literal.value}",
                )
            return
        accepted = {
            "boolean": ({"boolean"}, "boolean"),
            "date": ({"date", "relative"}, "date"),
            "datetime": ({"datetime", "relative"}, "dateTime"),
        }
        if ftype in NUMBER_TYPES:
            kinds, expected = {"number"}, ("integer" if ftype == "int" else "double")
        elif ftype in accepted:
            kinds, expected = accepted[ftype]
        else:
            raise _error_at(
                "INVALID_FIELD",
                self.soql,
                path.token,
                f"field '{path.field.name}' can not be filtered in query call",
            )
        if kind not in kinds:
            raise self._type_error(path, literal, expected, quoted=False)

    def _type_error(self, path: FieldPath, literal: Literal, expected: str, *, quoted: bool) -> SoqlError:
        should = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
        return _error_at(
            "INVALID_FIELD",
            self.soql,
            literal.token,
            f"value of filter criterion for field '{path.field.name}' must be of type {expected} "
            f"and {should}",
        )


def _filterable(fdef: FieldDef) -> bool:
    return fdef.type != "address" and not (fdef.type == "textarea" and fdef.length > MAX_FILTERABLE_TEXT)


def _sortable(fdef: FieldDef) -> bool:
    return _filterable(fdef)


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):?(\d{2}))"
)


def _decode_literal(soql: str, token: Token) -> Literal:
    raw = str(token)
    kind = token.type
    if kind == "STRING":
        return Literal("string", unescape(soql, token, raw[1:-1], like=False), raw, token)
    if kind == "NUMBER":
        number: int | float = float(raw) if "." in raw else int(raw)
        return Literal("number", number, raw, token)
    if kind in ("TRUE", "FALSE"):
        return Literal("boolean", kind == "TRUE", raw, token)
    if kind == "NULL":
        return Literal("null", None, raw, token)
    try:
        if kind == "DATE":
            return Literal("date", date.fromisoformat(raw), raw, token)
        if kind == "DATETIME":
            return Literal("datetime", _parse_datetime(raw), raw, token)
    except ValueError:
        raise _error_at("MALFORMED_QUERY", soql, token, f"invalid date: {raw}") from None
    name, _, n = raw.upper().partition(":")
    return Literal("relative", (name, int(n) if n else None), raw, token)


def _parse_datetime(raw: str) -> str:
    """A dateTime literal in the stored canonical UTC form ``2026-11-23T15:04:05.000+0000``."""
    m = _DATETIME.fullmatch(raw)
    if m is None:
        raise ValueError(raw)
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    millis = int((m.group(7) or "0")[:3].ljust(3, "0"))
    tz = UTC
    if m.group(9):
        offset = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        tz = timezone(offset if m.group(9) == "+" else -offset)
    moment = datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=tz).astimezone(UTC)
    return format_datetime(moment)


def format_datetime(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}+0000"


def unescape(soql: str, token: Token, body: str, *, like: bool) -> str:
    """Decode SOQL string escapes. With ``like``, the result is a regex: unescaped % and _ are
    wildcards while \\% and \\_ stay literal."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1] if i + 1 < len(body) else ""
            key = nxt.lower() if nxt.isalpha() else nxt
            if key in _ESCAPES:
                text = _ESCAPES[key]
            elif nxt in ("%", "_"):
                text = nxt
            elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
                text = chr(int(body[i + 2 : i + 6], 16))
                i += 4
            else:
                raise _error_at(
                    "MALFORMED_QUERY",
                    soql,
                    token,
                    f"Invalid string literal '{body}'. Illegal character sequence '\\{nxt}' in string "
                    "literal.",
                )
            out.append(re.escape(text) if like else text)
            i += 2
            continue
        if like and ch == "%":
            out.append(".*")
        elif like and ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch) if like else ch)
        i += 1
    return "".join(out)
