"""Named transforms for the entity mappings: small pure functions, configured in YAML by name.

A mapping lists transforms per field, in order, either as a bare name (``trim``) or as a one-key
mapping with arguments (``truncate: 40``, ``split_to: {length: 40, part: 2}``). ``compile_step``
checks the name and binds the arguments when the mapping is loaded, so a typo fails at load time,
not in the middle of a batch. At run time a transform that cannot interpret its value raises
``TransformError`` with a reason that never repeats the value (it may be personal data).

Transforms that need the record's country (phone numbers, VAT ids, postal codes, street
abbreviations) or the mapping's value maps receive a ``Context`` as keyword ``ctx``.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlsplit

import phonenumbers
import pycountry

from mdm.normalise import unaccent, without_postal_country_prefix, without_vat_noise


class TransformError(ValueError):
    """A transform could not interpret its value; the message says why, never what the value was."""


class TransformConfigError(ValueError):
    """A transform is configured wrongly in a mapping (unknown name, bad arguments)."""


class ValueMap:
    """A named lookup table from the mapping's ``value_maps``; keys match case- and space-insensitively."""

    def __init__(self, name: str, entries: Mapping[str, Any]) -> None:
        self.name = name
        self.entries = dict(entries)
        self._forward = {_key(k): v for k, v in entries.items()}
        self._reverse: dict[str, str] = {}
        for k, v in entries.items():
            if v is not None:
                self._reverse.setdefault(_key(str(v)), k)

    def get(self, value: str, reverse: bool = False) -> Any:
        table = self._reverse if reverse else self._forward
        return table.get(_key(value))

    def __contains__(self, value: str) -> bool:
        return _key(value) in self._forward


def _key(text: str) -> str:
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


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    raise TransformError(f"expected text, got {describe_kind(value)}")


# --- text ------------------------------------------------------------------------------------------


@transform()
def trim(value: Any) -> str:
    """Strip surrounding white space."""
    return _text(value).strip()


@transform()
def collapse_spaces(value: Any) -> str:
    """Runs of white space (incl. line breaks) become one space; ends are trimmed."""
    return " ".join(_text(value).split())


@transform()
def upper(value: Any) -> str:
    return _text(value).upper()


@transform()
def lower(value: Any) -> str:
    return _text(value).lower()


_PARTICLES = frozenset(
    "de du des la le les d l von vom van der den am an im in zum zur und di del della dello da dal e y et "
    "of the and en bei auf sur sous aux".split()
)


def _title_word(word: str, first: bool) -> str:
    parts = re.split(r"([-'’/])", word)
    out = []
    for i, part in enumerate(parts):
        if (i > 0 or not first) and part.casefold() in _PARTICLES:
            out.append(part.lower())  # "Saint-Jean-de-Luz", "Rue de la Paix"
        else:
            out.append(part[:1].upper() + part[1:].lower() if part[:1].isalpha() else part.lower())
    return "".join(out)


@transform()
def title(value: Any) -> str:
    """Title case that keeps particles low ("RUE DE LA PAIX" -> "Rue de la Paix")."""
    words = _text(value).split(" ")
    return " ".join(_title_word(w, i == 0) for i, w in enumerate(words))


@transform()
def fix_case(value: Any) -> str:
    """Title-case text typed all in capitals or all in lower case; otherwise only capitalise its start."""
    text = _text(value)
    letters = [ch for ch in text if ch.isalpha()]
    if len(letters) > 3 and (all(ch.isupper() for ch in letters) or all(ch.islower() for ch in letters)):
        return title(text)
    return text[:1].upper() + text[1:]


@transform()
def first_line(value: Any) -> str:
    """The first non-empty line (drops "Suite 300" or "2. OG" on a second line)."""
    for line in _text(value).splitlines():
        if line.strip():
            return line.strip()
    return ""


@transform()
def truncate(value: Any, length: int) -> str:
    """At most ``length`` characters, cut at the end (trailing space removed)."""
    return _text(value)[:length].rstrip()


