"""Companies: legal forms in names, VAT ids and the country they belong to."""

from __future__ import annotations

import re
from typing import Any

from mdm.normalise import unaccent, without_vat_noise
from mdm.transform.core import Context, TransformError, as_text, transform

# VAT id prefixes that differ from the ISO country code.
_VAT_PREFIX = {"GR": "EL", "CH": "CHE", "AT": "ATU", "GB": "GB"}


_VAT_COUNTRY = {"EL": "GR", "XI": "GB", "CH": "CH"}


_VAT_PREFIXES = frozenset(
    "AT BE BG CY CZ DE DK EE EL ES FI FR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK GB XI CH NO".split()
)


@transform()
def vat_country(value: Any) -> str | None:
    """The country a VAT id belongs to, from its prefix ("DE 123..." -> DE, "EL..." -> GR)."""
    prefix = re.sub(r"[^A-Za-z]", "", as_text(value)[:3]).upper()[:2]
    if prefix not in _VAT_PREFIXES:
        return None
    return _VAT_COUNTRY.get(prefix, prefix)


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
    text = " ".join(as_text(value).split())
    match = _legal_form_match(text)
    if not match or match.start() == 0 and len(text) == len(match.group(0)):
        return None  # a name that is nothing but a legal form has none
    group = match.lastgroup or ""
    return group.rsplit("_", 1)[0]


@transform()
def strip_legal_form(value: Any) -> str:
    """The name without its legal form ("Müller Maschinenbau GmbH" -> "Müller Maschinenbau"), for matching."""
    text = " ".join(as_text(value).split())
    match = _legal_form_match(text)
    if not match or match.start() == 0:
        return text
    # The match ran on an unaccented copy of the same length or shorter: cut by the tail's length.
    tail = len(unaccent(text) if not text.isascii() else text) - match.start()
    return text[: len(text) - tail].rstrip(" ,")


@transform(uses_country=True)
def vat_normalise(value: Any, *, ctx: Context) -> str:
    """Upper case without spaces, dots and dashes, with the country prefix ("CHE-123.456.789 MWST" ->
    "CHE123456789"; "123456789" in a German record -> "DE123456789"). US EINs keep their digits."""
    text = re.sub(r"[\s.\-/]", "", without_vat_noise(as_text(value))).upper()
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
