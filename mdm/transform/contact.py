"""Countries, phone numbers (phonenumbers), e-mail addresses and web domains."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
import pycountry

from mdm.normalise import unaccent
from mdm.transform.core import Context, TransformError, as_text, transform


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
    text = " ".join(as_text(value).split()).strip(" ,")
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
    code = as_text(value).strip().upper()
    table = ctx.value_maps.get(aliases) if aliases else None
    if table is not None and (name := table.get(code)):
        return str(name)
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        raise TransformError("not an ISO 3166-1 alpha-2 code")
    return getattr(country, "common_name", None) or country.name


@transform()
def phone_country(value: Any) -> str | None:
    """The country of an international phone number ("+49 30 ..." -> DE); None for national ones."""
    text = as_text(value).strip()
    if not text.startswith(("+", "00")):
        return None
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else "CH")
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(number)
    return region if region and region != "ZZ" else None


def _parse_phone(value: Any, country: str | None) -> phonenumbers.PhoneNumber:
    text = as_text(value).strip()
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
    text = as_text(value).strip().removeprefix("mailto:").strip().lower()
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
    text = as_text(value).strip().lower()
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
