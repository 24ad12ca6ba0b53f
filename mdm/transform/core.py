"""The transform machinery: the registry and its decorator, the run-time context, compiling a mapping's
steps (``compile_step``) and the type checks of their arguments."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


class TransformError(ValueError):
    """A transform could not interpret its value; the message says why, never what the value was."""


class TransformConfigError(ValueError):
    """A transform is configured wrongly in a mapping (unknown name, bad arguments)."""


class ValueMap:
    """A named lookup table from the mapping's ``value_maps``; keys match case- and space-insensitively."""

    def __init__(self, name: str, entries: Mapping[str, Any]) -> None:
        self.name = name
        self.entries = dict(entries)
        self._forward = {lookup_key(k): v for k, v in entries.items()}
        self._reverse: dict[str, str] = {}
        for k, v in entries.items():
            if v is not None:
                self._reverse.setdefault(lookup_key(str(v)), k)

    def get(self, value: str, reverse: bool = False) -> Any:
        table = self._reverse if reverse else self._forward
        return table.get(lookup_key(value))

    def __contains__(self, value: str) -> bool:
        return lookup_key(value) in self._forward


def lookup_key(text: str) -> str:
    return " ".join(str(text).casefold().split())


@dataclass(frozen=True)
class Context:
    """What a transform may know beyond its value: the record's country and the mapping's value maps."""

    country: str | None = None
    value_maps: Mapping[str, ValueMap] = field(default_factory=dict)

    def value_map(self, name: str) -> ValueMap:
        try:
            return self.value_maps[name]
        except KeyError:
            raise TransformError(f"there is no value map {name!r}") from None


@dataclass(frozen=True)
class TransformDef:
    name: str
    fn: Callable[..., Any]
    uses_country: bool = False  # reads ctx.country: evaluated after the record's country is known
    uses_context: bool = False  # receives ctx=Context
    accepts_none: bool = False  # called for a missing value too (e.g. default)
    accepts_list: bool = False  # receives a list whole (several sources, [*] paths); else maps over it
    value_map_args: tuple[str, ...] = ()  # arguments that name a value map, checked at load time


REGISTRY: dict[str, TransformDef] = {}


def transform(
    name: str | None = None,
    *,
    uses_country: bool = False,
    accepts_none: bool = False,
    accepts_list: bool = False,
    value_map_args: tuple[str, ...] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function as a named transform."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        uses_context = "ctx" in inspect.signature(fn).parameters
        REGISTRY[name or fn.__name__] = TransformDef(
            name or fn.__name__, fn, uses_country, uses_context, accepts_none, accepts_list, value_map_args
        )
        return fn

    return register


@dataclass(frozen=True)
class Step:
    """One configured transform, ready to apply."""

    definition: TransformDef
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, value: Any, ctx: Context) -> Any:
        d = self.definition
        if value is None and not d.accepts_none:
            return None
        if isinstance(value, list) and not d.accepts_list:
            return [self._one(v, ctx) for v in value]
        return self._one(value, ctx)

    def _one(self, value: Any, ctx: Context) -> Any:
        if value is None and not self.definition.accepts_none:
            return None
        if self.definition.uses_context:
            result = self.definition.fn(value, *self.args, ctx=ctx, **self.kwargs)
        else:
            result = self.definition.fn(value, *self.args, **self.kwargs)
        return None if result == "" else result


def compile_step(spec: str | Mapping[str, Any], value_maps: Mapping[str, Any]) -> Step:
    """A transform as written in YAML (``name`` or ``{name: args}``), checked and bound."""
    if isinstance(spec, str):
        name, raw = spec, None
    elif isinstance(spec, Mapping) and len(spec) == 1:
        ((name, raw),) = spec.items()
    else:
        raise TransformConfigError("a transform is a name or a mapping with exactly one name")
    definition = REGISTRY.get(name)
    if definition is None:
        known = ", ".join(sorted(REGISTRY))
        raise TransformConfigError(f"unknown transform {name!r} (known: {known})")
    if raw is None:
        args, kwargs = (), {}
    elif isinstance(raw, Mapping):
        args, kwargs = (), dict(raw)
    elif isinstance(raw, list):
        args, kwargs = tuple(raw), {}
    else:
        args, kwargs = (raw,), {}
    signature = inspect.signature(definition.fn)
    extra = {"ctx": None} if definition.uses_context else {}
    try:
        bound = signature.bind(None, *args, **kwargs, **extra)
    except TypeError as exc:
        raise TransformConfigError(f"transform {name!r}: {exc}") from None
    hints = typing.get_type_hints(definition.fn)
    for arg, value in bound.arguments.items():
        if arg in ("value", "ctx") or arg not in hints:
            continue
        if not _fits(value, hints[arg]):
            expected = _describe(hints[arg])
            raise TransformConfigError(f"transform {name!r}: argument {arg!r} must be {expected}")
    for arg in definition.value_map_args:
        # Only maps named in the file must exist; a default one (country aliases) is optional.
        map_name = bound.arguments.get(arg)
        if map_name is not None and map_name not in value_maps:
            raise TransformConfigError(f"transform {name!r}: value_maps has no map {map_name!r}")
    return Step(definition, args, kwargs)


def _fits(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return value in typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is Any:
        return True
    return isinstance(value, hint) if isinstance(hint, type) else True


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin is not None:
        return " or ".join(_describe(h) for h in typing.get_args(hint))
    return {int: "an integer", str: "text", bool: "true or false", type(None): "null"}.get(hint, str(hint))


def describe_kind(value: Any) -> str:
    """A value's kind for a problem report, without the value itself (it may be personal data)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return f"a {len(value)}-character text"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    raise TransformError(f"expected text, got {describe_kind(value)}")
