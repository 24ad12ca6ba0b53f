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
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rapidfuzz import distance

from mdm.normalise import unaccent, without_postal_country_prefix, without_vat_noise
from mdm.transform import legal_form as _canonical_legal_form

if TYPE_CHECKING:
    from mdm.config.match import Feature

Transform = Callable[[Sequence[Any]], "str | None"]

# German umlauts as Germans spell them without; letters Unicode does not decompose, by their base.
_TRANSLIT = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "Ä": "Ae",
        "Ö": "Oe",
        "Ü": "Ue",
        "ß": "ss",
        "ł": "l",
        "Ł": "L",
        "ø": "o",
    }
    | {"Ø": "O", "æ": "ae", "Æ": "Ae", "œ": "oe", "Œ": "Oe", "đ": "d", "Đ": "D", "ı": "i"}
)
_NON_ALNUM = re.compile(r"[^0-9a-z&+]+")
_SPACES = re.compile(r"\s+")
_NOT_DIGIT = re.compile(r"[^0-9]+")

# Legal forms as they end a company name, after folding and with dots removed ("G.m.b.H." -> "gmbh").
_LEGAL_PHRASES = re.compile(
    r"(?:\s|^)(?:gesellschaft mit beschr(?:a|ae)nkter haftung|gesellschaft mbh|ges mbh|public limited company"
    r"|e k|s a r l|s a s|s a|b v|n v|v o f|c v|s r l|s r l s|s p r l|s p a|s a p a|s n c|s l|s l u|s a u"
    r"|s coop|l l c|p l l c|l p|sp z o o|sp z oo|sp zoo|sp j|sp k|s k a|a s)$"
)
_LEGAL_TOKENS = frozenset(
    "gmbh mbh gesmbh ag kg kgaa ohg gbr ug ek co company aktiengesellschaft kommanditgesellschaft "
    "sarl sa sas sasu eurl bv nv vof cv srl srls sprl bvba spa sapa snc sl slu sau scoop ltd limited plc "
    "llp llc pllc lp inc incorporated corp corporation ab hb kb aps oy oyj spj spk ska".split()
)
_CONNECTORS = frozenset({"&", "+", "and", "und", "u", "et", "en", "e", "y"})
# The last words of the legal phrases above: only names ending in one need the phrase search.
_PHRASE_ENDS = frozenset(
    {"haftung", "mbh", "company", "k", "l", "s", "a", "v", "c", "f", "u", "p", "o", "oo", "zoo", "j", "coop"}
)
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
_US_ZIP = re.compile(r"^(\d{5})-?\d{4}$")
_URL_PREFIX = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?:www\d?\.)?")


def fold(text: str) -> str:
    """Lower case ASCII with German umlauts transliterated: 'Müller' and 'MUELLER' fold alike."""
    if text.isascii():
        return text.lower()
    return unaccent(text.translate(_TRANSLIT)).lower()


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


# A place or branch people add after the name: "ACME Inc. (Boston)", "OmniPlast Media Ltd - Newcastle".
_TRAILING_PARENTHESES = re.compile(r"\s*\([^()]*\)\s*$")
_TRAILING_DASH = re.compile(r"\s[-–]\s[^-–]+$")


def without_qualifier(name: str) -> str:
    """The name without a trailing qualifier in parentheses, or after a dash that follows the legal form
    ("ACME Inc. (Boston)", "ACME Ltd - Newcastle" -> "ACME Inc.", "ACME Ltd"): the place a CRM user
    added, not part of the company's name ("Rhein - Main Logistik GmbH" keeps its dash)."""
    stripped = _TRAILING_PARENTHESES.sub("", name)
    dash = _TRAILING_DASH.search(stripped)
    if dash and _canonical_legal_form(stripped[: dash.start()]):
        stripped = stripped[: dash.start()]
    return stripped if stripped.strip() else name


