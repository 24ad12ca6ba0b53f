"""Named match transforms: canonical values -> the comparable keys blocking and comparisons work on.

A transform takes the values of the fields a setting lists (in order) and returns one string or None
(None means "no value": the record joins no block on it and its comparison lands on the null level).
They are small pure functions selected by name in the ``match:`` settings, so the settings stay plain
data. Canonical values are already cleaned (ISO country, E.164 phone, upper-case VAT ...); these keys
go further only where matching needs it: a name without its legal form, abbreviations spelled one way,
a postal code without the country prefix people type in front of it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

Transform = Callable[[Sequence[Any]], "str | None"]

_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"})
_NON_ALNUM = re.compile(r"[^0-9a-z&+]+")
_SPACES = re.compile(r"\s+")

# Legal forms as they end a company name, after folding and with dots removed ("G.m.b.H." -> "gmbh").
_LEGAL_PHRASES = re.compile(
    r"(?:\s|^)(?:gesellschaft mit beschr(?:a|ae)nkter haftung|gesellschaft mbh|ges mbh|public limited company"
    r"|e k|s a r l|s a s|s a|b v|n v|s r l|s p a|s l|l l c)$"
)
_LEGAL_TOKENS = frozenset(
    "gmbh mbh gesmbh ag kg kgaa ohg gbr ug ek co company aktiengesellschaft kommanditgesellschaft "
    "sarl sa sas sasu eurl bv nv vof srl spa sl slu sau ltd limited plc llp llc lp inc incorporated "
    "corp corporation".split()
)
_CONNECTORS = frozenset({"&", "+", "and", "und", "u", "et", "en", "e", "y"})
# One spelling per word, so "Intl" and "International" or "Mfg." and "Manufacturing" compare equal.
_NAME_WORDS = {
    "intl": "international",
    "tech": "technologies",
    "technology": "technologies",
    "mfg": "manufacturing",
    "eng": "engineering",
    "engg": "engineering",
    "ind": "industries",
    "industry": "industries",
    "sys": "systems",
    "system": "systems",
    "svcs": "services",
    "service": "services",
}
# Street words: long forms are contracted (both systems abbreviate differently; contraction is lossless
# for comparing). Whole tokens here; compound suffixes (Hauptstraße / Hauptstr.) below.
_STREET_WORDS = {
    "street": "st",
    "avenue": "ave",
    "av": "ave",
    "road": "rd",
    "drive": "dr",
    "lane": "ln",
    "boulevard": "blvd",
    "bd": "blvd",
    "court": "ct",
    "via": "v",
    "piazza": "pzza",
    "viale": "vle",
    "calle": "c",
    "avenida": "avda",
    "paseo": "po",
    "plaza": "pza",
    "strasse": "str",
    "straat": "str",
}
_STREET_SUFFIXES = (
    (re.compile(r"(?<=[a-z])(?:strasse|straat)\b"), "str"),
    (re.compile(r"(?<=[a-z])gasse\b"), "g"),
)
_STREET_SUFFIX_WEG = re.compile(r"(?<=[a-z])weg\b")
_POSTAL_COUNTRY_PREFIX = re.compile(r"^[A-Z]{1,3}-(?=\d)")
_US_ZIP = re.compile(r"^(\d{5})-?\d{4}$")
_URL_PREFIX = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?:www\d?\.)?")
_VAT_SUFFIX = re.compile(r"(?:MWST|TVA|IVA)$")


def fold(text: str) -> str:
    """Lower case ASCII with German umlauts transliterated: 'Müller' and 'MUELLER' fold alike."""
    plain = unicodedata.normalize("NFKD", text.translate(_TRANSLIT)).encode("ascii", "ignore").decode()
    return plain.lower()


def _first(values: Sequence[Any]) -> str | None:
    for value in values:
        if value is None:
            continue
        text = str(value).strip()
        if text:
            return text
    return None


def _tokens(text: str) -> list[str]:
    text = fold(text).replace(".", "").replace("'", "")
    return _NON_ALNUM.sub(" ", text).split()


def name_core(values: Sequence[Any]) -> str | None:
    """The company name without legal form, connector words and abbreviation variants."""
    text = _first(values)
    if text is None:
        return None
    tokens = _tokens(text.replace("&", " & ").replace("+", " + "))
    changed = True
    while changed:  # "GmbH & Co. KG", "GmbH u. Co. KG": strip from the end until nothing changes
        changed = False
        phrase = _LEGAL_PHRASES.search(" ".join(tokens))
        if phrase and phrase.start() > 0:
            tokens = " ".join(tokens)[: phrase.start()].split()
            changed = True
        while len(tokens) > 1 and (tokens[-1] in _LEGAL_TOKENS or tokens[-1] in _CONNECTORS):
            tokens.pop()
            changed = True
    words = [_NAME_WORDS.get(t, t) for t in tokens if t not in _CONNECTORS or len(tokens) == 1]
    return " ".join(words) or None


def name_first_token(values: Sequence[Any]) -> str | None:
    """First word of ``name_core``: a blocking key that survives legal-form and suffix differences."""
    core = name_core(values)
    return core.split(" ", 1)[0] if core else None


def text(values: Sequence[Any]) -> str | None:
    """Folded text with single spaces: case, accents and spacing do not count."""
    value = _first(values)
    if value is None:
        return None
    return _SPACES.sub(" ", fold(value)).strip() or None


def raw(values: Sequence[Any]) -> str | None:
    """The first value as written (trimmed): for codes that are already canonical (country, ISO)."""
    return _first(values)


def upper(values: Sequence[Any]) -> str | None:
    value = _first(values)
    return value.upper() if value else None


def digits(values: Sequence[Any]) -> str | None:
    """Only the digits (phone numbers, DUNS)."""
    value = _first(values)
    if value is None:
        return None
    only = "".join(ch for ch in value if ch.isdigit())
    return only or None


def strip_leading_zeros(values: Sequence[Any]) -> str | None:
    """SAP numbers as shown in SAP GUI (0001000042) and as stored (1000042) compare equal."""
    value = _first(values)
    if value is None:
        return None
    return value.lstrip("0") or "0"


def postal(values: Sequence[Any]) -> str | None:
    """Postal code without spaces or the 'D-' style country prefix; US ZIP+4 cut to the ZIP."""
    value = _first(values)
    if value is None:
        return None
    code = _POSTAL_COUNTRY_PREFIX.sub("", value.upper().strip())
    code = code.replace(" ", "")
    zip_plus4 = _US_ZIP.match(code)
    return (zip_plus4.group(1) if zip_plus4 else code) or None


def street_address(values: Sequence[Any]) -> str | None:
    """Street and house number as one comparable line; street words contracted ('Straße' -> 'str')."""
    parts = [str(v).strip() for v in values if v is not None and str(v).strip()]
    if not parts:
        return None
    line = fold(" ".join(parts)).replace("c/", "calle ")
    line = line.replace(".", " ").replace(",", " ").replace("'", "")
    for pattern, short in _STREET_SUFFIXES:
        line = pattern.sub(short, line)
    line = _STREET_SUFFIX_WEG.sub("wg", line)
    tokens = [_STREET_WORDS.get(t, t) for t in re.sub(r"[^0-9a-z]+", " ", line).split()]
    if len(tokens) > 1 and tokens[0][:1].isdigit():  # "12 Main St" / "12 rue ...": number last
        tokens.append(tokens.pop(0))
    return " ".join(tokens) or None


def domain(values: Sequence[Any]) -> str | None:
    """The domain of the first website or e-mail address: 'https://www.acme.com/x', 'info@acme.com'."""
    value = _first(values)
    if value is None:
        return None
    value = value.lower()
    if "@" in value:
        value = value.rsplit("@", 1)[1]
    value = _URL_PREFIX.sub("", value)
    value = value.split("/", 1)[0].split("?", 1)[0].split(":", 1)[0].strip(".")
    return value or None


def vat(values: Sequence[Any]) -> str | None:
    """The tax number without its country prefix and punctuation: 'DE 123 456 789' == '123456789'.

    Both systems often drop or garble the prefix; the digits identify the company (the country is
    compared separately).
    """
    value = _first(values)
    if value is None:
        return None
    code = "".join(ch for ch in value.upper() if ch.isalnum())
    code = _VAT_SUFFIX.sub("", code)
    core = code.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return core if len(core) >= 6 else None


def code(values: Sequence[Any]) -> str | None:
    """A product or document code by its letters and digits only: 'TG-1001' == 'tg 1001' == 'TG1001'."""
    value = _first(values)
    if value is None:
        return None
    return "".join(ch for ch in fold(value).upper() if ch.isalnum()) or None


TRANSFORMS: dict[str, Transform] = {
    "raw": raw,
    "text": text,
    "upper": upper,
    "digits": digits,
    "strip_leading_zeros": strip_leading_zeros,
    "name_core": name_core,
    "name_first_token": name_first_token,
    "postal": postal,
    "street_address": street_address,
    "domain": domain,
    "vat": vat,
    "code": code,
}