def _split_words(text: str, length: int) -> list[str]:
    parts: list[str] = []
    rest = " ".join(text.split())
    while rest:
        if len(rest) <= length:
            parts.append(rest)
            break
        cut = rest.rfind(" ", 0, length + 1)
        cut = cut if cut > 0 else length
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].strip()
    return parts


@transform()
def split_to(value: Any, length: int, part: int = 1) -> str | None:
    """Part ``part`` (1-based) of the text cut at word boundaries into pieces of at most ``length``
    (SAP's OrganizationBPName1/2 hold 40 characters each)."""
    if part < 1:
        raise TransformError("split_to: part counts from 1")
    parts = _split_words(_text(value), length)
    return parts[part - 1] if part <= len(parts) else None


@transform(accepts_list=True)
def join(value: Any, separator: str = " ") -> str:
    """Join several values (``from: [a, b]``), skipping empty ones."""
    items = value if isinstance(value, list) else [value]
    return separator.join(_text(v).strip() for v in items if v not in (None, "") and _text(v).strip())


@transform(accepts_list=True)
def first(value: Any) -> Any:
    """The first non-empty value of a list (``[*]`` paths, several sources)."""
    if not isinstance(value, list):
        return value
    for item in value:
        if item not in (None, "") and not (isinstance(item, list) and not item):
            return first(item) if isinstance(item, list) else item
    return None


@transform(accepts_none=True)
def default(value: Any, fallback: str | int | float | bool) -> Any:
    """The value when present, else the configured default (``default: DE``)."""
    return fallback if value in (None, "") else value


@transform()
def strip_leading_zeros(value: Any) -> str:
    """Leading zeros removed: "0001000123" -> "1000123" (SAP shows numeric keys padded to their length)."""
    text = _text(value).strip()
    return text.lstrip("0") or ("0" if text else "")


@transform()
def digits(value: Any, length: int | None = None) -> str:
    """Only the digits; with ``length``, exactly that many (a DUNS number has 9)."""
    out = re.sub(r"\D", "", _text(value))
    if length is not None and out and len(out) != length:
        raise TransformError(f"expected {length} digits, found {len(out)}")
    return out


@transform(value_map_args=("name",))
def value_map(
    value: Any,
    name: str,
    reverse: bool = False,
    strict: bool = True,
    otherwise: str | None = None,
    *,
    ctx: Context,
) -> Any:
    """Translate through a named value map (``value_map: industry``); ``reverse`` maps back. A value the
    map lacks becomes ``otherwise`` if given, passes through with ``strict: false``, else is a problem."""
    table = ctx.value_map(name)
    text = _text(value).strip()
    found = table.get(text, reverse=reverse)
    if found is None:
        if otherwise is not None:
            return otherwise
        if strict:
            raise TransformError(f"no entry in value map {name!r}")
        return text
    return found


# --- countries -------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _pycountry_alpha2(text: str) -> str | None:
    candidates = [text]
    if not text.isascii():
        candidates.append(unaccent(text))
    for candidate in candidates:
        try:
            return pycountry.countries.lookup(candidate).alpha_2
        except LookupError:
            continue
    return None


@transform(value_map_args=("aliases",))
def country_iso2(value: Any, aliases: str | None = "country", *, ctx: Context) -> str:
    """ISO 3166-1 alpha-2 from a code (DE, DEU) or a name in several languages ("Deutschland", "USA",
    "U.S.", "UK"); the mapping's value map ``aliases`` covers what pycountry does not know."""
    text = " ".join(_text(value).split()).strip(" ,")
    if not text:
        return ""
    table = ctx.value_maps.get(aliases) if aliases else None
    if table is not None:
        for candidate in (text, text.replace(".", ""), unaccent(text)):
            found = table.get(candidate)
            if found:
                return str(found)
    code = _pycountry_alpha2(text) or _pycountry_alpha2(text.replace(".", ""))
    if code is None and text[:4].lower() == "the ":
        code = _pycountry_alpha2(text[4:])  # "The Netherlands"
    if code is None:
        raise TransformError("not a country name or ISO code")
    return code