def name_core(values: Sequence[Any]) -> str | None:
    """The company name without a trailing qualifier, legal form, connector words and abbreviation
    variants."""
    text = _first(values)
    if text is None:
        return None
    text = without_qualifier(text)
    tokens = _tokens(text.replace("&", " & ").replace("+", " + "))
    changed = True
    while changed:  # "GmbH & Co. KG", "GmbH u. Co. KG": strip from the end until nothing changes
        changed = False
        if len(tokens) > 1 and tokens[-1] in _PHRASE_ENDS:
            phrase = _LEGAL_PHRASES.search(" ".join(tokens))
            if phrase and phrase.start() > 0:
                tokens = " ".join(tokens)[: phrase.start()].split()
                changed = True
        while len(tokens) > 1 and (
            tokens[-1] in _LEGAL_TOKENS or tokens[-1] in _CONNECTORS or _garbled_legal_token(tokens[-1])
        ):
            tokens.pop()
            changed = True
        if len(tokens) > 3 and len(tokens[-1]) >= 5 and _garbled_legal_phrase(tokens):
            tokens = tokens[: -_garbled_legal_phrase(tokens)]
            changed = True
    words = [_NAME_WORDS.get(t, t) for t in tokens if t not in _CONNECTORS or len(tokens) == 1]
    return " ".join(words) or None


_DOUBLED = re.compile(r"(.)\1+")
_GARBLE_TARGETS = frozenset({t for t in _LEGAL_TOKENS if len(t) >= 3} | {"gesellschaft"})
_LEGAL_PHRASE_WORDS = (
    "gesellschaft mit beschraenkter haftung",
    "gesellschaft mit beschrankter haftung",
    "public limited company",
)


def _garbled_legal_token(token: str) -> bool:
    """A legal form with a typo, as people type it at the end of a name: a doubled letter ('GmbHH',
    'Innc.'), two letters swapped ('Gmhb', 'LCL'), or one letter dropped or added in a long form
    ('GbH', 'Kommannditgesellschaft'). Not a substituted letter: 'Core' is a word, not 'Corp'."""
    if len(token) < 3 or not token.isalpha():
        return False
    squeezed = _DOUBLED.sub(r"\1", token)
    if squeezed != token and squeezed in _LEGAL_TOKENS:
        return True
    if token in _GARBLED_LEGAL:  # a swap, or a letter dropped from a long form
        return True
    # A letter added: dropping one of the token's letters gives a legal form.
    return len(token) >= 4 and any(token[:i] + token[i + 1 :] in _GARBLE_TARGETS for i in range(len(token)))


def _garbled_forms() -> frozenset[str]:
    """Every legal form of three letters or more with two neighbouring letters swapped, or (four letters
    or more) one letter dropped."""
    out: set[str] = set()
    for legal in _GARBLE_TARGETS:
        for i in range(len(legal) - 1):
            swapped = legal[:i] + legal[i + 1] + legal[i] + legal[i + 2 :]
            if swapped != legal:
                out.add(swapped)
        if len(legal) >= 4:
            out.update(legal[:i] + legal[i + 1 :] for i in range(len(legal)))
    return frozenset(out - _LEGAL_TOKENS)


_GARBLED_LEGAL = _garbled_forms()


def _garbled_legal_phrase(tokens: list[str]) -> int:
    """How many final tokens spell a long legal form with a typo ('Gesallschaft mit beschränkter
    Haftung'); 0 when they do not."""
    if (
        distance.Levenshtein.distance(tokens[-1], "haftung") > 2
        and distance.Levenshtein.distance(tokens[-1], "company") > 2
    ):
        return 0
    for phrase in _LEGAL_PHRASE_WORDS:
        size = phrase.count(" ") + 1
        if (
            len(tokens) > size
            and distance.Levenshtein.normalized_similarity(" ".join(tokens[-size:]), phrase) >= 0.9
        ):
            return size
    return 0


def abbreviates(short: str, long: str) -> bool:
    """Whether ``short`` is an abbreviation of ``long``: the same first letter, its letters in order in
    the longer word, and shorter ('intl' / 'international', 'solns' / 'solutions', 'comm' / 'commerciale')."""
    if len(short) < 2 or len(short) >= len(long) or short[0] != long[0]:
        return False
    position = 0
    for ch in short:
        position = long.find(ch, position) + 1
        if position == 0:
            return False
    return True


def name_compact(values: Sequence[Any]) -> str | None:
    """``name_core`` without its spaces: 'Crystal Robotics' and 'CrystalRobotics' compare equal."""
    core = name_core(values)
    return core.replace(" ", "") if core else None


