"""Source records to the canonical model and back, as ``mappings/<entity>.yaml`` declares it.

``to_canonical`` reads one raw payload (a Salesforce record's REST JSON, an SAP partner with its
expanded navigations) through the system's ``fields`` rules: a source path, ordered transforms,
optional fallbacks, then the canonical field's type check. A value that cannot be read becomes
None plus a readable problem; one bad field never stops a batch. ``to_target`` projects canonical
values into a system's shape through its ``publish`` rules, restricted to what it may receive:
flat fields for Salesforce, a nested dict for an SAP deep insert or merge.

``compile_model`` turns the validated YAML into these rules once, at load time, so unknown
transforms, canonical fields, unread source fields or unwritable targets fail there, naming the
file, the line and the field.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal, Protocol

import pycountry

from mdm.transform import (
    Context,
    Step,
    TransformConfigError,
    TransformError,
    ValueMap,
    compile_step,
    describe_kind,
)

log = logging.getLogger(__name__)

System = Literal["salesforce", "sap"]
Fail = Callable[[list[str | int], str], Exception]  # builds the mapping error for a location in the file

_SEGMENT = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\[(?P<index>\d+|\*)\])?$")


@dataclass(frozen=True)
class SourcePath:
    """A path into a payload: ``Name``, ``Account.Name``, ``to_BusinessPartnerAddress[0].StreetName``,
    ``to_BusinessPartnerTax[*].BPTaxNumber`` (every item: a list)."""

    text: str
    segments: tuple[tuple[str, int | Literal["*"] | None], ...]

    @classmethod
    def parse(cls, text: str) -> SourcePath:
        segments: list[tuple[str, int | Literal["*"] | None]] = []
        for part in text.split("."):
            match = _SEGMENT.match(part)
            if not match:
                raise ValueError(f"{text!r} is not a path (name, name[0], name[*], joined by dots)")
            index = match.group("index")
            segments.append(
                (match.group("name"), None if index is None else "*" if index == "*" else int(index))
            )
        return cls(text, tuple(segments))

    @property
    def navigation(self) -> str:
        """The navigation part as the mapping's ``expand`` writes it (``to_A/to_B``), '' for a property."""
        return "/".join(name for name, _ in self.segments[:-1])

    @property
    def plain(self) -> str:
        """The path without indices, slash-separated (``to_BusinessPartnerTax/BPTaxNumber``)."""
        return "/".join(name for name, _ in self.segments)

    def resolve(self, payload: Any) -> Any:
        return _resolve(payload, self.segments)


def _resolve(node: Any, segments: tuple[tuple[str, int | Literal["*"] | None], ...]) -> Any:
    if not segments:
        return node
    if not isinstance(node, dict):
        return None
    (name, index), rest = segments[0], segments[1:]
    value = node.get(name)
    if type(value) is dict and isinstance(value.get("results"), list):
        value = value["results"]  # OData V2 verbose form of an expanded to-many navigation
    if index is None:
        return _resolve(value, rest)
    items = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
    if index == "*":
        out: list[Any] = []
        for item in items:
            found = _resolve(item, rest)
            if isinstance(found, list):
                out.extend(found)
            elif found is not None:
                out.append(found)
        return out
    return _resolve(items[index], rest) if index < len(items) else None


# --- canonical fields --------------------------------------------------------------------------------

FieldType = Literal[
    "string", "code", "country", "phone", "email", "domain", "vat", "digits", "date", "datetime",
    "decimal", "integer", "boolean",
]  # fmt: skip

_CHECKS: dict[str, re.Pattern[str]] = {
    "code": re.compile(r"^[A-Z0-9][A-Z0-9_.-]*$"),
    "phone": re.compile(r"^\+[1-9]\d{4,14}$"),
    "email": re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]{2,}$"),
    "domain": re.compile(r"^[^\s/:@]+\.[^\s/:@]{2,}$"),
    "vat": re.compile(r"^[A-Z0-9]{4,20}$"),
    "digits": re.compile(r"^\d+$"),
}
_SAP_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")


@dataclass(frozen=True)
class CanonicalField:
    name: str
    type: FieldType
    required: bool = False
    max_length: int | None = None
    pattern: re.Pattern[str] | None = None
    enum: frozenset[str] | None = None

    def coerce(self, value: Any) -> Any:
        """The value in this field's canonical form; TransformError when it does not fit the type."""
        value = _coerce_type(self.type, value)
        if isinstance(value, str):
            if self.max_length is not None and len(value) > self.max_length:
                raise TransformError(f"longer than {self.max_length} characters")
            if self.pattern is not None and not self.pattern.search(value):
                raise TransformError(f"does not match the pattern of a {self.name}")
            if self.enum is not None and value not in self.enum:
                raise TransformError("not one of the allowed values")
        return value