@transform(value_map_args=("aliases",))
def country_name(value: Any, aliases: str | None = None, *, ctx: Context) -> str:
    """The English short name of an ISO alpha-2 code ("DE" -> "Germany"); a value map may override."""
    code = _text(value).strip().upper()
    table = ctx.value_maps.get(aliases) if aliases else None
    if table is not None and (name := table.get(code)):
        return str(name)
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        raise TransformError("not an ISO 3166-1 alpha-2 code")
    return getattr(country, "common_name", None) or country.name


# VAT id prefixes that differ from the ISO country code.
_VAT_PREFIX = {"GR": "EL", "CH": "CHE", "AT": "ATU", "GB": "GB"}
_VAT_COUNTRY = {"EL": "GR", "XI": "GB", "CH": "CH"}
_VAT_PREFIXES = frozenset(
    "AT BE BG CY CZ DE DK EE EL ES FI FR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK GB XI CH NO".split()
)


@transform()
def vat_country(value: Any) -> str | None:
    """The country a VAT id belongs to, from its prefix ("DE 123..." -> DE, "EL..." -> GR)."""
    prefix = re.sub(r"[^A-Za-z]", "", _text(value)[:3]).upper()[:2]
    if prefix not in _VAT_PREFIXES:
        return None
    return _VAT_COUNTRY.get(prefix, prefix)


@transform()
def phone_country(value: Any) -> str | None:
    """The country of an international phone number ("+49 30 ..." -> DE); None for national ones."""
    text = _text(value).strip()
    if not text.startswith(("+", "00")):
        return None
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else "CH")
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(number)
    return region if region and region != "ZZ" else None


# --- phones, e-mail, web -----------------------------------------------------------------------------


def _parse_phone(value: Any, country: str | None) -> phonenumbers.PhoneNumber:
    text = _text(value).strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+") and not country:
        raise TransformError("a national phone number, and the record has no country")
    try:
        number = phonenumbers.parse(text, country)
    except phonenumbers.NumberParseException:
        raise TransformError("not a phone number") from None
    # Lenient on purpose: hand-typed numbers often miss a digit of a valid plan but still identify the
    # line; only lengths no numbering plan has are refused (the quality step may check validity).
    if not phonenumbers.is_possible_number(number) and not 5 <= len(str(number.national_number)) <= 14:
        raise TransformError("not a possible phone number" + (f" for {country}" if country else ""))
    return number


@transform(uses_country=True, accepts_list=True)
def phone_e164(value: Any, *, ctx: Context) -> str | None:
    """E.164 ("+4930123456"), reading national numbers in the record's country; from a list
    ``[number, country]`` (SAP's PhoneNumber and DestinationLocationCountry) in that country."""
    country = ctx.country
    if isinstance(value, list):
        number_text = value[0] if value else None
        country = (value[1] if len(value) > 1 and value[1] else None) or country
        if number_text in (None, ""):
            return None
        value = number_text
    number = _parse_phone(value, country)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@transform(uses_country=True)
def phone_national(value: Any, *, ctx: Context) -> str:
    """The national format ("030 123456"), as SAP's PhoneNumber holds it next to the country."""
    number = _parse_phone(value, ctx.country)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)*\.[^\W\d_]{2,}$")


@transform()
def email_lower(value: Any) -> str:
    """A valid address in lower case ("mailto:" and spaces removed)."""
    text = _text(value).strip().removeprefix("mailto:").strip().lower()
    if not _EMAIL.match(text):
        raise TransformError("not a valid e-mail address")
    return text


