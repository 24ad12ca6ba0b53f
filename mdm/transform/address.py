"""Addresses: street and house number apart and together, street abbreviations by country, postal
codes, regions (pycountry's subdivisions)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Literal

import pycountry

from mdm.normalise import unaccent, without_postal_country_prefix
from mdm.transform.core import Context, TransformError, as_text, lookup_key, transform

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
    street, house = split_street_line(as_text(value))
    return street if part == "street" else house


_NUMBER_FIRST = frozenset("US GB FR CA AU IE NZ".split())


_COMMA_BEFORE_NUMBER = frozenset("IT ES".split())


@transform(accepts_list=True, uses_country=True)
def join_street(value: Any, *, ctx: Context) -> str:
    """One street line from [street, house number] in the country's order ("5 Main Street",
    "Hauptstraße 5", "Via Roma, 12")."""
    items = value if isinstance(value, list) else [value, None]
    street = as_text(items[0]).strip() if items and items[0] not in (None, "") else ""
    house = as_text(items[1]).strip() if len(items) > 1 and items[1] not in (None, "") else ""
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
    text = as_text(value).strip()
    for pattern, replacement in _STREET_ABBREVIATIONS.get(ctx.country or "", ()):
        text = pattern.sub(replacement, text)
    return text


@transform(uses_country=True)
def postal_code(value: Any, *, ctx: Context) -> str:
    """The postal code as written, spaces normalised, a "D-"/"CH-" country prefix removed, and UK, Dutch
    and Canadian codes spaced the way the post writes them ("SW1A1AA" -> "SW1A 1AA")."""
    text = " ".join(as_text(value).upper().split())
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
                    out.setdefault(lookup_key(spelling), sub.code)
    return out


@transform(uses_country=True, value_map_args=("aliases", "codes"))
def region_code(
    value: Any, aliases: str | None = "region", codes: str | None = "region_codes", *, ctx: Context
) -> str:
    """The region as SAP's code list keys it (ISO 3166-2 suffix, "BY", "CA", unless the value map ``codes``
    says otherwise, e.g. AT-9 -> "09"), from a code or a name ("Bayern", "California", "Genf")."""
    text = " ".join(as_text(value).split())
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
    iso = iso or known.get(lookup_key(text)) or known.get(lookup_key(unaccent(text)))
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
    code = as_text(value).strip().upper()
    if not ctx.country:
        return code
    table = ctx.value_maps.get(codes) if codes else None
    iso = table.get(f"{ctx.country}-{code}", reverse=True) if table is not None else None
    sub = pycountry.subdivisions.get(code=str(iso or f"{ctx.country}-{code}"))
    if sub is None:
        return code
    # The CRM gets one spelling: "Barcelona [Barcelona]" -> "Barcelona", "Valencia / València" -> "Valencia".
    return code if ctx.country in ("US", "CA", "AU") else re.split(r"\s*[/\[]\s*", sub.name)[0]