def _coerce_type(kind: str, value: Any) -> Any:
    if isinstance(value, list):
        raise TransformError(f"several values where one is expected ({describe_kind(value)}; add 'first')")
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "x", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise TransformError("not a boolean")
    if kind == "integer":
        try:
            return int(str(value).strip())
        except ValueError:
            raise TransformError("not an integer") from None
    if kind == "decimal":
        try:
            return str(Decimal(str(value).strip()).normalize())
        except InvalidOperation:
            raise TransformError("not a decimal number") from None
    if kind in ("date", "datetime"):
        return _coerce_time(kind, value)
    if not isinstance(value, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        else:
            raise TransformError(f"expected text, got {describe_kind(value)}")
    if kind == "country":
        if not _is_country(value):
            raise TransformError("not an ISO 3166-1 alpha-2 country code")
        return value
    check = _CHECKS.get(kind)
    if check is not None and not check.match(value):
        raise TransformError(f"not a valid {kind}")
    return value


@lru_cache(maxsize=512)
def _is_country(code: str) -> bool:
    return len(code) == 2 and pycountry.countries.get(alpha_2=code) is not None


def _coerce_time(kind: str, value: Any) -> str:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        return value.isoformat()
    else:
        text = str(value).strip()
        sap = _SAP_DATE.match(text)
        try:
            if sap:
                moment = dt.datetime.fromtimestamp(int(sap.group(1)) / 1000, dt.UTC)
            else:
                moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise TransformError(f"not a {kind}") from None
    if kind == "date":
        return moment.date().isoformat()
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


# --- compiled rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboundRule:
    """canonical field <- source path(s), transforms, fallbacks."""

    field: str
    sources: tuple[SourcePath, ...]
    many: bool  # ``from`` listed several paths: the transforms get a list
    steps: tuple[Step, ...]
    fallbacks: tuple[InboundRule, ...] = ()
    uses_country: bool = field(init=False)  # some transform reads the record's country

    def __post_init__(self) -> None:
        steps = any(s.definition.uses_country for s in self.steps)
        object.__setattr__(self, "uses_country", steps or any(f.uses_country for f in self.fallbacks))

    def read(self, payload: Any, ctx: Context, problems: list[str]) -> Any:
        raw = [p.resolve(payload) for p in self.sources] if self.many else self.sources[0].resolve(payload)
        value = _empty_to_none(raw)
        if value is not None:
            try:
                for step in self.steps:
                    value = step(value, ctx)
                    if value is None:
                        break
            except TransformError as exc:
                source = ", ".join(p.text for p in self.sources)
                problems.append(f"{self.field}: {exc} ({describe_kind(raw)} in {source})")
                value = None
        value = _empty_to_none(value)
        for fallback in self.fallbacks:
            if value is not None:
                break
            value = fallback.read(payload, ctx, problems)
        return value


def _empty_to_none(value: Any) -> Any:
    if value == "" or value == []:
        return None
    if isinstance(value, list) and all(v in (None, "") for v in value):
        return None
    return value


@dataclass(frozen=True)
class OutboundRule:
    """target field or path <- canonical field(s) or a constant, with transforms."""

    target: str
    path: tuple[tuple[str, int | None], ...]
    sources: tuple[str, ...]
    many: bool
    steps: tuple[Step, ...]
    constant: Any = None
    when: tuple[str, ...] = ()  # only when these canonical fields have values


@dataclass(frozen=True)
class SystemRules:
    inbound: tuple[InboundRule, ...]  # those that need the country come last
    outbound: tuple[OutboundRule, ...]


@dataclass(frozen=True)
class EntityModel:
    """The compiled canonical part of one entity mapping."""

    fields: dict[str, CanonicalField]
    systems: dict[str, SystemRules]
    value_maps: dict[str, ValueMap]

    def context(self, country: str | None = None) -> Context:
        return Context(country=country, value_maps=self.value_maps)

    def receivable(self, system: str) -> tuple[str, ...]:
        """The target fields or paths this system may receive."""
        return tuple(rule.target for rule in self.systems[system].outbound)


@dataclass
class CanonicalResult:
    values: dict[str, Any]
    problems: list[str] = field(default_factory=list)


class HasModel(Protocol):
    """A loaded mapping (``mdm.config.Mapping``): its compiled canonical section, and its file."""

    @property
    def model(self) -> EntityModel | None: ...

    @property
    def path(self) -> Any: ...


def _model(mapping: HasModel | EntityModel) -> EntityModel:
    if isinstance(mapping, EntityModel):
        return mapping
    if mapping.model is None:
        raise ValueError(f"mapping {mapping.path} has no canonical section")
    return mapping.model


def to_canonical(
    mapping: HasModel | EntityModel,
    system: System,
    payload: AbcMapping[str, Any],
    default_country: str | None = None,
) -> CanonicalResult:
    """The canonical values of one source record, with a problem per value that could not be read.

    ``default_country`` is the country to read country-dependent values (a national phone number,
    a region name) with when the record names none itself; the record's ``country`` stays empty.
    """
    model = _model(mapping)
    rules = model.systems[system]
    values: dict[str, Any] = dict.fromkeys(model.fields)
    problems: list[str] = []
    ctx = model.context(default_country)
    for rule in rules.inbound:
        country = values.get("country") or default_country
        if rule.uses_country and ctx.country != country:
            ctx = model.context(country)
        value = rule.read(payload, ctx, problems)
        if value is not None:
            try:
                value = model.fields[rule.field].coerce(value)
            except TransformError as exc:
                problems.append(f"{rule.field}: {exc} ({describe_kind(value)})")
                value = None
        values[rule.field] = value
    for name, spec in model.fields.items():
        if spec.required and values[name] is None:
            problems.append(f"{name}: required, but the record has no usable value")
    return CanonicalResult(values, problems)


def to_target(
    mapping: HasModel | EntityModel, system: System, values: AbcMapping[str, Any], include_nulls: bool = False
) -> dict[str, Any]:
    """Canonical values in the target system's shape, restricted to the fields it may receive.

    Missing values are left out (``include_nulls`` writes them as None, to clear a field).
    A value a transform cannot write is left out and logged with its field, never its content.
    """
    model = _model(mapping)
    ctx = model.context(values.get("country"))
    root: dict[str, Any] = {}
    for rule in model.systems[system].outbound:
        if any(values.get(name) in (None, "") for name in rule.when):
            continue
        if rule.sources:
            value: Any = [values.get(s) for s in rule.sources] if rule.many else values.get(rule.sources[0])
            value = _empty_to_none(value)
            try:
                for step in rule.steps:
                    if value is None:
                        break
                    value = step(value, ctx)
            except TransformError as exc:
                log.warning("%s %s: cannot write %s: %s", system, rule.target, describe_kind(value), exc)
                continue
        else:
            value = rule.constant
        if value is None and not include_nulls:
            continue
        _assign(root, rule.path, value)
    return _finish(root)


class _Items(dict):
    """A list under construction: index -> item."""


def _assign(root: dict[str, Any], path: tuple[tuple[str, int | None], ...], value: Any) -> None:
    node = root
    for name, index in path[:-1]:
        if index is None:
            node = node.setdefault(name, {})
        else:
            node = node.setdefault(name, _Items()).setdefault(index, {})
    name, index = path[-1]
    if index is None:
        node[name] = value
    else:
        node.setdefault(name, _Items())[index] = value


def _finish(node: Any) -> Any:
    if isinstance(node, _Items):
        return [_finish(node[i]) for i in sorted(node)]
    if isinstance(node, dict):
        return {k: _finish(v) for k, v in node.items()}
    return node


# --- compiling the YAML ------------------------------------------------------------------------------


def compile_model(data: dict[str, Any], fail: Fail) -> EntityModel | None:
    """The rules of a schema-valid mapping's ``canonical`` section, or None when it has none.

    ``fail(location, reason)`` builds the MappingError for a location in the file.
    """
    if "canonical" not in data:
        return None
    fields = {
        name: CanonicalField(
            name=name,
            type=spec["type"],
            required=spec.get("required", False),
            max_length=spec.get("max_length"),
            pattern=_regex(spec.get("pattern"), fail, ["canonical", "fields", name, "pattern"]),
            enum=frozenset(spec["enum"]) if "enum" in spec else None,
        )
        for name, spec in data["canonical"]["fields"].items()
    }
    value_maps = {name: ValueMap(name, entries) for name, entries in data.get("value_maps", {}).items()}
    systems: dict[str, SystemRules] = {}
    for system, spec in data["systems"].items():
        base = ["systems", system]
        inbound = [
            _inbound(system, spec, name, rule, fields, value_maps, fail, [*base, "fields", name])
            for name, rule in spec.get("fields", {}).items()
        ]
        inbound.sort(key=lambda r: r.uses_country)  # stable: the country is known before it is needed
        for rule in inbound:
            if rule.field == "country" and rule.uses_country:
                fail([*base, "fields", "country"], "the country cannot depend on a country-aware transform")
        outbound = [
            _outbound(system, spec, target, rule, fields, value_maps, fail, [*base, "publish", target])
            for target, rule in spec.get("publish", {}).items()
        ]
        systems[system] = SystemRules(tuple(inbound), tuple(outbound))
    return EntityModel(fields, systems, value_maps)


def _regex(pattern: str | None, fail: Fail, where: list[str | int]) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise fail(where, f"not a valid regular expression: {exc}") from None


def _steps(
    specs: list[Any], value_maps: dict[str, ValueMap], fail: Fail, where: list[str | int]
) -> tuple[Step, ...]:
    steps = []
    for i, spec in enumerate(specs):
        try:
            steps.append(compile_step(spec, value_maps))
        except TransformConfigError as exc:
            raise fail([*where, i], str(exc)) from None
    return tuple(steps)


def _inbound(
    system: str,
    spec: dict[str, Any],
    name: str,
    rule: Any,
    fields: dict[str, CanonicalField],
    value_maps: dict[str, ValueMap],
    fail: Fail,
    where: list[str | int],
) -> InboundRule:
    if name not in fields:
        raise fail(where, f"{name!r} is not a canonical field (canonical.fields: {', '.join(fields)})")
    if isinstance(rule, str):
        rule = {"from": rule}
    sources_raw = rule["from"] if isinstance(rule["from"], list) else [rule["from"]]
    sources = []
    for i, text in enumerate(sources_raw):
        loc = [*where, "from", i] if isinstance(rule["from"], list) else [*where, "from"]
        try:
            path = SourcePath.parse(text)
        except ValueError as exc:
            raise fail(loc, str(exc)) from None
        _check_readable(system, spec, path, fail, loc)
        sources.append(path)
    fallbacks = tuple(
        _inbound(system, spec, name, fb, fields, value_maps, fail, [*where, "fallback", i])
        for i, fb in enumerate(rule.get("fallback", []))
    )
    return InboundRule(
        field=name,
        sources=tuple(sources),
        many=isinstance(rule["from"], list),
        steps=_steps(rule.get("transforms", []), value_maps, fail, [*where, "transforms"]),
        fallbacks=fallbacks,
    )


def _check_readable(system: str, spec: dict[str, Any], path: SourcePath, fail: Fail, where: list) -> None:
    if system == "salesforce":
        read = {f.lower() for f in spec.get("read", [])}
        dotted = ".".join(name for name, _ in path.segments)
        if dotted.lower() not in read:
            raise fail(where, f"{dotted} is not in systems.salesforce.read, so the payload will not have it")
        return
    navigation = path.navigation
    if navigation and not any(
        e == navigation or e.startswith(navigation + "/") for e in spec.get("expand", [])
    ):
        raise fail(where, f"navigation {navigation} is not in systems.{system}.expand, so it is not read")


def _outbound(
    system: str,
    spec: dict[str, Any],
    target: str,
    rule: Any,
    fields: dict[str, CanonicalField],
    value_maps: dict[str, ValueMap],
    fail: Fail,
    where: list[str | int],
) -> OutboundRule:
    try:
        parsed = SourcePath.parse(target)
    except ValueError as exc:
        raise fail(where, str(exc)) from None
    if any(index == "*" for _, index in parsed.segments):
        raise fail(where, "a target path takes item numbers ([0]), not [*]")
    writable = {w.lower() for w in spec.get("writable", [])}
    if parsed.plain.lower() not in writable:
        raise fail(where, f"{parsed.plain} is not in systems.{system}.writable")
    if isinstance(rule, str):
        rule = {"from": rule}
    if ("from" in rule) == ("value" in rule):
        raise fail(where, "give either 'from' (canonical fields) or 'value' (a constant)")
    sources: tuple[str, ...] = ()
    if "from" in rule:
        sources = tuple(rule["from"]) if isinstance(rule["from"], list) else (rule["from"],)
    when = (
        tuple(rule["when"]) if isinstance(rule.get("when"), list) else tuple(filter(None, [rule.get("when")]))
    )
    for key, names in (("from", sources), ("when", when)):
        for name in names:
            if name not in fields:
                raise fail([*where, key], f"{name!r} is not a canonical field")
    return OutboundRule(
        target=target,
        path=tuple((name, index) for name, index in parsed.segments),  # type: ignore[misc]
        sources=sources,
        many=isinstance(rule.get("from"), list),
        steps=_steps(rule.get("transforms", []), value_maps, fail, [*where, "transforms"]),
        constant=rule.get("value"),
        when=when,
    )