# Public suffixes with two labels that matter for our customers' countries (no network look-ups).
_TWO_LABEL_SUFFIXES = frozenset(
    "co.uk org.uk ac.uk gov.uk ltd.uk plc.uk me.uk com.au net.au org.au co.nz co.jp co.za com.br com.cn "
    "com.mx co.in com.tr com.sg com.hk co.kr com.ar co.at or.at com.pl co.il com.tw".split()
)
_HOST_LABEL = re.compile(r"^[a-z0-9\u00c0-\uffff]([a-z0-9\u00c0-\uffff-]*[a-z0-9\u00c0-\uffff])?$")


@transform()
def url_domain(value: Any) -> str:
    """The registrable domain of a URL or host ("https://www.acme.com/path" -> "acme.com")."""
    text = _text(value).strip().lower()
    if not text:
        return ""
    if "://" not in text:
        text = "//" + text
    try:
        host = urlsplit(text).hostname or ""
    except ValueError:
        raise TransformError("not a URL") from None
    labels = [label for label in host.strip(".").split(".") if label]
    if len(labels) < 2 or not all(_HOST_LABEL.match(label) for label in labels):
        raise TransformError("not a web address with a domain")
    keep = 3 if ".".join(labels[-2:]) in _TWO_LABEL_SUFFIXES and len(labels) >= 3 else 2
    return ".".join(labels[-keep:])


# --- company names -----------------------------------------------------------------------------------

# Normalised legal-form code -> spellings as people write them (dots and spaces are optional when matching).
LEGAL_FORMS: dict[str, tuple[str, ...]] = {
    "GMBH_CO_KG": ("GmbH & Co. KG", "GmbH & Co KG", "GmbH u. Co. KG", "GmbH und Co. KG", "GmbH + Co. KG"),
    "GMBH": (
        "GmbH",
        "G.m.b.H.",
        "Ges.m.b.H.",
        "Gesellschaft m.b.H.",
        "Gesellschaft mbH",
        "Gesellschaft mit beschränkter Haftung",
        "Gesellschaft mit beschraenkter Haftung",
    ),
    "AG": ("AG", "Aktiengesellschaft"),
    "KG": ("KG", "Kommanditgesellschaft"),
    "OHG": ("OHG", "oHG", "offene Handelsgesellschaft"),
    "EK": ("e.K.", "e. K.", "e.Kfm.", "eingetragener Kaufmann"),
    "INC": ("Inc.", "Incorporated"),
    "LLC": ("LLC", "L.L.C."),
    "LLP": ("LLP", "L.L.P."),
    "CORP": ("Corp.", "Corporation"),
    "PLC": ("PLC", "Public Limited Company"),
    "LTD": ("Ltd.", "Limited"),
    "CO": ("Co.", "Company"),
    "SARL": ("SARL", "S.à r.l.", "S.A.R.L.", "Sàrl"),
    "SAS": ("SAS", "S.A.S.", "SASU"),
    "SA": ("SA", "S.A.", "Société Anonyme", "Sociedad Anónima"),
    "BV": ("B.V.", "Besloten Vennootschap"),
    "NV": ("N.V.", "Naamloze Vennootschap"),
    "SRL": ("S.r.l.", "Società a responsabilità limitata", "SPRL", "S.P.R.L.", "BVBA"),
    "SRLS": ("S.r.l.s.",),
    "SPA": ("S.p.A.", "Società per Azioni"),
    "SAPA": ("S.a.p.a.",),
    "SNC": ("S.n.c.", "Società in nome collettivo", "Société en nom collectif"),
    "SL": ("S.L.", "Sociedad Limitada"),
    "SLU": ("S.L.U.",),
    "SAU": ("S.A.U.",),
    "SCOOP": ("S.Coop.", "Sociedad Cooperativa"),
    "VOF": ("V.O.F.", "Vennootschap onder firma"),
    "CV": ("C.V.", "Commanditaire vennootschap"),
    "SPZOO": ("Sp. z o.o.", "spółka z ograniczoną odpowiedzialnością"),
    "SPJ": ("Sp. j.", "spółka jawna"),
    "SPK": ("Sp. k.", "spółka komandytowa"),
    "SPKA": ("S.K.A.", "spółka komandytowo-akcyjna"),
    "AB": ("AB", "Aktiebolag"),
    "HB": ("HB", "Handelsbolag"),
    "KB": ("KB", "Kommanditbolag"),
    "APS": ("ApS",),
    "AS": ("A/S",),
    "OY": ("Oy", "Oyj"),
    "PLLC": ("PLLC", "P.L.L.C."),
    "LP": ("L.P.",),
}