def legal_form(values: Sequence[Any]) -> str | None:
    """The legal form ending the first name given ("Müller GmbH" -> GMBH), as the canonical transform
    reads it. Matching reads it from names only: a system's own legal-form codes (SAP's LegalForm) are
    its installation's configuration, not something to compare across systems."""
    name = _first(values)
    return _canonical_legal_form(without_qualifier(name)) if name else None


def name_first_token(values: Sequence[Any]) -> str | None:
    """First word of ``name_core``: a blocking key that survives legal-form and suffix differences."""
    core = name_core(values)
    return core.split(" ", 1)[0] if core else None


def name_last_token(values: Sequence[Any]) -> str | None:
    """Last word of ``name_core``: with the postal code, a blocking key that survives a typo in the first."""
    core = name_core(values)
    return core.rsplit(" ", 1)[-1] if core else None


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
    return _NOT_DIGIT.sub("", value) or None


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
    code = without_postal_country_prefix(value.upper().strip())
    code = code.replace(" ", "")
    zip_plus4 = _US_ZIP.match(code)
    return (zip_plus4.group(1) if zip_plus4 else code) or None


def street_address(values: Sequence[Any]) -> str | None:
    """Street and house number as one comparable line; street words contracted ('Straße' -> 'str')."""
    parts = [str(v).strip() for v in values if v is not None and str(v).strip()]
    if not parts:
        return None
    return _street_line(parts)


def street_name(values: Sequence[Any]) -> str | None:
    """The street of [street, house_number] without the number, contracted as in ``street_address``:
    two records on one street with other house numbers agree here and differ in ``street_address``."""
    first = values[0] if values else None
    if first is None or not str(first).strip():
        return None
    line = _street_line([str(first).strip()])
    if line is None:
        return None
    return " ".join(t for t in line.split() if not t[:1].isdigit()) or None


def _street_line(parts: list[str]) -> str | None:
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
    code = "".join(ch for ch in without_vat_noise(value).upper() if ch.isalnum())
    core = code.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return core if len(core) >= 6 else None


_TAX_PREFIX = re.compile(r"^([A-Z]+)")
_COUNTRY_OF_TAX_PREFIX = {"EL": "GR", "CHE": "CH", "ATU": "AT"}


def tax_id(values: Sequence[Any]) -> str | None:
    """A tax number as the tax_id constraint compares it, from [tax number, the record's country]:
    'issuing-country number as-checksummed' ('DE 123456789 DE123456789'; 'CH 116281710 CHE116281710').
    The issuing country is the number's prefix, else the record's country (a US EIN has none)."""
    value = values[0] if values else None
    if value is None:
        return None
    code = "".join(ch for ch in str(value).upper() if ch.isalnum())
    if code.startswith("CHE") and code.endswith(("MWST", "TVA", "IVA")):
        code = code[:-4] if code.endswith("MWST") else code[:-3]
    if len(code) < 6:
        return None
    country = values[1] if len(values) > 1 else None
    home = str(country).upper() if country else ""
    letters = _TAX_PREFIX.match(code)
    prefix = letters.group(1) if letters else ""
    if len(prefix) >= 2:
        issuing = _COUNTRY_OF_TAX_PREFIX.get(prefix[:3], _COUNTRY_OF_TAX_PREFIX.get(prefix[:2], prefix[:2]))
        return f"{issuing} {code[len(prefix) :] or code} {code}"
    full = f"{home}{code}" if home and home != "US" else code
    return f"{home} {code} {full}"


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
    "name_compact": name_compact,
    "name_first_token": name_first_token,
    "legal_form": legal_form,
    "name_last_token": name_last_token,
    "postal": postal,
    "street_address": street_address,
    "street_name": street_name,
    "domain": domain,
    "vat": vat,
    "tax_id": tax_id,
    "code": code,
}


def feature_value(feature: Feature, values: Mapping[str, Any]) -> str | None:
    """A record's value of a feature: the feature's transform of its fields, cut to its prefix."""
    value = TRANSFORMS[feature.transform]([values.get(f) for f in feature.fields])
    if value is not None and feature.prefix:
        value = value[: feature.prefix]
    return value