def _spelling_pattern(spelling: str) -> str:
    out = []
    for ch in spelling:
        if ch == ".":
            out.append(r"\.?\s*")
        elif ch == " ":
            out.append(r"\s*")
        elif ch == "&":
            out.append(r"(?:&|\+|und|u\.?)")
        else:
            out.append(re.escape(unaccent(ch) or ch) if ch.isalpha() and not ch.isascii() else re.escape(ch))
    return "".join(out)


def _legal_form_regex() -> re.Pattern[str]:
    spellings = sorted(
        ((unaccent(s), code) for code, forms in LEGAL_FORMS.items() for s in forms),
        key=lambda item: -len(item[0]),
    )
    alternatives = "|".join(
        f"(?P<{code}_{i}>{_spelling_pattern(s)})" for i, (s, code) in enumerate(spellings)
    )
    # The form ends the name, after a space or comma (never glued to the core: "Vertex Sys." is no "S").
    return re.compile(rf"(?:^|[\s,(])(?:{alternatives})\)?\s*$", re.IGNORECASE)


_LEGAL_FORM = _legal_form_regex()


def _legal_form_match(name: str) -> re.Match[str] | None:
    text = unaccent(name) if not name.isascii() else name
    return _LEGAL_FORM.search(text, max(0, len(text) - 48))


@transform()
def legal_form(value: Any) -> str | None:
    """The normalised legal-form code ending a company name ("Müller GmbH" -> GMBH, ", Inc." -> INC)."""
    text = " ".join(_text(value).split())
    match = _legal_form_match(text)
    if not match or match.start() == 0 and len(text) == len(match.group(0)):
        return None  # a name that is nothing but a legal form has none
    group = match.lastgroup or ""
    return group.rsplit("_", 1)[0]


@transform()
def strip_legal_form(value: Any) -> str:
    """The name without its legal form ("Müller Maschinenbau GmbH" -> "Müller Maschinenbau"), for matching."""
    text = " ".join(_text(value).split())
    match = _legal_form_match(text)
    if not match or match.start() == 0:
        return text
    # The match ran on an unaccented copy of the same length or shorter: cut by the tail's length.
    tail = len(unaccent(text) if not text.isascii() else text) - match.start()
    return text[: len(text) - tail].rstrip(" ,")


# --- VAT ids -----------------------------------------------------------------------------------------


@transform(uses_country=True)
def vat_normalise(value: Any, *, ctx: Context) -> str:
    """Upper case without spaces, dots and dashes, with the country prefix ("CHE-123.456.789 MWST" ->
    "CHE123456789"; "123456789" in a German record -> "DE123456789"). US EINs keep their digits."""
    text = re.sub(r"[\s.\-/]", "", without_vat_noise(_text(value))).upper()
    if not text:
        return ""
    if not text.isalnum():
        raise TransformError("not a tax number (unexpected characters)")
    if text[:2] in _VAT_PREFIXES or text[:2].isalpha():
        return text
    country = ctx.country
    if not country or country == "US" or country not in {_VAT_COUNTRY.get(p, p) for p in _VAT_PREFIXES}:
        return text
    if country == "AT" and text.startswith("U"):
        return "AT" + text
    return _VAT_PREFIX.get(country, country) + text


# --- addresses ---------------------------------------------------------------------------------------

_UNIT = re.compile(r"[\s,]+(?:suite|ste\.?|apt\.?|unit|#)\s*[\w-]+$", re.IGNORECASE)
_HOUSE = r"\d+(?:\s?[A-Za-z](?![A-Za-z]))?(?:\s?[-/]\s?\d+(?:\s?[A-Za-z](?![A-Za-z]))?)?"
_LEADING_NUMBER = re.compile(rf"^(?P<house>{_HOUSE})(?:\s*,\s*|\s+)(?P<street>\D.*)$")
_TRAILING_NUMBER = re.compile(
    rf"^(?P<street>.*?[^\d\s,])(?:\s*,\s*|\s+)(?:(?:Nr|No)\.?\s*)?(?P<house>{_HOUSE})$"
)


def split_street_line(line: str) -> tuple[str, str | None]:
    """(street, house number) of a one-line street address in German, US/UK, French, Italian or Spanish
    order: "Hauptstr. 5a", "5 Main St", "12, rue de la Paix", "Via Roma, 12"."""
    text = " ".join(line.split())
    text = _UNIT.sub("", text)
    for pattern in (_LEADING_NUMBER, _TRAILING_NUMBER):
        match = pattern.match(text)
        if match:
            house = re.sub(r"\s+", "", match.group("house"))
            return match.group("street").strip(" ,"), house
    return text.strip(" ,"), None


@transform()
def split_street(value: Any, part: Literal["street", "house_number"] = "street") -> str | None:
    """The street name or the house number of a one-line street ("Hauptstraße 5a" -> "Hauptstraße", "5a")."""
    street, house = split_street_line(_text(value))
    return street if part == "street" else house


_NUMBER_FIRST = frozenset("US GB FR CA AU IE NZ".split())
_COMMA_BEFORE_NUMBER = frozenset("IT ES".split())


@transform(accepts_list=True, uses_country=True)
def join_street(value: Any, *, ctx: Context) -> str:
    """One street line from [street, house number] in the country's order ("5 Main Street",
    "Hauptstraße 5", "Via Roma, 12")."""
    items = value if isinstance(value, list) else [value, None]
    street = _text(items[0]).strip() if items and items[0] not in (None, "") else ""
    house = _text(items[1]).strip() if len(items) > 1 and items[1] not in (None, "") else ""
    if not house:
        return street
    if not street:
        return house
    if ctx.country in _NUMBER_FIRST:
        return f"{house} {street}"
    if ctx.country in _COMMA_BEFORE_NUMBER:
        return f"{street}, {house}"
    return f"{street} {house}"


def _keep_case(replacement: str) -> Callable[[re.Match[str]], str]:
    def sub(match: re.Match[str]) -> str:
        found = match.group(0)
        return replacement[:1].upper() + replacement[1:] if found[:1].isupper() else replacement

    return sub


# (pattern, replacement) per country; deliberately conservative: only unambiguous abbreviations.
_Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]
_STREET_ABBREVIATIONS: dict[str, tuple[_Rule, ...]] = {}


def _rules(*pairs: tuple[str, str]) -> tuple[_Rule, ...]:
    return tuple((re.compile(p, re.IGNORECASE), _keep_case(r)) for p, r in pairs)


_GERMAN = (
    (r"(?<=\w)str\.(?=\s|,|$)", "straße"),
    (r"\bstr\.(?=\s|,|$)", "Straße"),
    (r"(?<=\w)strasse\b", "straße"),
    (r"\bstrasse\b", "Straße"),
)
_ENGLISH = (
    (r"(?<=\s)st\.?$", "Street"),
    (r"(?<=\s)ave\.?$", "Avenue"),
    (r"(?<=\s)rd\.?$", "Road"),
    (r"(?<=\s)dr\.?$", "Drive"),
    (r"(?<=\s)ln\.?$", "Lane"),
    (r"(?<=\s)blvd\.?$", "Boulevard"),
    (r"(?<=\s)ct\.?$", "Court"),
)
_STREET_ABBREVIATIONS.update(
    {
        "DE": _rules(*_GERMAN),
        "AT": _rules(*_GERMAN, (r"(?<=\w)g\.(?=\s|,|$)", "gasse")),
        "CH": _rules((r"(?<=\w)str\.(?=\s|,|$)", "strasse"), (r"\bstr\.(?=\s|,|$)", "Strasse")),
        "NL": _rules((r"(?<=\w)str\.(?=\s|,|$)", "straat"), (r"(?<=\w)wg\.(?=\s|,|$)", "weg")),
        "FR": _rules((r"^av\.?(?=\s)", "avenue"), (r"^bd\.?(?=\s)", "boulevard")),
        "IT": _rules((r"^v\.le\s*", "Viale "), (r"^p\.zza\s*", "Piazza "), (r"^v\.\s*", "Via ")),
        "ES": _rules(
            (r"^avda\.?\s*", "Avenida "),
            (r"^pº\s*", "Paseo "),
            (r"^pza\.?\s*", "Plaza "),
        ),
        **{iso: _rules(*_ENGLISH) for iso in ("US", "GB", "CA", "AU", "IE", "NZ")},
    }
)


def _calle(match: re.Match[str]) -> str:
    # "C/ Mayor" and "C/Mayor" are Calle Mayor; "C/jón" is what an abbreviation left of "Callejón".
    return "Calle" if not match.group(1) and match.group(2).islower() else "Calle "


_STREET_ABBREVIATIONS["ES"] = ((re.compile(r"^[cC]/( *)(?=(.))"), _calle), *_STREET_ABBREVIATIONS["ES"])


@transform(uses_country=True)
def expand_street_abbrev(value: Any, *, ctx: Context) -> str:
    """Spell out the street-type abbreviations of the record's country ("Hauptstr." -> "Hauptstraße",
    "Main St" -> "Main Street", "C/ Mayor" -> "Calle Mayor"); unknown countries are left alone."""
    text = _text(value).strip()
    for pattern, replacement in _STREET_ABBREVIATIONS.get(ctx.country or "", ()):
        text = pattern.sub(replacement, text)
    return text


@transform(uses_country=True)
def postal_code(value: Any, *, ctx: Context) -> str:
    """The postal code as written, spaces normalised, a "D-"/"CH-" country prefix removed, and UK, Dutch
    and Canadian codes spaced the way the post writes them ("SW1A1AA" -> "SW1A 1AA")."""
    text = " ".join(_text(value).upper().split())
    if ctx.country != "GB":
        text = without_postal_country_prefix(text)
    compact = text.replace(" ", "")
    if ctx.country == "GB" and re.fullmatch(r"[A-Z]{1,2}\d[A-Z\d]?\d[A-Z]{2}", compact):
        return f"{compact[:-3]} {compact[-3:]}"
    if ctx.country == "NL" and re.fullmatch(r"\d{4}[A-Z]{2}", compact):
        return f"{compact[:4]} {compact[4:]}"
    if ctx.country == "CA" and re.fullmatch(r"[A-Z]\d[A-Z]\d[A-Z]\d", compact):
        return f"{compact[:3]} {compact[3:]}"
    return text


@lru_cache(maxsize=256)
def _subdivisions(country: str) -> dict[str, str]:
    """Normalised subdivision name or code -> ISO 3166-2 code, for one country."""
    out: dict[str, str] = {}
    for sub in pycountry.subdivisions.get(country_code=country) or ():
        out[sub.code.split("-", 1)[1]] = sub.code
        # "Barcelona [Barcelona]", "Valencia / València": every spelling counts.
        for name in re.split(r"\s*[/\[\]]\s*", sub.name):
            for spelling in (name, unaccent(name)):
                if spelling:
                    out.setdefault(_key(spelling), sub.code)
    return out


@transform(uses_country=True, value_map_args=("aliases", "codes"))
def region_code(
    value: Any, aliases: str | None = "region", codes: str | None = "region_codes", *, ctx: Context
) -> str:
    """The region as SAP's code list keys it (ISO 3166-2 suffix, "BY", "CA", unless the value map ``codes``
    says otherwise, e.g. AT-9 -> "09"), from a code or a name ("Bayern", "California", "Genf")."""
    text = " ".join(_text(value).split())
    if not ctx.country:
        if len(text) <= 3:
            return text.upper()
        raise TransformError("a region name, and the record has no country")
    table = ctx.value_maps.get(codes) if codes else None
    upper_text = text.upper()
    if table is not None and table.get(f"{ctx.country}-{upper_text}", reverse=True):
        return upper_text  # already in SAP's code list
    known = _subdivisions(ctx.country)
    iso = known.get(upper_text) if len(text) <= 3 else None
    iso = iso or known.get(_key(text)) or known.get(_key(unaccent(text)))
    alias_table = ctx.value_maps.get(aliases) if aliases else None
    if iso is None and alias_table is not None:
        iso = alias_table.get(f"{ctx.country}:{text}")
    if iso is None:
        if not known and len(text) <= 3:
            return upper_text
        raise TransformError(f"not a region of {ctx.country}")
    mapped = table.get(str(iso)) if table is not None else None  # "AT-9" -> "AT-09"
    return str(mapped or iso).split("-", 1)[1]


@transform(uses_country=True, value_map_args=("codes",))
def region_name(value: Any, codes: str | None = "region_codes", *, ctx: Context) -> str:
    """The region's name for a region code ("BY" -> "Bayern"), e.g. for the CRM's free-text state."""
    code = _text(value).strip().upper()
    if not ctx.country:
        return code
    table = ctx.value_maps.get(codes) if codes else None
    iso = table.get(f"{ctx.country}-{code}", reverse=True) if table is not None else None
    sub = pycountry.subdivisions.get(code=str(iso or f"{ctx.country}-{code}"))
    if sub is None:
        return code
    # The CRM gets one spelling: "Barcelona [Barcelona]" -> "Barcelona", "Valencia / València" -> "Valencia".
    return code if ctx.country in ("US", "CA", "AU") else re.split(r"\s*[/\[]\s*", sub.name)[0]


# --- products --------------------------------------------------------------------------------------


@transform(accepts_list=True)
def text_in_language(
    value: Any,
    language: str,
    fallback: list[str] | None = None,
    text: str = "ProductDescription",
    language_field: str = "Language",
) -> str | None:
    """The text of the first language that has one, from a list of per-language items (SAP's
    ``to_Description``: ``[{"Language": "EN", "ProductDescription": ...}, ...]``): ``language``, then
    each of ``fallback`` in order. None when none of them is there."""
    items = value if isinstance(value, list) else [value]
    by_language: dict[str, str] = {}
    for item in items:
        if not isinstance(item, Mapping):
            raise TransformError(
                f"expected items with {language_field} and {text}, got {describe_kind(item)}"
            )
        words = _text(item.get(text)).strip() if item.get(text) is not None else ""
        code = _text(item.get(language_field)).strip().upper()
        if words and code:
            by_language.setdefault(code, words)
    for code in (language, *(fallback or ())):
        if str(code).upper() in by_language:
            return by_language[str(code).upper()]
    return None


@transform(accepts_list=True)
def active_unless(value: Any, blocking: list[str] | None = None) -> bool:
    """Whether a record is active, from its flags and status codes (``from: [IsMarkedForDeletion,
    CrossPlantStatus, to_ProductSales.SalesStatus]``): inactive when a flag is true or a status code is
    set - any code, or with ``blocking`` only the listed codes (SAP's blocking statuses are customizing)."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, bool):
            if item:
                return False
            continue
        code = _text(item).strip() if item is not None else ""
        if code.lower() == "true":
            return False
        if code and code.lower() != "false" and (blocking is None or code in {str(b) for b in blocking}):
            return False
    return True
